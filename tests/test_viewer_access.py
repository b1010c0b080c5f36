"""Who may see what, and what is refused: the view key, bad requests, the
refused-update counts, and the viewer behind a real `ipupdate_server.py serve`
fed by real signed updates.
"""

import base64
import json
import os
import re
import shutil
import sys
import sqlite3
import tempfile
import unittest

from tests import support
from tests.support import (FOREVER, T0, T_SUMMER, TEXT, ViewerTestCase,  # noqa: F401
                           fill_database, tokyo, utc)

VIEW_KEY = "view-key-3b9d2f61c0a84e57"

sys.path.insert(0, support.ROOT)
import ipupdate_server  # noqa: E402  (for REFUSED_SCHEMA)


class ViewKeyTest(ViewerTestCase):
    settings = {"view_key": VIEW_KEY, "stale_after": FOREVER}
    rows = [(4, "home", "203.0.113.7", T0, T0)]
    LINE = "home ipv4 203.0.113.7 2023-11-14T22:13:20+00:00\n"
    NEEDED = ("Error: this viewer needs the view key: pass it as ?key=KEY or as the password "
              "of HTTP basic auth")

    def basic(self, password, user="anyone"):
        token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        return {"HTTP_AUTHORIZATION": "Basic " + token}

    def assertRefused(self, query, body, **options):
        headers = self.assertAnswer(query, 401, body, **options)
        self.assertEqual(headers["www-authenticate"], 'Basic realm="ipupdate"')

    def test_without_the_key_it_is_refused_with_a_basic_auth_challenge(self):
        self.assertRefused("", self.NEEDED)
        self.assertRefused("format=json", self.NEEDED)

    def test_the_key_as_a_query_parameter_is_accepted(self):
        self.assertAnswer("key=" + VIEW_KEY, 200, self.LINE)

    def test_a_wrong_key_is_refused(self):
        self.assertRefused("key=" + VIEW_KEY[:-1], "Error: wrong view key")
        self.assertRefused("key=", "Error: wrong view key")

    def test_the_key_as_basic_auth_password_is_accepted_whatever_the_user(self):
        self.assertAnswer("", 200, self.LINE, extra_env=self.basic(VIEW_KEY))
        self.assertAnswer("", 200, self.LINE, extra_env=self.basic(VIEW_KEY, user=""))

    def test_a_wrong_basic_auth_password_is_refused(self):
        self.assertRefused("", "Error: wrong view key", extra_env=self.basic("guess"))
        self.assertRefused("", self.NEEDED, extra_env={"HTTP_AUTHORIZATION": "Basic !!!"})
        self.assertRefused("", self.NEEDED,
                           extra_env={"HTTP_AUTHORIZATION": "Bearer " + VIEW_KEY})

    def test_without_a_view_key_configured_the_viewer_is_public(self):
        config = support.write_config(self.directory, stale_after=FOREVER)
        status, _, body, _ = self.view("", config=config)
        self.assertEqual((status, body), (200, self.LINE))
        status, _, body, _ = self.view("key=anything", config=config)
        self.assertEqual((status, body), (200, self.LINE))


