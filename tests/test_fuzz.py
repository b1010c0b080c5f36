"""Hostile input: thousands of seeded, generated requests against `serve` and
a few hundred against CGI, judged by an oracle written apart from the server
(tests/fuzz.py): no 5xx, no traceback, no accepted forgery, no change to
the history but by authentic updates, no key or MAC in any log.

The seed changes from run to run (more ground covered over time) and is in
every failure message; IPUPDATE_FUZZ_SEED=N repeats a run exactly, and
`python3 -m stress fuzz --seed N` runs it longer.
"""

import os
import time
import unittest

from tests import battery, fuzz

SEED = int(os.environ.get("IPUPDATE_FUZZ_SEED") or int(time.time()) % 100000)
SERVE_CASES = 1500
CGI_CASES = 120


class FuzzTest(unittest.TestCase):

    def fuzz(self, transport, cases):
        result = battery.Result("fuzz through %s" % transport, seed=SEED)
        # Its database in memory where there is /dev/shm: this tests input
        # handling, not the disk (the reliability tests use the disk).
        with battery.Workspace(result, fast_disk=True,
                               trusted_proxies="10.0.0.0/8") as workspace:
            serve = battery.Serve(workspace) if transport == "serve" else None
            try:
                fuzz.run_fuzz(result, workspace, transport, cases, SEED, serve=serve)
            finally:
                if serve:
                    battery.check_log(result, serve.stop(), "the serve error log")
        self.assertEqual(result.violations, [], result.report())
        figures = result.figures
        self.assertEqual(figures["cases"], cases, result.report())
        self.assertEqual(figures.get("accepted forgeries", 0), 0)
        # It reached both sides of the gate: authentic updates got in, others not.
        self.assertGreater(figures["accepted updates"], 0)
        self.assertGreater(figures.get("%s answered 400" % transport, 0), 0)
        self.assertGreater(figures.get("%s answered 403" % transport, 0), 0)
        return result

    def test_hostile_requests_to_serve_get_no_5xx_and_change_nothing(self):
        self.fuzz("serve", SERVE_CASES)

    def test_hostile_requests_to_cgi_get_no_5xx_and_change_nothing(self):
        self.fuzz("cgi", CGI_CASES)


if __name__ == "__main__":
    unittest.main()
