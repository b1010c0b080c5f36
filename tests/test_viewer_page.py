"""The html page for people: times as a person reads them, in the configured
zone; the history of both families in one time order, folded when long. Real
CGI GETs of the viewer, and its two pure time functions with a fixed now.
(tests/test_viewer_browser.py lays the page out in a real browser.)
"""

import re
import sys
import unittest

from tests import support
from tests.support import FOREVER, T0, ViewerTestCase

if support.ROOT not in sys.path:
    sys.path.insert(0, support.ROOT)
import getip_cgi  # noqa: E402

MIDNIGHT = T0 - (22 * 3600 + 13 * 60 + 20)   # 2023-11-14T00:00:00Z, the day T0 falls in
TOKYO = 9 * 3600


class ClockTimeTest(unittest.TestCase):
    """Today and yesterday by name, other days by date, the year when not this
    year's; the day is the zone's, not UTC's."""

    def shown(self, ts, offset=0):
        return getip_cgi.clock_time(lambda _: offset, ts, T0)

    def test_today_and_yesterday_are_named(self):
        self.assertEqual(self.shown(T0 - 100), "today 22:11")
        self.assertEqual(self.shown(MIDNIGHT), "today 00:00")
        self.assertEqual(self.shown(MIDNIGHT - 1), "yesterday 23:59")
        self.assertEqual(self.shown(MIDNIGHT - 86400), "yesterday 00:00")

    def test_other_days_are_dated_with_the_year_only_when_not_this_one(self):
        self.assertEqual(self.shown(MIDNIGHT - 86400 - 1), "12 Nov 23:59")
        self.assertEqual(self.shown(1672531200), "1 Jan 00:00")         # 2023-01-01T00:00Z
        self.assertEqual(self.shown(1672531200 - 60), "31 Dec 2022 23:59")

    def test_the_day_is_the_configured_zones(self):
        # T0 is 2023-11-15T07:13:20 in Tokyo: 8 hours earlier is yesterday there.
        self.assertEqual(self.shown(T0 - 8 * 3600, TOKYO), "yesterday 23:13")
        self.assertEqual(self.shown(T0 - 8 * 3600), "today 14:13")


class TimeAgoTest(unittest.TestCase):

    def test_each_unit_from_two_of_it_on_rounded_down(self):
        self.assertEqual([getip_cgi.time_ago(seconds) for seconds in (
            0, 119, 120, 7199, 7200, 2 * 86400 - 1, 2 * 86400, 40 * 86400)],
            ["0 s ago", "119 s ago", "2 min ago", "119 min ago", "2 h ago", "47 h ago",
             "2 days ago", "40 days ago"])

    def test_a_time_ahead_of_the_clock_is_now(self):
        self.assertEqual(getip_cgi.time_ago(-5), "0 s ago")


class HistoryOrderTest(ViewerTestCase):
    """Both families in one list by last seen, newest first; more periods than
    four start folded (<details> without `open`)."""
    settings = {"stale_after": FOREVER}
    rows = [(4, "home", "198.51.100.1", T0, T0 + 3600),
            (6, "home", "2001:db8::1", T0 + 100, T0 + 5000),
            (4, "home", "203.0.113.7", T0 + 3700, T0 + 7200),
            (6, "home", "2001:db8::2", T0 + 5100, T0 + 9000),
            (4, "home", "192.0.2.200", T0 + 7300, T0 + 9000),
            (4, "office", "192.0.2.1", T0, T0 + 60)]

    def history(self, query):
        status, _, body, _ = self.view("format=html&" + query)
        self.assertEqual(status, 200)
        return body, re.findall(r'<tr class="ipv\d"><td>(IPv\d)</td><td><code>([^<]+)</code>',
                                body)

    def test_one_time_order_that_says_the_family(self):
        body, rows = self.history("name=home")
        self.assertEqual(rows, [("IPv4", "192.0.2.200"),   # a tie in last seen: IPv4 first
                                ("IPv6", "2001:db8::2"), ("IPv4", "203.0.113.7"),
                                ("IPv6", "2001:db8::1"), ("IPv4", "198.51.100.1")])

    def test_a_long_history_is_folded_and_a_short_one_open(self):
        body, _ = self.history("")
        self.assertIn("<h2>home</h2>\n<details>\n<summary>History: 5 periods, newest first"
                      "</summary>\n", body)
        self.assertIn("<h2>office</h2>\n<details open>\n<summary>History: 1 period, newest "
                      "first</summary>\n", body)
        body, rows = self.history("name=home&history=2")
        self.assertIn("<details open>\n<summary>History: 4 periods, newest first", body)
        self.assertEqual(len(rows), 4)

    def test_the_summary_lists_the_addresses_asked_for(self):
        body, _ = self.history("family=6&history=0")
        self.assertIn('<tr class="ok"><td>home</td><td><code>2001:db8::2</code></td>', body)
        self.assertNotIn("office", body)
        self.assertNotIn("<details", body)

    def test_the_footer_names_the_zone_and_the_rule(self):
        config = support.write_config(self.directory, timezone="Asia/Tokyo",
                                      stale_after=FOREVER)
        _, _, body, _ = self.view("format=html", config=config)
        self.assertRegex(body, r'<footer>Times in Asia/Tokyo\. An address family is stale '
                               r'after 36500d00h without an update\. Generated <time datetime='
                               r'"[-\d]+T[:\d]+\+09:00" title="[-\d]+T[:\d]+\+09:00">today '
                               r'\d\d:\d\d</time>\.</footer>\n</body>\n</html>\n$')
        self.assertIn(">15 Nov 2023 07:13</time>", body)   # T0, in Tokyo


if __name__ == "__main__":
    unittest.main()
