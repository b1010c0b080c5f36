"""The viewer (getip_cgi.py): what it shows, in which format, to whom.

It runs as a real CGI process (support.run_cgi) and behind a real
`ipupdate_server.py serve` (support.LocalServer). The data comes from real
signed updates or is written with sqlite3 in the server's schema, or in the
original PHP's schema. Times are fixed where the output prints them.
"""

import base64
import http.client
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

from tests import support

sys.path.insert(0, support.ROOT)
import getip_cgi  # noqa: E402  (for the SQL it runs and its query plans)
import ipupdate_server  # noqa: E402  (for SCHEMA)

T0 = 1700000000                     # 2023-11-14T22:13:20Z, a Tuesday in November
T_SUMMER = 1690000000               # 2023-07-22T04:26:40Z, daylight saving time in Europe
FOREVER = "36500d"                  # stale_after for fixed old times: nothing goes stale
VIEW_KEY = "view-key-3b9d2f61c0a84e57"
TEXT = "text/plain; charset=utf-8"
ORIGINAL_TABLE = ("CREATE TABLE {table} (id INTEGER PRIMARY KEY AUTOINCREMENT, ip VARCHAR, "
                  "name VARCHAR, first_seen UNSIGNED INT, timestamp UNSIGNED INT)")


def utc(ts):
    """Reference formatting, independent of the viewer's."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(ts))


def tokyo(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%S+09:00", time.gmtime(ts + 9 * 3600))


def fill_database(path, rows, original_schema=False):
    """rows: (family, name, ip, first_seen, last_seen), inserted in this order."""
    connection = sqlite3.connect(path)
    for table in ("log_ipv4", "log_ipv6"):
        if original_schema:
            connection.execute(ORIGINAL_TABLE.format(table=table))
        else:
            connection.executescript(ipupdate_server.SCHEMA.format(table=table))
    for family, name, ip, first_seen, last_seen in rows:
        connection.execute(
            "INSERT INTO log_ipv%d (ip, name, first_seen, timestamp) VALUES (?, ?, ?, ?)"
            % family, (ip, name, first_seen, last_seen))
    connection.commit()
    connection.close()


def ipv6_loopback_works():
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
        return True
    except OSError:
        return False


class ViewerTestCase(unittest.TestCase):
    settings = {}
    rows = None

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="viewer-test-")
        self.addCleanup(shutil.rmtree, self.directory)
        self.config = support.write_config(self.directory, **self.settings)
        self.database = os.path.join(self.directory, "ipupdate.sqlite")
        if self.rows is not None:
            fill_database(self.database, self.rows)

    def view(self, query="", config=None, **options):
        """(status, headers, body, stderr) of one CGI GET of the viewer."""
        options.setdefault("method", "GET")
        status, headers, body, stderr, code = support.run_cgi(
            support.VIEWER, config or self.config, query=query, content_type=None, **options)
        self.assertEqual(code, 0, stderr)
        self.assertEqual(headers.get("cache-control"), "no-store")
        return status, headers, body, stderr

    def assertAnswer(self, query, status, body, content_type=TEXT, **options):
        got_status, headers, got_body, stderr = self.view(query, **options)
        self.assertEqual((got_status, got_body), (status, body), stderr)
        self.assertEqual(headers["content-type"], content_type)
        return headers


# ---------------------------------------------------------------------------

class EmptyStateTest(ViewerTestCase):

    def test_without_a_database_file_it_says_nothing_is_recorded_and_creates_nothing(self):
        self.assertAnswer("", 200, "no updates recorded yet\n")
        self.assertFalse(os.path.exists(self.database))

    def test_a_database_without_tables_is_empty_too(self):
        open(self.database, "wb").close()
        self.assertAnswer("", 200, "no updates recorded yet\n")

    def test_json_of_nothing_has_an_empty_list_of_names(self):
        status, headers, body, _ = self.view("format=json")
        self.assertEqual((status, headers["content-type"]), (200, "application/json"))
        document = json.loads(body)
        self.assertIsInstance(document.pop("generated"), int)
        self.assertEqual(document, {"names": [], "stale_after": 10800, "timezone": "UTC"})

    def test_html_of_nothing_says_so(self):
        status, headers, body, _ = self.view("format=html")
        self.assertEqual(status, 200)
        self.assertIn("<p>No updates recorded yet.</p>\n<footer>", body)

    def test_format_ip_of_nothing_is_not_found(self):
        self.assertAnswer("format=ip", 404, "Error: no address recorded yet")

    def test_a_name_never_seen_is_not_found(self):
        self.assertAnswer("name=nosuch", 404, "Error: no updates recorded for name 'nosuch'")


class CurrentAddressTest(ViewerTestCase):
    settings = {"stale_after": FOREVER}
    rows = [
        (4, "home", "198.51.100.1", T0, T0 + 3600),
        (4, "office", "192.0.2.1", T0, T0 + 60),
        (6, "home", "2001:db8::1", T0 + 100, T0 + 7000),
        (4, "home", "203.0.113.7", T0 + 3700, T0 + 7200),
        (4, "home", "192.0.2.200", T0 + 7300, T0 + 190950),
    ]

    def test_text_has_one_line_per_name_and_family_with_the_newest_address(self):
        self.assertAnswer("", 200,
                          "home ipv4 192.0.2.200 2023-11-17T03:15:50+00:00\n"
                          "home ipv6 2001:db8::1 2023-11-15T00:10:00+00:00\n"
                          "office ipv4 192.0.2.1 2023-11-14T22:14:20+00:00\n")

    def test_name_selects_one_name(self):
        self.assertAnswer("name=office", 200,
                          "office ipv4 192.0.2.1 2023-11-14T22:14:20+00:00\n")

    def test_family_selects_one_family(self):
        self.assertAnswer("family=6", 200, "home ipv6 2001:db8::1 2023-11-15T00:10:00+00:00\n")
        self.assertAnswer("family=4&name=home", 200,
                          "home ipv4 192.0.2.200 2023-11-17T03:15:50+00:00\n")

    def test_a_name_without_that_family_is_not_found(self):
        self.assertAnswer("name=office&family=6", 404,
                          "Error: no IPv6 address recorded for name 'office'")

    def test_history_lists_the_newest_periods_first_with_how_long_each_held(self):
        self.assertAnswer("name=home&history=2", 200,
                          "home ipv4 192.0.2.200 2023-11-15T00:15:00+00:00 "
                          "2023-11-17T03:15:50+00:00 2d03h\n"
                          "home ipv4 203.0.113.7 2023-11-14T23:15:00+00:00 "
                          "2023-11-15T00:13:20+00:00 58m20s\n"
                          "home ipv6 2001:db8::1 2023-11-14T22:15:00+00:00 "
                          "2023-11-15T00:10:00+00:00 1h55m\n")

    def test_history_longer_than_the_record_shows_all_of_it(self):
        self.assertAnswer("name=home&family=4&history=1000", 200,
                          "home ipv4 192.0.2.200 2023-11-15T00:15:00+00:00 "
                          "2023-11-17T03:15:50+00:00 2d03h\n"
                          "home ipv4 203.0.113.7 2023-11-14T23:15:00+00:00 "
                          "2023-11-15T00:13:20+00:00 58m20s\n"
                          "home ipv4 198.51.100.1 2023-11-14T22:13:20+00:00 "
                          "2023-11-14T23:13:20+00:00 1h00m\n")
        self.assertAnswer("name=office&history=1", 200,
                          "office ipv4 192.0.2.1 2023-11-14T22:13:20+00:00 "
                          "2023-11-14T22:14:20+00:00 1m00s\n")

    def test_json_has_the_documented_shape(self):
        status, headers, body, _ = self.view("format=json&history=2")
        self.assertEqual(status, 200)
        document = json.loads(body)
        self.assertIsInstance(document.pop("generated"), int)
        newest_v4 = {"ip": "192.0.2.200", "first_seen": T0 + 7300, "last_seen": T0 + 190950,
                     "held": 183650, "source": "ipupdate"}
        v6 = {"ip": "2001:db8::1", "first_seen": T0 + 100, "last_seen": T0 + 7000,
              "held": 6900, "source": "ipupdate"}
        office = {"ip": "192.0.2.1", "first_seen": T0, "last_seen": T0 + 60, "held": 60,
                  "source": "ipupdate"}
        self.assertEqual(document, {
            "timezone": "UTC", "stale_after": 3153600000,
            "names": [
                {"name": "home", "stale": False, "last_heard": T0 + 190950, "refused_24h": 0,
                 "ipv4": newest_v4, "ipv6": v6,
                 "history": {"ipv4": [newest_v4, {
                     "ip": "203.0.113.7", "first_seen": T0 + 3700, "last_seen": T0 + 7200,
                     "held": 3500, "source": "ipupdate"}], "ipv6": [v6]}},
                {"name": "office", "stale": False, "last_heard": T0 + 60, "refused_24h": 0,
                 "ipv4": office, "ipv6": None, "history": {"ipv4": [office], "ipv6": []}},
            ]})

    def test_json_without_history_and_with_a_family_keeps_its_keys(self):
        status, _, body, _ = self.view("format=json&family=6")
        entries = json.loads(body)["names"]
        self.assertEqual(entries, [{
            "name": "home", "stale": False, "last_heard": T0 + 190950, "refused_24h": 0,
            "ipv4": None,
            "ipv6": {"ip": "2001:db8::1", "first_seen": T0 + 100, "last_seen": T0 + 7000,
                     "held": 6900, "source": "ipupdate"},
            "history": {"ipv4": [], "ipv6": []}}])

    def test_html_shows_each_name_its_addresses_and_its_history(self):
        status, headers, body, _ = self.view("format=html&name=home&history=1")
        self.assertEqual((status, headers["content-type"]), (200, "text/html; charset=utf-8"))
        self.assertIn(
            '<section class="name">\n<h2>home</h2>\n'
            "<p>Last heard %s ago, at 2023-11-17T03:15:50+00:00.</p>\n<table>\n"
            "<tr><th>IPv4</th><td><code>192.0.2.200</code></td>"
            "<td>since 2023-11-15T00:15:00+00:00</td>"
            "<td>last seen 2023-11-17T03:15:50+00:00</td></tr>\n"
            "<tr><th>IPv6</th><td><code>2001:db8::1</code></td>"
            "<td>since 2023-11-14T22:15:00+00:00</td>"
            "<td>last seen 2023-11-15T00:10:00+00:00</td></tr>\n</table>\n"
            "<table>\n<caption>History, newest first</caption>\n"
            "<tr><th>Family</th><th>Address</th><th>First seen</th><th>Last seen</th>"
            "<th>Held</th></tr>\n"
            "<tr><td>IPv4</td><td><code>192.0.2.200</code></td>"
            "<td>2023-11-15T00:15:00+00:00</td><td>2023-11-17T03:15:50+00:00</td>"
            "<td>2d03h</td></tr>\n"
            "<tr><td>IPv6</td><td><code>2001:db8::1</code></td>"
            "<td>2023-11-14T22:15:00+00:00</td><td>2023-11-15T00:10:00+00:00</td>"
            "<td>1h55m</td></tr>\n</table>\n</section>\n"
            % ("%d days" % ((time.time() - (T0 + 190950)) // 86400)), body)
        self.assertNotIn("<script", body)
        self.assertNotIn("office", body)

    def test_html_page_defaults_to_ten_periods_of_history(self):
        _, _, body, _ = self.view("format=html&name=home")
        self.assertEqual(body.count("<tr><td>IPv4</td>"), 3)
        self.assertEqual(body.count("<tr><td>IPv6</td>"), 1)
        _, _, body, _ = self.view("format=html&name=home&history=0")
        self.assertNotIn("History", body)

    def test_a_browser_gets_html_and_curl_gets_text(self):
        browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        for accept, content_type in [(browser, "text/html; charset=utf-8"), ("*/*", TEXT),
                                     ("text/plain, text/html;q=0.5", TEXT),
                                     ("application/json", TEXT)]:
            status, headers, body, _ = self.view(extra_env={"HTTP_ACCEPT": accept})
            self.assertEqual((status, headers["content-type"]), (200, content_type), accept)
            self.assertEqual(headers["vary"], "Accept")
        status, headers, _, _ = self.view("format=text", extra_env={"HTTP_ACCEPT": browser})
        self.assertEqual(headers["content-type"], TEXT)

    def test_head_answers_the_headers_of_get_without_the_body(self):
        _, get_headers, get_body, _ = self.view("name=home")
        status, headers, body, _ = self.view("name=home", method="HEAD")
        self.assertEqual((status, body), (200, ""))
        self.assertEqual(headers["content-length"], str(len(get_body.encode())))
        self.assertEqual(get_headers["content-length"], str(len(get_body.encode())))


class StalenessTest(ViewerTestCase):
    """A name silent for longer than stale_after (default 3 h) is marked, in every format."""

    def setUp(self):
        ViewerTestCase.setUp(self)
        self.now = int(time.time())
        self.home_ts = self.now - 600                # heard 10 minutes ago
        self.cabin_ts = self.now - 4 * 3600 - 100    # heard 4 hours ago
        fill_database(self.database, [
            (4, "home", "203.0.113.7", self.home_ts - 50, self.home_ts),
            (4, "cabin", "198.51.100.9", self.cabin_ts - 50, self.cabin_ts),
        ])

    def test_text_marks_the_stale_name(self):
        self.assertAnswer("", 200, "cabin ipv4 198.51.100.9 %s STALE\n"
                                   "home ipv4 203.0.113.7 %s\n"
                          % (utc(self.cabin_ts), utc(self.home_ts)))

    def test_text_history_marks_the_newest_period_of_the_stale_name(self):
        self.assertAnswer("history=1", 200,
                          "cabin ipv4 198.51.100.9 %s %s 50s STALE\n"
                          "home ipv4 203.0.113.7 %s %s 50s\n"
                          % (utc(self.cabin_ts - 50), utc(self.cabin_ts),
                             utc(self.home_ts - 50), utc(self.home_ts)))

    def test_json_says_stale_true_or_false(self):
        _, _, body, _ = self.view("format=json")
        self.assertEqual([(entry["name"], entry["stale"], entry["last_heard"])
                          for entry in json.loads(body)["names"]],
                         [("cabin", True, self.cabin_ts), ("home", False, self.home_ts)])

    def test_html_warns_about_the_stale_name_only(self):
        _, _, body, _ = self.view("format=html")
        self.assertIn('<section class="name stale">\n<h2>cabin</h2>\n<p class="warning">'
                      "&#9888; Stale: nothing heard for 4 hours (more than 3 hours). Its "
                      "client may have stopped reporting.</p>\n<p>Last heard 4 hours ago",
                      body)
        self.assertIn('<section class="name">\n<h2>home</h2>\n<p>Last heard 10 minutes ago',
                      body)
        self.assertEqual(body.count('class="warning"'), 1)

    def test_format_ip_flags_a_stale_name_in_a_header(self):
        headers = self.assertAnswer("format=ip&name=cabin", 200, "198.51.100.9\n")
        self.assertEqual(headers["x-ipupdate-stale"], "yes")
        headers = self.assertAnswer("format=ip&name=home", 200, "203.0.113.7\n")
        self.assertNotIn("x-ipupdate-stale", headers)

    def test_stale_after_setting_is_honoured(self):
        config = support.write_config(self.directory, stale_after="5m")
        _, _, body, _ = self.view("", config=config)
        self.assertEqual(body, "cabin ipv4 198.51.100.9 %s STALE\n"
                               "home ipv4 203.0.113.7 %s STALE\n"
                         % (utc(self.cabin_ts), utc(self.home_ts)))


class TimeZoneTest(ViewerTestCase):
    rows = [(4, "home", "203.0.113.7", T0 - 60, T0), (6, "home", "2001:db8::1",
                                                      T_SUMMER - 60, T_SUMMER)]

    def text_in(self, zone):
        config = support.write_config(self.directory, timezone=zone, stale_after=FOREVER)
        status, _, body, stderr = self.view("", config=config)
        self.assertEqual(status, 200, stderr)
        return body

    def test_tokyo_is_nine_hours_ahead(self):
        self.assertEqual(self.text_in("Asia/Tokyo"),
                         "home ipv4 203.0.113.7 2023-11-15T07:13:20+09:00\n"
                         "home ipv6 2001:db8::1 2023-07-22T13:26:40+09:00\n")

    def test_berlin_changes_its_offset_with_daylight_saving(self):
        self.assertEqual(self.text_in("Europe/Berlin"),
                         "home ipv4 203.0.113.7 2023-11-14T23:13:20+01:00\n"
                         "home ipv6 2001:db8::1 2023-07-22T06:26:40+02:00\n")

    def test_negative_half_hour_offsets(self):
        self.assertEqual(self.text_in("America/St_Johns"),
                         "home ipv4 203.0.113.7 2023-11-14T18:43:20-03:30\n"
                         "home ipv6 2001:db8::1 2023-07-22T01:56:40-02:30\n")

    def test_utc_is_the_default(self):
        self.assertAnswer("", 200, "home ipv4 203.0.113.7 2023-11-14T22:13:20+00:00 STALE\n"
                                   "home ipv6 2001:db8::1 2023-07-22T04:26:40+00:00 STALE\n")

    def test_an_unknown_time_zone_is_a_configuration_error(self):
        config = support.write_config(self.directory, timezone="Mars/Olympus_Mons")
        status, _, body, stderr = self.view("", config=config)
        self.assertEqual((status, body), (500, "Error: server not configured"))
        self.assertIn("timezone 'Mars/Olympus_Mons' is not a time zone this system knows",
                      stderr)


class FormatIpTest(ViewerTestCase):
    settings = {"stale_after": FOREVER}
    rows = [(4, "home", "203.0.113.7", T0, T0), (6, "home", "2001:db8::1", T0, T0),
            (4, "office", "192.0.2.1", T0, T0)]

    def test_name_and_family_select_one_bare_address(self):
        self.assertAnswer("format=ip&name=home&family=4", 200, "203.0.113.7\n")
        self.assertAnswer("format=ip&name=home&family=6", 200, "2001:db8::1\n")
        self.assertAnswer("format=ip&name=office", 200, "192.0.2.1\n")

    def test_more_than_one_match_is_refused_with_what_to_pass(self):
        self.assertAnswer("format=ip", 400, "Error: 3 addresses match: choose one with the "
                                            "name and family parameters")
        self.assertAnswer("format=ip&name=home", 400, "Error: 2 addresses match: choose one "
                                                      "with the name and family parameters")
        self.assertAnswer("format=ip&family=4", 400, "Error: 2 addresses match: choose one "
                                                     "with the name and family parameters")

    def test_no_match_is_not_found(self):
        self.assertAnswer("format=ip&name=office&family=6", 404,
                          "Error: no IPv6 address recorded for name 'office'")
        self.assertAnswer("format=ip&name=cabin", 404,
                          "Error: no updates recorded for name 'cabin'")

    def test_history_does_not_go_with_a_bare_address(self):
        self.assertAnswer("format=ip&name=office&history=2", 400,
                          "Error: parameter 'history' does not go with format=ip")


class HostileValueTest(ViewerTestCase):
    """Values in the database are data: escaped in HTML, one word in text."""
    settings = {"stale_after": FOREVER}
    rows = [(4, "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', T0, T0),
            (4, "evil\nhome", "6.6.6.6 ipv4", T0, T0)]

    def test_html_escapes_every_stored_value(self):
        status, headers, body, _ = self.view("format=html")
        self.assertEqual(status, 200)
        self.assertIn("<h2>&lt;script&gt;alert(1)&lt;/script&gt;</h2>", body)
        self.assertIn("<code>&quot;&gt;&lt;img src=x onerror=alert(1)&gt;</code>", body)
        self.assertNotIn("<script", body)
        self.assertNotIn("<img", body)
        self.assertEqual(headers["content-security-policy"],
                         "default-src 'none'; style-src 'unsafe-inline'; "
                         "frame-ancestors 'none'")
        self.assertEqual(headers["x-content-type-options"], "nosniff")

    def test_text_cannot_be_split_into_forged_lines(self):
        self.assertAnswer("", 200,
                          '<script>alert(1)</script> ipv4 "><img?src=x?onerror=alert(1)> '
                          "2023-11-14T22:13:20+00:00\n"
                          "evil?home ipv4 6.6.6.6?ipv4 2023-11-14T22:13:20+00:00\n")

    def test_json_carries_the_values_as_they_are(self):
        _, _, body, _ = self.view("format=json")
        self.assertEqual([(entry["name"], entry["ipv4"]["ip"])
                          for entry in json.loads(body)["names"]],
                         [("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>'),
                          ("evil\nhome", "6.6.6.6 ipv4")])


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
        self.assertRegex(home, r"^<h2>home</h2>\n<p>Last heard [^<]*</p>\n"
                               r"<p class=\"refused\">3 refused update attempts in the "
                               r"last 24 hours \(the server's error log says why\)\.</p>\n"
                               r"<table>\n")
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
                ("name=a&name=b", "Error: parameter 'name' given more than once"),
                ("json", "Error: malformed query parameter 'json' (no '=')"),
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


class OriginalDatabaseTest(ViewerTestCase):
    """A database the original PHP wrote: its tables, none of our indexes, empty names."""
    settings = {"stale_after": FOREVER}

    def setUp(self):
        ViewerTestCase.setUp(self)
        fill_database(self.database, [
            (4, "", "198.51.100.1", T0, T0 + 3600),
            (4, "", "198.51.100.2", T0 + 3700, T0 + 7200),
            (6, "", "2001:db8::5", T0, T0 + 10),
            (4, "laptop", "192.0.2.4", T0 + 50, T0 + 40),  # the original accepted older ts
        ], original_schema=True)

    def test_its_rows_are_shown_and_the_empty_name_reads_unnamed(self):
        self.assertAnswer("", 200, "(unnamed) ipv4 198.51.100.2 2023-11-15T00:13:20+00:00\n"
                                   "(unnamed) ipv6 2001:db8::5 2023-11-14T22:13:30+00:00\n"
                                   "laptop ipv4 192.0.2.4 2023-11-14T22:14:00+00:00\n")

    def test_an_empty_name_parameter_selects_the_unnamed(self):
        self.assertAnswer("name=&family=4&format=ip", 200, "198.51.100.2\n")
        self.assertAnswer("name=&family=4&history=5", 200,
                          "(unnamed) ipv4 198.51.100.2 2023-11-14T23:15:00+00:00 "
                          "2023-11-15T00:13:20+00:00 58m20s\n"
                          "(unnamed) ipv4 198.51.100.1 2023-11-14T22:13:20+00:00 "
                          "2023-11-14T23:13:20+00:00 1h00m\n")
        _, _, body, _ = self.view("format=html&name=")
        self.assertIn("<h2>(unnamed)</h2>", body)

    def test_without_the_servers_log_every_count_is_zero(self):
        _, _, body, _ = self.view("format=json")
        self.assertEqual([(entry["name"], entry["refused_24h"])
                          for entry in json.loads(body)["names"]], [("", 0), ("laptop", 0)])
        self.assertNotIn('class="refused"', self.view("format=html")[2])

    def test_the_viewer_changes_nothing_in_it(self):
        with open(self.database, "rb") as before_file:
            before = before_file.read()
        self.view("format=json&history=3")
        with open(self.database, "rb") as after_file:
            self.assertEqual(after_file.read(), before)


class QueryPlanTest(unittest.TestCase):
    """Each query seeks in the (name, id) index: flat on a long history."""

    def setUp(self):
        directory = tempfile.mkdtemp(prefix="viewer-plan-")
        self.addCleanup(shutil.rmtree, directory)
        self.path = os.path.join(directory, "ipupdate.sqlite")

    def connect(self, rows, original_schema=False):
        fill_database(self.path, rows, original_schema)
        connection = sqlite3.connect(self.path)
        self.addCleanup(connection.close)
        return connection

    def plans(self, connection, table):
        statements = [(getip_cgi.FIRST_NAME_SQL, ()), (getip_cgi.NEXT_NAME_SQL, ("home",)),
                      (getip_cgi.PERIODS_SQL, ("home", 10))]
        return [" / ".join(row[-1] for row in connection.execute(
            "EXPLAIN QUERY PLAN " + sql.format(table=table), parameters))
            for sql, parameters in statements]

    def test_every_query_is_an_index_search_without_sorting(self):
        connection = self.connect([(4, "home", "192.0.2.1", T0, T0)])
        for table in ("log_ipv4", "log_ipv6"):
            first, following, periods = self.plans(connection, table)
            self.assertRegex(first, r"^SEARCH (TABLE )?%s USING COVERING INDEX %s_folded_name_"
                             % (table, table))
            self.assertRegex(following, r"^SEARCH (TABLE )?%s USING COVERING INDEX %s_folded_"
                                        r"name_\w+ \(name>\?\)$" % (table, table))
            self.assertRegex(periods, r"^SEARCH (TABLE )?%s USING INDEX %s_folded_name_id "
                                      r"\(name=\?\)$" % (table, table))

    def test_the_refused_count_is_a_search_in_the_name_time_index(self):
        connection = self.connect([(4, "home", "192.0.2.1", T0, T0)])
        connection.executescript(ipupdate_server.REFUSED_SCHEMA)
        plan = " / ".join(row[-1] for row in connection.execute(
            "EXPLAIN QUERY PLAN " + getip_cgi.REFUSED_SQL, ("home", T0)))
        self.assertRegex(plan, r"^SEARCH (TABLE )?refused USING COVERING INDEX "
                               r"refused_name_time \(name=\? AND time>\?\)$")

    def test_the_same_queries_scan_a_table_without_the_index(self):
        # The assertions above can fail: the original's tables have no index.
        connection = self.connect([(4, "home", "192.0.2.1", T0, T0)], original_schema=True)
        first, following, periods = self.plans(connection, "log_ipv4")
        self.assertNotIn("INDEX", first + following + periods)
        self.assertIn("SCAN", periods)

    def test_without_the_index_the_names_cost_one_pass_not_one_per_name(self):
        connection = self.connect([(4, name, "192.0.2.1", T0 + i, T0 + i) for i in range(2000)
                                   for name in ("cabin", "home", "office", "pi")],
                                  original_schema=True)
        steps = []
        connection.set_progress_handler(lambda: steps.append(1), 1)
        connection.execute("SELECT name FROM log_ipv4").fetchall()
        one_pass = len(steps)
        del steps[:]
        names = getip_cgi.list_names(connection, "log_ipv4", indexed=False)
        connection.set_progress_handler(None, 1)
        self.assertEqual(sorted(names), ["cabin", "home", "office", "pi"])
        self.assertLess(len(steps), 2 * one_pass, (one_pass, len(steps)))

    def work_to_read(self, rows):
        """SQLite virtual machine steps for everything read_records asks."""
        connection = self.connect(rows)
        steps = []
        connection.set_progress_handler(lambda: steps.append(1), 1)
        names = getip_cgi.list_names(connection, "log_ipv4")
        for name in names:
            connection.execute(getip_cgi.PERIODS_SQL.format(table="log_ipv4"),
                               (name, 10)).fetchall()
        connection.set_progress_handler(None, 1)
        return names, len(steps)

    def test_the_work_does_not_grow_with_the_history(self):
        def history(periods):
            return [(4, name, "192.0.2.%d" % (i % 250), T0 + i, T0 + i)
                    for i in range(periods) for name in ("cabin", "home", "office")]
        names, small = self.work_to_read(history(12))  # more than the 10 asked for
        os.remove(self.path)
        big_names, big = self.work_to_read(history(20000))
        self.assertEqual(names, ["cabin", "home", "office"])
        self.assertEqual(big_names, names)
        self.assertLess(big, small * 1.2, (small, big))


class LocalServerTest(unittest.TestCase):
    """Behind `ipupdate_server.py serve`, fed by real signed updates."""

    @classmethod
    def setUpClass(cls):
        cls.directory = tempfile.mkdtemp(prefix="viewer-serve-")
        config = support.write_config(cls.directory, timezone="Asia/Tokyo",
                                      view_key=VIEW_KEY)
        cls.v6 = ipv6_loopback_works()
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

    @unittest.skipUnless(ipv6_loopback_works(), "no IPv6 loopback")
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
        self.assertIn("<h2>home</h2>\n<p>Last heard less than a minute ago, at %s.</p>\n"
                      '<p class="refused">2 refused update attempts in the last 24 hours'
                      % tokyo(self.ts[2] if self.v6 else self.ts[1]), body)

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


class KeptConnectionTest(unittest.TestCase):
    """Under `serve` the viewer keeps its read-only database connection from one
    request of a client to the next (HTTP keep-alive: one thread, one connection).
    It must show every change the server makes, to the rows and to the schema,
    at once; changes of other processes and a database file replaced or removed
    within getip_cgi.RECHECK_S; and must never hold a lock between requests."""

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="viewer-kept-")
        self.addCleanup(shutil.rmtree, self.directory)
        self.config = support.write_config(self.directory, stale_after=FOREVER)
        self.database = os.path.join(self.directory, "ipupdate.sqlite")
        self.server = support.LocalServer(self.config)
        self.addCleanup(self.server.stop)
        self.client = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        self.addCleanup(self.client.close)
        self.socket = None

    def get(self, query=""):
        """A GET on the one keep-alive connection of this test."""
        self.client.request("GET", "/?" + query)
        response = self.client.getresponse()
        body = response.read().decode()
        if self.socket is None:
            self.socket = self.client.sock
        self.assertIs(self.client.sock, self.socket, "the connection was not kept alive")
        return response.status, body

    def post(self, name="home", key=support.HOME_KEY, mac=None):
        return support.http_request("127.0.0.1", self.server.port, body=support.update_body(
            "127.0.0.1", name, support.now(), key, mac))[::2]

    def assertNoLockHeld(self):
        writer = sqlite3.connect(self.database, timeout=0, isolation_level=None)
        try:
            writer.execute("BEGIN EXCLUSIVE")  # fails at once if a reader holds a lock
            writer.execute("ROLLBACK")
        finally:
            writer.close()

    def counts(self):
        status, body = self.get("format=json")
        self.assertEqual(status, 200, body)
        return [(entry["name"], entry["refused_24h"]) for entry in json.loads(body)["names"]]

    def test_it_sees_new_rows_and_the_tables_and_indexes_the_server_adds(self):
        fill_database(self.database, [(4, "home", "192.0.2.1", T0, T0)], original_schema=True)
        self.assertEqual(self.get("format=ip&name=home"), (200, "192.0.2.1\n"))
        self.assertEqual(self.counts(), [("home", 0)])   # no refused table yet
        self.assertNoLockHeld()
        self.assertEqual(self.post(), (200, "OK: New IP updated"))   # adds the indexes
        self.assertEqual(self.get("format=ip&name=home"), (200, "127.0.0.1\n"))
        self.assertEqual(self.post(mac="0" * 64)[0], 403)             # adds the refused table
        self.assertEqual(self.counts(), [("home", 1)])
        self.assertEqual(self.post(mac="0" * 64)[0], 403)
        self.assertEqual(self.counts(), [("home", 2)])
        self.assertNoLockHeld()

    def get_until(self, query, expected):
        """GET until the answer is `expected`; the seconds that took."""
        started = time.monotonic()
        while self.get(query) != expected and time.monotonic() - started < 5:
            time.sleep(0.05)
        self.assertEqual(self.get(query), expected)
        return time.monotonic() - started

    def test_every_update_of_the_server_shows_on_the_next_request(self):
        for number in range(1, 6):
            name = "pi%d" % number
            self.assertEqual(self.get("format=ip&name=" + name),
                             (404, "Error: no updates recorded for name '%s'" % name))
            self.assertEqual(self.post(name=name, key=support.KEY),
                             (200, "OK: New IP updated"))
            self.assertEqual(self.get("format=ip&name=" + name), (200, "127.0.0.1\n"))

    def test_commits_of_other_processes_show_within_the_recheck_time(self):
        fill_database(self.database, [(4, "home", "192.0.2.1", T0, T0)])
        for number in range(2, 5):
            self.assertEqual(self.get("format=ip&name=home"), (200, "192.0.2.%d\n" % (number - 1)))
            writer = sqlite3.connect(self.database)
            writer.execute("UPDATE log_ipv4 SET ip = ?", ("192.0.2.%d" % number,))
            writer.commit()
            writer.close()
            waited_s = self.get_until("format=ip&name=home", (200, "192.0.2.%d\n" % number))
            self.assertLess(waited_s, getip_cgi.RECHECK_S + 2)

    def test_a_database_file_replaced_or_removed_is_read_anew(self):
        self.assertEqual(self.get(), (200, "no updates recorded yet\n"))
        self.assertEqual(self.post(), (200, "OK: New IP updated"))
        self.assertEqual(self.get("format=ip&name=home"), (200, "127.0.0.1\n"))
        restored = os.path.join(self.directory, "restored.sqlite")
        fill_database(restored, [(4, "cabin", "198.51.100.9", T0, T0)])
        os.replace(restored, self.database)   # as a restore from a backup would
        self.get_until("", (200, "cabin ipv4 198.51.100.9 %s\n" % utc(T0)))
        os.remove(self.database)
        self.get_until("", (200, "no updates recorded yet\n"))

    def test_the_hot_journal_of_a_killed_writer_is_rolled_back_not_an_error(self):
        self.assertEqual(self.post(), (200, "OK: New IP updated"))
        self.assertEqual(self.get("format=ip&name=home"), (200, "127.0.0.1\n"))
        # The kept connection is read-only and cannot roll a hot journal back;
        # a new one can.
        support.kill_writer_mid_transaction(self.database)
        self.assertTrue(os.path.exists(self.database + "-journal"))
        status, body = self.get()
        self.assertEqual((status, body.split()[:3]), (200, ["home", "ipv4", "127.0.0.1"]))
        self.assertNotIn("ghost", body)
        self.assertNotIn("database error", self.server.stderr())
        self.assertNoLockHeld()

    @unittest.skipUnless(os.path.isdir("/proc/self/fd"), "needs /proc to count descriptors")
    def test_a_connection_goes_with_its_client(self):
        self.assertEqual(self.post(), (200, "OK: New IP updated"))
        descriptors = "/proc/%d/fd" % self.server.process.pid
        before = len(os.listdir(descriptors))
        for _ in range(40):   # a new client connection each: a new thread, a new connection
            status, _, _ = support.http_request("127.0.0.1", self.server.port, method="GET",
                                                content_type=None)
            self.assertEqual(status, 200)
        deadline = time.monotonic() + 5
        while len(os.listdir(descriptors)) > before + 2 and time.monotonic() < deadline:
            time.sleep(0.05)   # a thread closes its connection as it ends
        self.assertLessEqual(len(os.listdir(descriptors)), before + 2)


class KeptRecordsTest(unittest.TestCase):
    """A kept connection reuses its last records while the same query finds the
    same PRAGMA data_version (read in the same transaction); a commit by any
    other connection, or another query, reads the database again. Within
    RECHECK_S of the last check it asks SQLite nothing, unless the process said
    database_changed(). (RECHECK_S is 0 here except where a test says.)"""

    def setUp(self):
        directory = tempfile.mkdtemp(prefix="viewer-reuse-")
        self.addCleanup(shutil.rmtree, directory)
        self.path = os.path.join(directory, "ipupdate.sqlite")
        fill_database(self.path, [(4, "home", "192.0.2.1", T0, T0),
                                  (4, "office", "192.0.2.2", T0, T0)])
        self.addCleanup(setattr, getip_cgi, "RECHECK_S", getip_cgi.RECHECK_S)
        getip_cgi.RECHECK_S = 0
        self.kept = getip_cgi.KeptConnections(self.path)
        self.addCleanup(self.kept.drop)
        held, _ = self.kept.get()   # this thread's, as read_database() will use it
        self.statements = []
        held.connection.set_trace_callback(
            lambda statement: self.statements.append(statement))  # 3.6: a hashable callable

    def read(self, name=None, depth=1, since=None):
        del self.statements[:]
        records = getip_cgi.read_database(self.path, name, depth, since, self.kept)
        return records, [statement.split()[0] for statement in self.statements]

    def write(self, sql, *parameters):
        writer = sqlite3.connect(self.path)
        writer.execute(sql, parameters)
        writer.commit()
        writer.close()

    def test_the_same_query_on_an_unchanged_database_reuses_the_records(self):
        first, statements = self.read()
        self.assertGreater(len(statements), 3)
        again, statements = self.read()
        self.assertIs(again, first)
        self.assertEqual(statements, ["PRAGMA"])   # data_version, and nothing else

    def test_every_commit_of_another_connection_is_read_at_once(self):
        self.read()
        for ts in range(T0 + 1, T0 + 6):   # five commits in well under a second
            self.write("UPDATE log_ipv4 SET timestamp = ? WHERE name = 'home'", ts)
            records, statements = self.read()
            self.assertEqual(records[0].periods[4][0][2], ts)
            self.assertGreater(len(statements), 3)
        self.write("INSERT INTO log_ipv6 (ip, name, first_seen, timestamp) "
                   "VALUES ('2001:db8::1', 'pi', ?, ?)", T0, T0)
        self.assertEqual([record.name for record in self.read()[0]], ["home", "office", "pi"])

    def test_another_query_reads_anew(self):
        everyone, _ = self.read()
        for query in [("home", 1, None), ("home", 2, None), ("home", 2, T0),
                      ("home", 2, T0 + 1)]:
            records, statements = self.read(*query)
            self.assertEqual([record.name for record in records], ["home"], query)
            self.assertGreater(len(statements), 3, query)
        self.assertEqual(self.read("home", 2, T0 + 1)[1], ["PRAGMA"])

    def test_within_the_recheck_time_sqlite_is_not_asked_unless_the_process_wrote(self):
        getip_cgi.RECHECK_S = 3600
        first, statements = self.read()
        self.assertGreater(len(statements), 3)
        self.write("UPDATE log_ipv4 SET timestamp = ? WHERE name = 'home'", T0 + 1)
        again, statements = self.read()
        self.assertIs(again, first)   # another process's commit: not seen yet
        self.assertEqual(statements, [])
        self.assertEqual(self.read("home")[0][0].periods[4][0][2], T0 + 1)  # another query
        self.kept.database_changed()
        records, statements = self.read()
        self.assertEqual(records[0].periods[4][0][2], T0 + 1)
        self.assertGreater(len(statements), 3)
        self.assertIs(self.read()[0], records)
        getip_cgi.RECHECK_S = 0
        self.assertEqual(self.read()[1], ["PRAGMA"])


class CommandLineTest(ViewerTestCase):
    settings = {"stale_after": FOREVER}
    rows = CurrentAddressTest.rows

    def run_viewer(self, *arguments):
        done = subprocess.run([support.PYTHON, support.VIEWER, "--config", self.config]
                              + list(arguments), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=support.clean_env(), timeout=30)
        return done.returncode, done.stdout.decode(), done.stderr.decode()

    def test_it_prints_what_the_cgi_answers(self):
        self.assertEqual(self.run_viewer("--name", "office", "--history", "1"), (
            0, "office ipv4 192.0.2.1 2023-11-14T22:13:20+00:00 2023-11-14T22:14:20+00:00 "
               "1m00s\n", ""))
        self.assertEqual(self.run_viewer("--name", "home", "--family", "6", "--format", "ip"),
                         (0, "2001:db8::1\n", ""))

    def test_json(self):
        code, out, _ = self.run_viewer("--json")
        self.assertEqual((code, [entry["name"] for entry in json.loads(out)["names"]]),
                         (0, ["home", "office"]))

    def test_exit_codes_say_what_went_wrong(self):
        self.assertEqual(self.run_viewer("--name", "cabin"),
                         (1, "", "getip_cgi.py: no updates recorded for name 'cabin'\n"))
        self.assertEqual(self.run_viewer("--format", "ip"), (
            2, "", "getip_cgi.py: 3 addresses match: choose one with the name and family "
                   "parameters\n"))
        code, out, err = self.run_viewer("--config", os.path.join(self.directory, "none"))
        self.assertEqual((code, out), (2, ""))
        self.assertIn("cannot read config file", err)


if __name__ == "__main__":
    unittest.main()
