# ipupdate: every target uses the standard library only.
PYTHON ?= python3

.PHONY: test test-matrix run demo stress bench

## make demo: a local server, the real client twice, the stored history
demo:
	PYTHON=$(PYTHON) sh tools/demo.sh

## make test: the whole suite, once, with $(PYTHON)
test:
	$(PYTHON) -m unittest discover -s tests -t . -v

## make test-matrix: the whole suite under every Python 3.6+ found here
test-matrix:
	$(PYTHON) tools/matrix.py

## make run: a local server on a throwaway config (prints its key)
run:
	@dir=$$(mktemp -d) && key=$$($(PYTHON) ipupdate_server.py genkey) && \
	(umask 077 && printf '[ipupdate]\nsecret = %s\ndatabase = ipupdate.sqlite\n' "$$key" > $$dir/ipupdate.conf) && \
	echo "config: $$dir/ipupdate.conf  key: $$key" && \
	$(PYTHON) ipupdate_server.py serve --config $$dir/ipupdate.conf --port 8080

## make stress: the reliability and attack battery, long (~5 min; loopback only; a table)
stress:
	$(PYTHON) -m stress

## make bench: costs as ratios to floors measured in the same run (~2 min; BENCH_QUICK=1:
## ~20 s; loopback only; prints a table, never fails on timing). BENCH_PYTHON: the
## interpreter measured (default /usr/bin/python3, a CGI host's usual one)
bench:
	$(PYTHON) bench/run.py $(if $(BENCH_QUICK),--quick) $(if $(BENCH_PYTHON),--python $(BENCH_PYTHON))