class RefusedAttemptsTest(ViewerTestCase):
    """Refused update attempts, from the server's log: a count per name shown, over
    the last 24 hours, in json (always) and html (when there are any); text and ip
    leave them out. The refusals come from real refused POSTs to the server."""

    @classmethod
    def setUpClass(cls):
        cls.fixture_directory = tempfile.mkdtemp(prefix="viewer-refused-")
        cls.fixture_config = support.write_config(cls.fixture_directory, stale_after=FOREVER)
        replies = [cls.post(name, key) for name, key in [
            ("home", support.HOME_KEY), ("office", support.KEY),    # accepted
            ("home", "forger-key-00000000000"), ("home", support.KEY),
            ("home", support.HOME_KEY[::-1]),                       # refused, 3 for home
            ("intruder", "forger-key-00000000000")]]                # a name nobody updates
        cls.expected = [200, 200, 403, 403, 403, 403]
        cls.statuses = [status for status, _ in replies]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.fixture_directory)

    @classmethod
    def post(cls, name, key):
        status, _, body, _, _ = support.run_cgi(
            support.SERVER, cls.fixture_config,
            support.update_body("127.0.0.1", name, support.now(), key))
        return status, body

    def setUp(self):
        ViewerTestCase.setUp(self)
        self.assertEqual(self.statuses, self.expected)
        self.config = self.fixture_config

    def counts(self, query=""):
        status, _, body, _ = self.view("format=json" + query)
        self.assertEqual(status, 200)
        return [(entry["name"], entry["refused_24h"]) for entry in json.loads(body)["names"]]

    def test_json_counts_the_refusals_of_each_name_it_shows(self):
        connection = sqlite3.connect(os.path.join(self.fixture_directory, "ipupdate.sqlite"))
        logged = connection.execute("SELECT name, COUNT(*) FROM refused GROUP BY name "
                                    "ORDER BY name").fetchall()
        connection.close()
        self.assertEqual(logged, [("home", 3), ("intruder", 1)])
        self.assertEqual(self.counts(), [("home", 3), ("office", 0)])

    def test_a_selected_name_gets_its_own_count(self):
        self.assertEqual(self.counts("&name=home&family=4"), [("home", 3)])
        self.assertEqual(self.counts("&name=office"), [("office", 0)])

    def test_html_notes_the_count_under_the_name(self):
        _, _, body, _ = self.view("format=html")
        home = body[body.index("<h2>home</h2>"):body.index("<h2>office</h2>")]
        self.assertTrue(home.startswith(
            "<h2>home</h2>\n<p class=\"refused\">3 refused update attempts in the last 24 "
            "hours (the server's error log says why).</p>\n<details open>\n"), home)
        self.assertEqual(body.count('class="refused"'), 1)  # office has none
        self.assertNotIn("intruder", body)

    def test_text_and_ip_keep_their_fields(self):
        _, _, body, _ = self.view("")
        self.assertEqual([line.split()[:3] for line in body.splitlines()],
                         [["home", "ipv4", "127.0.0.1"], ["office", "ipv4", "127.0.0.1"]])
        self.assertEqual([len(line.split()) for line in body.splitlines()], [4, 4])
        self.assertEqual(self.view("format=ip&name=home")[2], "127.0.0.1\n")


class RefusedPeriodTest(ViewerTestCase):
    """Only the last 24 hours count, whatever the log still holds."""
    settings = {"stale_after": FOREVER}

    def setUp(self):
        ViewerTestCase.setUp(self)
        now = support.now()
        fill_database(self.database, [(4, "home", "203.0.113.7", T0, T0),
                                      (4, "pi", "203.0.113.8", T0, T0)])
        connection = sqlite3.connect(self.database)
        connection.executescript(ipupdate_server.REFUSED_SCHEMA)
        connection.executemany(
            "INSERT INTO refused (time, source, peer, name, status, reason) "
            "VALUES (?, '192.0.2.9', '192.0.2.9', ?, 403, 'test')",
            [(now - 86400 - 120, "home"), (now - 86400 + 120, "home"), (now, "home"),
             (now - 3600, "pi"), (now - 5 * 86400, "pi")])
        connection.commit()
        connection.close()

    def test_refusals_older_than_24_hours_are_not_counted(self):
        _, _, body, _ = self.view("format=json")
        self.assertEqual([(entry["name"], entry["refused_24h"])
                          for entry in json.loads(body)["names"]], [("home", 2), ("pi", 1)])

    def test_one_refusal_reads_in_the_singular(self):
        _, _, body, _ = self.view("format=html&name=pi")
        self.assertIn('<p class="refused">1 refused update attempt in the last 24 hours', body)


