"""The viewer's view_key is a real key: as long as the keys, none of them, and a
wrong one is a refusal like any other (logged, counted, rate-limited).

Through the viewer as CGI (support.run_cgi), the server as CGI, and `serve`.
"""

import base64
import os
import shutil
import sqlite3
import subprocess
import tempfile
import unittest

from tests import support
from tests.support import KEY, HOME_KEY

VIEW_KEY = "view-key-9e4a1c7b3f0d2865"
GUESS = "guess-at-the-view-key-0c5d"
ROUTER_PW = "router-pw-4d0b8e2c7a19f365"
NEEDED = ("Error: this viewer needs the view key: pass it as ?key=KEY or as the password "
          "of HTTP basic auth")
LIMITED = "Error: too many refused requests from this address: try again in %d s"


def basic(password):
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(
        (":" + password).encode()).decode()}


class Harness(unittest.TestCase):

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="ipupdate-viewkey-")
        self.addCleanup(shutil.rmtree, self.directory)
        self.config = os.path.join(self.directory, "ipupdate.conf")
        self.database = os.path.join(self.directory, "ipupdate.sqlite")

    def configure(self, view_key, *extra):
        """secret (line 2), [names] home (line 6), [dyndns2] (line 9), then
        view_key and `extra` in [ipupdate] (view_key on line 4)."""
        lines = ["[ipupdate]", "secret = " + KEY, "database = ipupdate.sqlite",
                 "view_key = " + view_key] + list(extra) + [
                 "", "[names]", "home = " + HOME_KEY, "", "[dyndns2]",
                 "home.example.org = " + ROUTER_PW, ""]
        support.write_config(self.directory, body="\n".join(lines))

    def view(self, query="", remote_addr="192.0.2.10", **env):
        """(status, headers, body, stderr) of a CGI GET of the viewer."""
        status, headers, body, errors, code = support.run_cgi(
            support.VIEWER, self.config, method="GET", content_type=None, query=query,
            remote_addr=remote_addr, extra_env=env)
        self.assertEqual(code, 0, errors)
        for secret in (KEY, HOME_KEY, ROUTER_PW, VIEW_KEY, GUESS):
            self.assertNotIn(secret, errors)
        self.assertNotIn("Traceback", errors)
        return status, headers, body, errors

    def refused(self):
        if not os.path.exists(self.database):
            return []
        connection = sqlite3.connect(self.database)
        try:
            return connection.execute("SELECT source, peer, name, status, reason "
                                      "FROM refused ORDER BY id").fetchall()
        except sqlite3.OperationalError:  # no table yet
            return []
        finally:
            connection.close()


