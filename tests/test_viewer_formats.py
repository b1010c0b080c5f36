"""The viewer's formats (text, ip, json, html): what each shows of the recorded
history, its staleness and its times, as a real CGI process answers, and as
the command line prints it. Data written with sqlite3 in the server's schema.
"""

import json
import os
import re
import subprocess
import time
import unittest

from tests import support
from tests.support import (FOREVER, T0, T_SUMMER, TEXT, ViewerTestCase,  # noqa: F401
                           fill_database, tokyo, utc)

VIEW_KEY = "view-key-3b9d2f61c0a84e57"


def time_element(exact, shown):
    """How the page writes a time: for people, with the exact time in the markup."""
    return '<time datetime="%s" title="%s">%s</time>' % (exact, exact, shown)


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
        generated = document.pop("generated")
        newest_v4 = {"ip": "192.0.2.200", "first_seen": T0 + 7300, "last_seen": T0 + 190950,
                     "held": 183650, "source": "ipupdate"}
        v6 = {"ip": "2001:db8::1", "first_seen": T0 + 100, "last_seen": T0 + 7000,
              "held": 6900, "source": "ipupdate"}
        office = {"ip": "192.0.2.1", "first_seen": T0, "last_seen": T0 + 60, "held": 60,
                  "source": "ipupdate"}
        self.assertEqual(document, {
            "timezone": "UTC", "stale_after": 3153600000,
            "names": [
                {"name": "home", "stale": False, "state": "ok", "last_heard": T0 + 190950,
                 "refused_24h": 0, "ipv4": newest_v4, "ipv6": v6,
                 "families": {"ipv4": self.heard("192.0.2.200", T0 + 190950, generated),
                              "ipv6": self.heard("2001:db8::1", T0 + 7000, generated)},
                 "history": {"ipv4": [newest_v4, {
                     "ip": "203.0.113.7", "first_seen": T0 + 3700, "last_seen": T0 + 7200,
                     "held": 3500, "source": "ipupdate"}], "ipv6": [v6]}},
                {"name": "office", "stale": False, "state": "ok", "last_heard": T0 + 60,
                 "refused_24h": 0, "ipv4": office, "ipv6": None,
                 "families": {"ipv4": self.heard("192.0.2.1", T0 + 60, generated)},
                 "history": {"ipv4": [office], "ipv6": []}},
            ]})

    @staticmethod
    def heard(address, last_heard, now, state="ok"):
        """An entry of "families", as the server's `check --json` writes it."""
        return {"address": address, "last_heard": last_heard, "silent_s": now - last_heard,
                "state": state}

    def test_json_without_history_and_with_a_family_keeps_its_keys(self):
        # last_heard, stale, state and families are the name's, over both families.
        status, _, body, _ = self.view("format=json&family=6")
        document = json.loads(body)
        entries, generated = document["names"], document["generated"]
        self.assertEqual(entries, [{
            "name": "home", "stale": False, "state": "ok", "last_heard": T0 + 190950,
            "refused_24h": 0, "ipv4": None,
            "families": {"ipv4": self.heard("192.0.2.200", T0 + 190950, generated),
                         "ipv6": self.heard("2001:db8::1", T0 + 7000, generated)},
            "ipv6": {"ip": "2001:db8::1", "first_seen": T0 + 100, "last_seen": T0 + 7000,
                     "held": 6900, "source": "ipupdate"},
            "history": {"ipv4": [], "ipv6": []}}])

    def test_html_shows_a_summary_row_then_the_names_history(self):
        status, headers, body, _ = self.view("format=html&name=home&history=1")
        self.assertEqual((status, headers["content-type"]), (200, "text/html; charset=utf-8"))
        # Times of another year than this one: with the year (the test's now is not 2023).
        self.assertIn(
            "<h1>Current addresses</h1>\n<table>\n<thead><tr><th>Name</th><th>Addresses</th>"
            "<th>Last heard</th><th>Status</th></tr></thead>\n"
            '<tr class="ok"><td>home</td><td><code>192.0.2.200</code><br>'
            "<code>2001:db8::1</code></td><td>%s</td><td>OK</td></tr>\n</table>\n"
            '<section class="ok">\n<h2>home</h2>\n<details open>\n'
            "<summary>History: 2 periods, newest first</summary>\n<table>\n"
            "<thead><tr><th>Family</th><th>Address</th><th>Seen</th><th>Held</th></tr></thead>\n"
            '<tr class="ipv4"><td>IPv4</td><td><code>192.0.2.200</code></td><td>%s &ndash; %s'
            "</td><td>2d03h</td></tr>\n"
            '<tr class="ipv6"><td>IPv6</td><td><code>2001:db8::1</code></td><td>%s &ndash; %s'
            "</td><td>1h55m</td></tr>\n</table>\n</details>\n</section>\n" % (
                time_element("2023-11-17T03:15:50+00:00", "DAYS days ago"),
                time_element("2023-11-15T00:15:00+00:00", "15 Nov 2023 00:15"),
                time_element("2023-11-17T03:15:50+00:00", "17 Nov 2023 03:15"),
                time_element("2023-11-14T22:15:00+00:00", "14 Nov 2023 22:15"),
                time_element("2023-11-15T00:10:00+00:00", "15 Nov 2023 00:10")),
            re.sub(r">\d+ days ago<", ">DAYS days ago<", body))
        self.assertNotIn("<script", body)
        self.assertNotIn("office", body)

    def test_html_page_defaults_to_ten_periods_of_history(self):
        _, _, body, _ = self.view("format=html&name=home")
        self.assertEqual(body.count('<tr class="ipv4"><td>IPv4</td>'), 3)
        self.assertEqual(body.count('<tr class="ipv6"><td>IPv6</td>'), 1)
        _, _, body, _ = self.view("format=html&name=home&history=0")
        self.assertNotIn("History", body)
        self.assertNotIn("<details", body)

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
        self.assertIn('<tr class="stale"><td>cabin</td><td><code>198.51.100.9</code></td>'
                      "<td>%s</td><td>Stale</td></tr>\n"
                      '<tr class="ok"><td>home</td><td><code>203.0.113.7</code></td>'
                      "<td>%s</td><td>OK</td></tr>\n" % (
                          time_element(utc(self.cabin_ts), "4 h ago"),
                          time_element(utc(self.home_ts), "10 min ago")), body)
        # Durations as everywhere (format_span): 4h01m40s, and seconds more on a slow machine.
        self.assertRegex(body, '<section class="stale">\n<h2>cabin</h2>\n<p class='
                               '"warning">&#9888; Stale: nothing heard for 4h0[12]m \\(more '
                               'than 3h00m\\)\\. Its client may have stopped reporting\\.</p>'
                               '\n<details open>\n')
        self.assertIn('<section class="ok">\n<h2>home</h2>\n<details open>\n', body)
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

    def test_a_name_with_both_families_fresh_gets_its_ipv4_address(self):
        self.assertAnswer("format=ip&name=home", 200, "203.0.113.7\n")

    def test_more_than_one_name_is_refused_with_what_to_pass(self):
        self.assertAnswer("format=ip", 400, "Error: 2 names match: choose one with the name "
                                            "parameter")
        self.assertAnswer("format=ip&family=4", 400, "Error: 2 names match: choose one with "
                                                     "the name parameter")

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
            2, "", "getip_cgi.py: 2 names match: choose one with the name parameter\n"))
        code, out, err = self.run_viewer("--config", os.path.join(self.directory, "none"))
        self.assertEqual((code, out), (2, ""))
        self.assertIn("cannot read config file", err)


if __name__ == "__main__":
    unittest.main()