class BadRequestTest(ViewerTestCase):
    rows = [(4, "home", "203.0.113.7", T0, T0)]

    def test_bad_parameters_are_refused_with_one_line(self):
        history = "Error: parameter 'history' must be a whole number from 0 to 1000"
        for query, body in [
                ("colour=red", "Error: unknown parameter 'colour' (known: name, family, "
                               "history, format, key)"),
                ("family=5", "Error: parameter 'family' must be 4 or 6"),
                ("family=ipv4", "Error: parameter 'family' must be 4 or 6"),
                ("history=-1", history), ("history=1001", history), ("history=ten", history),
                ("history=", history), ("history=%C2%B2", history),
                ("format=xml", "Error: parameter 'format' must be text, json, ip or html"),
                ("name=a&name=b", "Error: field 'name' given more than once"),
                ("json", "Error: malformed form field (no '=')"),
                ("name=%zz", "Error: malformed percent escape in form data"),
                ("name=%ff", "Error: form data is not valid UTF-8")]:
            self.assertAnswer(query, 400, body)

    def test_methods_other_than_get_and_head_are_refused(self):
        for method in ("POST", "PUT", "DELETE"):
            headers = self.assertAnswer("", 405, "Error: only GET and HEAD are accepted here",
                                        method=method)
            self.assertEqual(headers["allow"], "GET, HEAD")

    def test_empty_pieces_of_a_query_are_harmless(self):
        self.assertAnswer("&name=home&&family=4&", 200,
                          "home ipv4 203.0.113.7 2023-11-14T22:13:20+00:00 STALE\n")

    def test_without_a_config_file_the_viewer_says_it_is_not_configured(self):
        status, _, body, stderr = self.view(
            "", config=os.path.join(self.directory, "missing.conf"))
        self.assertEqual((status, body), (500, "Error: server not configured"))
        self.assertIn("cannot read config file", stderr)

    def test_an_unreadable_database_is_unavailable_not_a_crash(self):
        with open(self.database, "wb") as spoiled:
            spoiled.write(b"this is not a database" * 100)
        status, _, body, stderr = self.view("")
        self.assertEqual((status, body), (503, "Error: database unavailable, try again later"))
        self.assertIn("database error", stderr)