class ViewKeyIsARealKeyTest(Harness):
    """A view_key too short, or one that is also a key or a password, is a
    config error: 500 under CGI (viewer and server), `serve` does not start."""

    def assertRefusedConfig(self, problem, *hidden):
        message = "config file %s: line 4 in [ipupdate]: %s" % (self.config, problem)
        status, _, body, errors = self.view("key=" + VIEW_KEY)
        self.assertEqual((status, body), (500, "Error: server not configured"))
        self.assertEqual(errors, "ipupdate: configuration error: %s\n" % message)
        status, _, body, errors, _ = support.run_cgi(
            support.SERVER, self.config, "type=ip&ts=%d" % support.now())
        self.assertEqual((status, body), (500, "Error: server not configured"))
        self.assertEqual(errors, "ipupdate: configuration error: %s\n" % message)
        done = subprocess.run([support.PYTHON, support.SERVER, "serve", "--config",
                               self.config, "--port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=support.clean_env(), timeout=30)
        self.assertEqual((done.returncode, done.stdout, done.stderr.decode()),
                         (2, b"", "ipupdate_server.py: %s\n" % message))
        for secret in hidden:
            self.assertNotIn(secret, errors + done.stderr.decode())

    def test_a_short_view_key_is_refused(self):
        short = ("view_key shorter than 16 characters (make one with 'ipupdate_server.py "
                 "genkey'; allow_short_secrets does not apply to it)")
        self.configure("42")
        self.assertRefusedConfig(short, "= 42")
        self.configure("view-key-15char")
        self.assertRefusedConfig(short, "view-key-15char")

    def test_allow_short_secrets_does_not_apply_to_the_view_key(self):
        self.configure("view-key-15char", "allow_short_secrets = yes")
        self.assertRefusedConfig("view_key shorter than 16 characters (make one with "
                                 "'ipupdate_server.py genkey'; allow_short_secrets does not "
                                 "apply to it)", "view-key-15char")

    def test_sixteen_characters_are_enough(self):
        self.configure("view-key-16chars")
        status, _, body, errors = self.view("key=view-key-16chars&format=ip&name=x")
        self.assertEqual((status, errors), (404, ""))

    def test_a_view_key_that_is_a_key_or_a_password_is_refused(self):
        for key, where in ((KEY, "line 2 in [ipupdate]"), (HOME_KEY, "line 7 in [names]"),
                           (ROUTER_PW, "line 10 in [dyndns2]")):
            with self.subTest(where=where):
                self.configure(key)
                self.assertRefusedConfig(
                    "view_key is also used on %s: give the viewer a key of its own (it "
                    "ends up in URLs and access logs, and must never change a record)"
                    % where, key)


class WrongViewKeysAreRefusalsTest(Harness):
    """A wrong view key: 401, a line in the error log and a row in `refused`
    (the peer, never the key offered); past max_refusals_per_minute from one
    source, 429 with Retry-After, and neither a line nor a row."""

    def setUp(self):
        Harness.setUp(self)
        self.configure(VIEW_KEY, "max_refusals_per_minute = 3")

    def assertWrongKey(self, query="", remote_addr="192.0.2.10", **env):
        status, headers, body, errors = self.view(query, remote_addr, **env)
        self.assertEqual((status, body, errors), (
            401, "Error: wrong view key",
            "ipupdate: refused view from %s: wrong view key\n" % remote_addr))
        self.assertEqual(headers["www-authenticate"], 'Basic realm="ipupdate"')

    def assertLimited(self, query="key=" + GUESS, remote_addr="192.0.2.10"):
        status, headers, body, errors = self.view(query, remote_addr)
        retry_after = int(headers["retry-after"])
        self.assertTrue(1 <= retry_after <= 60, retry_after)
        self.assertEqual((status, body, errors), (429, LIMITED % retry_after, ""))

    def test_a_wrong_key_is_logged_with_the_peer_never_the_key(self):
        self.assertWrongKey("key=" + GUESS)
        self.assertWrongKey(**basic(GUESS))
        row = ("192.0.2.10", "192.0.2.10", None, 401, "viewer: wrong view key")
        self.assertEqual(self.refused(), [row, row])
        with open(self.database, "rb") as database:
            self.assertNotIn(GUESS.encode(), database.read())

    def test_an_ipv6_peer_counts_against_its_64(self):
        self.assertWrongKey("key=" + GUESS, remote_addr="2001:db8:1::7")
        self.assertEqual(self.refused(), [("2001:db8:1::/64", "2001:db8:1::7", None, 401,
                                           "viewer: wrong view key")])

    def test_a_request_without_a_key_is_neither_logged_nor_counted(self):
        for _ in range(4):
            status, _, body, errors = self.view()
            self.assertEqual((status, body, errors), (401, NEEDED, ""))
        self.assertEqual(self.refused(), [])
        self.assertWrongKey("key=" + GUESS)  # 4 requests without a key: not limited

    def test_the_right_key_is_neither_logged_nor_counted(self):
        for _ in range(4):
            status, _, _, errors = self.view("key=" + VIEW_KEY)
            self.assertEqual((status, errors), (200, ""))
        self.assertEqual(self.refused(), [])

    def test_past_the_limit_a_source_gets_429_and_nothing_is_logged(self):
        for _ in range(3):
            self.assertWrongKey("key=" + GUESS)
        self.assertLimited()
        status, headers, body, errors = self.view("", **basic(GUESS))
        self.assertEqual((status, errors), (429, ""))
        self.assertEqual(len(self.refused()), 3)
        # Another source is not limited, and the right key never is.
        self.assertWrongKey("key=" + GUESS, remote_addr="192.0.2.11")
        status, _, _, errors = self.view("key=" + VIEW_KEY)
        self.assertEqual((status, errors), (200, ""))

    def test_refused_updates_and_wrong_view_keys_count_together(self):
        for _ in range(2):
            status, _, _, _, _ = support.run_cgi(
                support.SERVER, self.config, support.update_body(
                    "192.0.2.10", "home", support.now(), KEY, mac="0" * 64),
                remote_addr="192.0.2.10")
            self.assertEqual(status, 403)
        self.assertWrongKey("key=" + GUESS)
        self.assertLimited()

    def test_the_peer_is_the_one_a_trusted_proxy_names(self):
        self.configure(VIEW_KEY, "trusted_proxies = 127.0.0.1")
        status, _, _, errors = self.view("key=" + GUESS, remote_addr="127.0.0.1",
                                         HTTP_X_FORWARDED_FOR="198.51.100.7")
        self.assertEqual((status, errors),
                         (401, "ipupdate: refused view from 198.51.100.7: wrong view key\n"))
        self.assertEqual(self.refused(), [("198.51.100.7", "198.51.100.7", None, 401,
                                           "viewer: wrong view key")])

    def test_with_the_log_off_nothing_is_recorded_or_limited(self):
        self.configure(VIEW_KEY, "refused_log_rows = 0", "max_refusals_per_minute = 1")
        for _ in range(3):
            self.assertWrongKey("key=" + GUESS)
        self.assertEqual(self.refused(), [])


class WrongViewKeysUnderServeTest(Harness):

    def test_logged_counted_and_limited_like_every_refusal(self):
        self.configure(VIEW_KEY, "max_refusals_per_minute = 2")
        server = support.LocalServer(self.config)
        self.addCleanup(server.stop)

        def get(key):
            headers = {"Authorization": "Basic " + base64.b64encode(
                (":" + key).encode()).decode()}
            return support.http_request(server.host, server.port, method="GET",
                                        path="/?format=ip&name=x", headers=headers,
                                        content_type=None)

        self.assertEqual([get(GUESS)[::2] for _ in range(2)],
                         [(401, "Error: wrong view key")] * 2)
        status, headers, body = get(GUESS)
        retry_after = int(headers["retry-after"])
        self.assertEqual((status, body), (429, LIMITED % retry_after))
        self.assertEqual(get(VIEW_KEY)[0], 404)  # the right key is never limited
        server.stop()
        self.assertEqual(server.stderr(), "ipupdate: refused view from 127.0.0.1: wrong view "
                                          "key\n" * 2)
        self.assertEqual(self.refused(), [("127.0.0.1", "127.0.0.1", None, 401,
                                           "viewer: wrong view key")] * 2)


if __name__ == "__main__":
    unittest.main()
