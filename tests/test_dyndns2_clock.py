"""dyndns2 requests carry no time of their own: they are dated by the server's
clock, never later, and cannot raise a name's replay floor past it, so no
number of them can lock out the name's own signed client. A real `serve`."""

import os
import shutil
import sqlite3
import tempfile
import time
import unittest

from tests import support
from tests.support import KEY, now, update_body
from tests.dyndns2 import ROUTER_PW, basic, config_body


class Dyndns2CannotLockOutTheSignedClientTest(unittest.TestCase):

    def setUp(self):
        directory = tempfile.mkdtemp(prefix="ipupdate-test-")
        self.addCleanup(shutil.rmtree, directory)
        self.database = os.path.join(directory, "ipupdate.sqlite")
        config = support.write_config(directory, config_body(
            {"dyndns2_allow_plain_http": "yes"}))
        self.server = support.LocalServer(config)
        self.addCleanup(self.server.stop)

    def request(self, method, path, body=b"", headers=None, content_type=None):
        return support.http_request(self.server.host, self.server.port, method, path,
                                    body=body, headers=headers, content_type=content_type)

    def newest_timestamp(self):
        connection = sqlite3.connect(self.database)
        try:
            return connection.execute("SELECT MAX(timestamp) FROM log_ipv4").fetchone()[0]
        finally:
            connection.close()

    def test_many_nochg_answers_leave_no_time_in_the_future(self):
        answers = set()
        for _ in range(40):
            status, _, text = self.request("GET", "/nic/update?hostname=home.example.org",
                                           headers={"Authorization": basic(ROUTER_PW)})
            answers.add((status, text.split()[0]))
        self.assertEqual(answers, {(200, "good"), (200, "nochg")})
        self.assertLessEqual(self.newest_timestamp(), time.time())
        # The name's own signed client, a second later, is not a replay.
        status, _, text = self.request(
            "POST", "/", update_body("127.0.0.1", "home.example.org", now() + 1, KEY),
            content_type="application/x-www-form-urlencoded")
        self.assertEqual((status, text), (200, "OK: Timestamp updated"))


if __name__ == "__main__":
    unittest.main()