class LocalServerTest(unittest.TestCase):
    """Behind `ipupdate_server.py serve`, fed by real signed updates."""

    @classmethod
    def setUpClass(cls):
        cls.directory = tempfile.mkdtemp(prefix="viewer-serve-")
        config = support.write_config(cls.directory, timezone="Asia/Tokyo",
                                      view_key=VIEW_KEY)
        cls.v6 = support.ipv6_loopback_works()
        cls.server = support.LocalServer(config, bind="::" if cls.v6 else "127.0.0.1")
        now = support.now()
        cls.ts = [now - 100, now - 50, now - 40]
        cls.replies = [
            cls.post("127.0.0.1", support.update_body("127.0.0.1", "home", cls.ts[0],
                                                      support.HOME_KEY)),
            cls.post("127.0.0.1", support.update_body("127.0.0.1", "home", cls.ts[1],
                                                      support.HOME_KEY))]
        if cls.v6:
            cls.replies.append(cls.post("::1", support.update_body(
                "::1", "home", cls.ts[2], support.HOME_KEY)))
        cls.refusals = [cls.post("127.0.0.1", support.update_body(
            "127.0.0.1", "home", now, support.HOME_KEY, mac="0" * 64)) for _ in range(2)]

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.directory)

    @classmethod
    def post(cls, host, body):
        return support.http_request(host, cls.server.port, body=body)[::2]

    def get(self, query="", method="GET", headers=None, key=True):
        all_headers = {"Authorization": "Basic " + base64.b64encode(
            (":" + VIEW_KEY).encode()).decode()} if key else {}
        all_headers.update(headers or {})
        status, response_headers, body = support.http_request(
            "127.0.0.1", self.server.port, method=method, path="/?" + query,
            headers=all_headers, content_type=None)
        self.assertEqual(response_headers["cache-control"], "no-store")
        return status, response_headers, body

    def test_the_updates_were_accepted(self):
        expected = [(200, "OK: New IP updated"), (200, "OK: Timestamp updated")]
        if self.v6:
            expected.append((200, "OK: New IP updated"))
        self.assertEqual(self.replies, expected)
        self.assertEqual(self.refusals, [(403, "Error: authentication failed: wrong key for "
                                               "this name, or the message was altered")] * 2)

    def test_text_shows_what_was_recorded_in_the_configured_zone(self):
        lines = "home ipv4 127.0.0.1 %s\n" % tokyo(self.ts[1])
        if self.v6:
            lines += "home ipv6 ::1 %s\n" % tokyo(self.ts[2])
        status, headers, body = self.get()
        self.assertEqual((status, headers["content-type"], body), (200, TEXT, lines))

    def test_history_of_real_updates(self):
        status, _, body = self.get("history=3&family=4")
        self.assertEqual((status, body), (200, "home ipv4 127.0.0.1 %s %s 50s\n"
                                               % (tokyo(self.ts[0]), tokyo(self.ts[1]))))

    @unittest.skipUnless(support.ipv6_loopback_works(), "no IPv6 loopback")
    def test_format_ip_for_each_family(self):
        self.assertEqual(self.get("format=ip&name=home&family=6")[::2], (200, "::1\n"))
        self.assertEqual(self.get("format=ip&name=home&family=4")[::2], (200, "127.0.0.1\n"))

    def test_json_and_html(self):
        status, headers, body = self.get("format=json")
        self.assertEqual((status, headers["content-type"]), (200, "application/json"))
        entry = json.loads(body)["names"][0]
        self.assertEqual((entry["name"], entry["stale"], entry["ipv4"], entry["refused_24h"]),
                         ("home", False, {"ip": "127.0.0.1", "first_seen": self.ts[0],
                                          "last_seen": self.ts[1], "held": 50,
                                          "source": "ipupdate"}, 2))
        status, headers, body = self.get(headers={"Accept": "text/html,*/*;q=0.8"})
        self.assertEqual((status, headers["content-type"]), (200, "text/html; charset=utf-8"))
        last_heard = re.escape(tokyo(self.ts[2] if self.v6 else self.ts[1]))
        self.assertRegex(body, r'<tr class="ok"><td>home</td><td><code>127\.0\.0\.1</code>%s'
                         r'</td><td><time datetime="%s" title="%s">[1-5]?\d s ago</time></td>'
                         r"<td>OK</td></tr>\n</table>\n" % (
                             "<br><code>::1</code>" if self.v6 else "", last_heard, last_heard))
        self.assertIn('<section class="ok">\n<h2>home</h2>\n<p class="refused">2 refused '
                      "update attempts in the last 24 hours", body)

    def test_head_has_the_length_of_get_and_no_body(self):
        _, get_headers, get_body = self.get("format=json&history=2")
        status, headers, body = self.get("format=json&history=2", method="HEAD")
        self.assertEqual((status, body), (200, ""))
        self.assertEqual(headers["content-length"], str(len(get_body.encode())))

    def test_the_view_key_is_required(self):
        status, headers, body = self.get(key=False)
        self.assertEqual((status, body), (401, ViewKeyTest.NEEDED))
        self.assertEqual(headers["www-authenticate"], 'Basic realm="ipupdate"')
        status, _, _ = self.get("key=" + VIEW_KEY, key=False)
        self.assertEqual(status, 200)

    def test_bad_parameters_are_refused(self):
        self.assertEqual(self.get("family=9")[::2],
                         (400, "Error: parameter 'family' must be 4 or 6"))


if __name__ == "__main__":
    unittest.main()
