"""The reliability and attack battery of ipupdate (docs/SECURITY.md).

Engines that load, crash, starve and attack real ipupdate_server.py processes
(CGI executions and `serve`) on 127.0.0.0/8 only, and check what must hold
afterwards. Each returns a Result: figures for a table, and the violations
found (which must be none).

  battery.py  harness, concurrency, crash safety, faults, slow clients, floods
  fuzz.py     the seeded hostile-input fuzzer
  __main__.py `python3 -m stress` (`make stress`): the long runs and the table

tests/test_reliability.py and tests/test_fuzz.py run the same engines with
small counts as part of `make test`.
"""
