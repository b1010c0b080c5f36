"""docs/DEPLOY.md section 6, executed without a web server: the upgrade recipe
on a database the original PHP ipupdate left, then the original's client and
ours with the original's command line, against `serve`.
"""

import grp
import json
import os
import shutil
import tempfile
import unittest

from tests import support
from tests.deploy import (ORIGINAL_CLIENT, make_original_database, recipe, request,
                          run_program, run_shell)
from tests.support import rows, now


class UpgradeThroughServeTest(unittest.TestCase):
    """The upgrade recipe, then the original's client and ours with the
    original's command line, against `serve` (the web server tests above do the
    same through the old URLs)."""

    def test_old_database_and_old_client_keep_working(self):
        directory = tempfile.mkdtemp(prefix="ipupdate-deploy-")
        self.addCleanup(shutil.rmtree, directory)
        site = os.path.join(directory, "site")
        os.makedirs(os.path.join(site, "data"))
        database = os.path.join(site, "data", "ipupdate.sqlite")
        ts = now()
        make_original_database(database, {
            "log_ipv4": [("192.0.2.1", "home", ts - 7200, ts - 600)],
            "log_ipv6": [("2001:db8::1", "home", ts - 7200, ts - 600)]})
        run_shell(recipe("upgrade-config", ("/srv/ipupdate", site),
                         ("the PASSWORD from config.php", "hunter2"),
                         ("chgrp www-data", "chgrp " + grp.getgrgid(os.getgid()).gr_name)),
                  cwd=support.ROOT)
        with support.LocalServer(os.path.join(site, "ipupdate.conf")) as server:
            code, output, errors = run_program([
                support.PYTHON, ORIGINAL_CLIENT, "-w", "127.0.0.1:%d" % server.port,
                "-p", "hunter2", "-n", "home"])
            self.assertEqual((code, output, errors), (0, "Response: OK: New IP updated\n", ""))
            # Our client, with the original's command line, next to it.
            code, output, errors = run_program([
                support.PYTHON, support.CLIENT, "-w", "127.0.0.1:%d" % server.port,
                "-u", "ipupdate.php", "-p", "hunter2", "-n", "office"])
            self.assertEqual((code, output), (0, "office: 127.0.0.1 -> OK: New IP updated\n"),
                             errors)
            status, _, text = request(server.port, "GET", "/getip.php?name=home&format=ip&family=4")
            self.assertEqual((status, text), (200, "127.0.0.1\n"))
            status, _, text = request(server.port, "GET", "/?name=home&format=json")
            self.assertEqual(json.loads(text)["timezone"], "Europe/Lisbon")
        self.assertEqual([row[:2] for row in rows(database)], [
            ("192.0.2.1", "home"), ("127.0.0.1", "home"), ("127.0.0.1", "office")])
        self.assertEqual(rows(database)[0], ("192.0.2.1", "home", ts - 7200, ts - 600))
        self.assertEqual(rows(database, "log_ipv6"), [("2001:db8::1", "home", ts - 7200, ts - 600)])
        self.assertTrue(os.path.exists(database + ".before-upgrade"))


if __name__ == "__main__":
    unittest.main()
