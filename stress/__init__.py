"""The reliability and attack battery of ipupdate (docs/SECURITY.md).

Engines that load, crash, starve and attack real ipupdate_server.py processes
(CGI executions and `serve`) on 127.0.0.0/8 only, and check what must hold
afterwards. Each returns a Result: figures for a table, and the violations
found (which must be none).

  tests/battery.py  harness, concurrency, crash safety, faults, slow clients, floods
  tests/fuzz.py     the seeded hostile-input fuzzer
  __main__.py       `python3 -m stress` (`make stress`): the long runs and the table

The engines live in tests/, beside the harness they use (tests/support.py):
tests/test_reliability.py and tests/test_fuzz.py run them with small counts as
part of `make test`, and this package only runs them long. The dependency goes
one way: stress/ imports tests/, never the reverse.
"""
