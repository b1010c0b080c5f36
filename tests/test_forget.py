"""`ipupdate_server.py forget NAME`: a test or mistyped name leaves the
viewer and `check`, only when confirmed, in any letter case; its refused
attempts go with it, other names stay as they are."""

import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import unittest

from tests import support


class ForgetTest(unittest.TestCase):

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="ipupdate-forget-")
        self.addCleanup(shutil.rmtree, self.directory)
        self.config = support.write_config(self.directory)
        self.database = os.path.join(self.directory, "ipupdate.sqlite")
        ts = support.now() - 10
        for name, key, address in (("home", support.HOME_KEY, "127.0.0.1"),
                                   ("tset", support.KEY, "127.0.0.1"),
                                   ("tset", support.KEY, "::1")):
            status, _, text, errors, _ = support.run_cgi(
                support.SERVER, self.config, support.update_body(address, name, ts, key),
                remote_addr=address)
            self.assertEqual((status, errors), (200, ""), text)
        forged = support.update_body("127.0.0.1", "tset", ts, None, mac="ab" * 32)
        self.assertEqual(support.run_cgi(support.SERVER, self.config, forged)[0], 403)

    def command(self, *argv):
        done = subprocess.run([support.PYTHON, support.SERVER] + list(argv) + [
            "--config", self.config], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=support.clean_env(), timeout=30)
        return done.returncode, done.stdout.decode(), done.stderr.decode()

    def refused_names(self):
        connection = sqlite3.connect(self.database)
        try:
            return [row[0] for row in connection.execute("SELECT name FROM refused")]
        finally:
            connection.close()

    def test_only_with_yes(self):
        self.assertEqual(self.command("forget", "tset"), (
            1, "tset: 2 periods (ipv4 1, ipv6 1) would be removed; nothing was: add --yes "
               "to remove them\n", ""))
        self.assertEqual(len(support.rows(self.database)), 2)
        self.assertEqual(self.command("forget", "TSET", "--yes"), (
            0, "TSET: 2 periods (ipv4 1, ipv6 1) removed; a key still signs it: its next "
               "update starts a new history\n", ""))
        self.assertEqual([row[1] for row in support.rows(self.database)], ["home"])
        self.assertEqual(support.rows(self.database, "log_ipv6"), [])
        self.assertEqual(self.refused_names(), [])
        code, out, _ = self.command("check", "--json")
        self.assertEqual((code, [entry["name"] for entry in json.loads(out)["names"]]),
                         (0, ["home"]))
        status, _, text, _, _ = support.run_cgi(support.VIEWER, self.config, method="GET",
                                                content_type=None, query="format=text")
        self.assertEqual(status, 200)
        self.assertEqual([line.split()[0] for line in text.splitlines()], ["home"])

    def test_nothing_to_forget_and_bad_names(self):
        self.assertEqual(self.command("forget", "nobody", "--yes"),
                         (0, "nobody: nothing stored, nothing to forget\n", ""))
        code, out, err = self.command("forget", "bad name")
        self.assertEqual((code, out), (2, ""))
        self.assertTrue(err.startswith("ipupdate_server.py: forget: field 'name' must be"), err)
        self.assertEqual(len(support.rows(self.database)), 2)


if __name__ == "__main__":
    unittest.main()
