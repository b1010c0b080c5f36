"""`make demo`, the README's first command, works on a bare machine."""

import re
import subprocess
import unittest

from tests import support


class DemoTest(unittest.TestCase):

    def test_demo_shows_a_new_address_then_a_raised_timestamp_and_the_history(self):
        done = subprocess.run(["sh", "tools/demo.sh"], cwd=support.ROOT,
                              env=support.clean_env(PYTHON=support.PYTHON),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        out = done.stdout.decode()
        self.assertEqual((done.returncode, done.stderr.decode()), (0, ""))
        self.assertEqual(re.findall(r"^demo: 127\.0\.0\.1 -> (.*)$", out, re.M),
                         ["OK: New IP updated", "OK: Timestamp updated"])
        # The history it stored, under headed columns: one period, seen twice.
        self.assertRegex(out, r"(?m)^id  name  address    first seen \(UTC\)     last seen "
                              r"\(UTC\)\n1   demo  127\.0\.0\.1  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  "
                              r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\n\n")
        self.assertRegex(out, r"(?m)^demo ipv4 127\.0\.0\.1 \S+ \S+ [12]s$")
        self.assertRegex(out, r"(?m)^\$ curl 'http://127\.0\.0\.1:\d+/\?name=demo&format=ip'"
                              r"\n127\.0\.0\.1\n")


class VersionTest(unittest.TestCase):

    def test_every_script_says_its_version(self):
        for script in (support.SERVER, support.CLIENT, support.VIEWER):
            done = subprocess.run([support.PYTHON, script, "--version"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=support.clean_env(), timeout=30)
            self.assertEqual((done.returncode, done.stdout.decode(), done.stderr), (
                0, "%s 1.1\n" % script.rsplit("/", 1)[1], b""))


if __name__ == "__main__":
    unittest.main()
