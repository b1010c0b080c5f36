"""Staleness per family, and format=ip's one address of a name heard in both.

A family is stale when silent for longer than stale_after (default 3 h); a
name is 'stale' when all its families are, 'family_stale' when some are (IPv6
gone quiet while IPv4 still reports), as the server's `check` says. Real CGI
GETs of the viewer on a database written in the server's schema, times
relative to now; `check --json` runs on the same database.
"""

import json
import re
import subprocess
import time
import unittest

from tests import support
from tests.support import ViewerTestCase, fill_database, utc


class FamilyStalenessCase(ViewerTestCase):
    """Four names: home's IPv6 went quiet, dslite's IPv4 did, cabin is silent in
    both, and fresh reports both (IPv6 last)."""

    def setUp(self):
        ViewerTestCase.setUp(self)
        now = int(time.time())
        self.heard = {
            ("cabin", 4): now - 4 * 3600 - 100, ("cabin", 6): now - 4 * 3600 - 200,
            ("dslite", 4): now - 6 * 3600, ("dslite", 6): now - 120,
            ("fresh", 4): now - 1200, ("fresh", 6): now - 60,
            ("home", 4): now - 600, ("home", 6): now - 5 * 3600 - 100,
        }
        self.address = {
            ("cabin", 4): "198.51.100.9", ("cabin", 6): "2001:db8:c::9",
            ("dslite", 4): "192.0.2.44", ("dslite", 6): "2001:db8:d::44",
            ("fresh", 4): "192.0.2.55", ("fresh", 6): "2001:db8:f::55",
            ("home", 4): "203.0.113.7", ("home", 6): "2001:db8::1",
        }
        fill_database(self.database, [
            (family, name, self.address[name, family], last_seen - 50, last_seen)
            for (name, family), last_seen in sorted(self.heard.items())])


class FamilyStalenessTest(FamilyStalenessCase):

    def test_text_marks_each_stale_family_on_its_own_line(self):
        self.assertAnswer("", 200, "".join(
            "%s ipv%d %s %s%s\n" % (name, family, self.address[name, family],
                                   utc(self.heard[name, family]), mark)
            for name, family, mark in [
                ("cabin", 4, " STALE"), ("cabin", 6, " STALE"), ("dslite", 4, " STALE"),
                ("dslite", 6, ""), ("fresh", 4, ""), ("fresh", 6, ""), ("home", 4, ""),
                ("home", 6, " STALE")]))

    def test_text_history_marks_the_newest_period_of_the_stale_family(self):
        self.assertAnswer("name=home&history=1", 200,
                          "home ipv4 203.0.113.7 %s %s 50s\n"
                          "home ipv6 2001:db8::1 %s %s 50s STALE\n" % (
                              utc(self.heard["home", 4] - 50), utc(self.heard["home", 4]),
                              utc(self.heard["home", 6] - 50), utc(self.heard["home", 6])))

    def test_json_says_the_state_of_the_name_and_of_each_family(self):
        _, _, body, _ = self.view("format=json")
        document = json.loads(body)
        self.assertEqual([(entry["name"], entry["stale"], entry["state"])
                          for entry in document["names"]],
                         [("cabin", True, "stale"), ("dslite", False, "family_stale"),
                          ("fresh", False, "ok"), ("home", False, "family_stale")])
        home = document["names"][3]
        self.assertEqual(home["families"], {
            "ipv4": {"address": "203.0.113.7", "last_heard": self.heard["home", 4],
                     "silent_s": document["generated"] - self.heard["home", 4],
                     "state": "ok"},
            "ipv6": {"address": "2001:db8::1", "last_heard": self.heard["home", 6],
                     "silent_s": document["generated"] - self.heard["home", 6],
                     "state": "stale"}})
        self.assertEqual(home["last_heard"], self.heard["home", 4])

    def test_json_says_what_the_servers_check_says(self):
        done = subprocess.run([support.PYTHON, support.SERVER, "check", "--json", "--config",
                               self.config], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=support.clean_env(), timeout=30)
        checked = json.loads(done.stdout.decode())["names"]
        _, _, body, _ = self.view("format=json")
        viewed = json.loads(body)["names"]

        def states(entries):  # silent_s aside: the two processes' clocks read apart
            return [(entry["name"], entry["state"], dict(
                (family, (each["address"], each["last_heard"], each["state"]))
                for family, each in entry["families"].items())) for entry in entries]
        self.assertEqual(states(viewed), states(checked))
        self.assertEqual([entry["state"] for entry in viewed],
                         ["stale", "family_stale", "ok", "family_stale"])

    def test_a_family_filter_keeps_the_names_state(self):
        _, _, body, _ = self.view("format=json&family=4&name=home")
        (entry,) = json.loads(body)["names"]
        self.assertEqual((entry["state"], entry["ipv6"], sorted(entry["families"])),
                         ("family_stale", None, ["ipv4", "ipv6"]))

    def test_html_summary_and_warning_name_the_quiet_family(self):
        _, _, body, _ = self.view("format=html")
        rows = re.findall(r'<tr class="([a-z_]+)"><td>(\w+)</td>.*?<td>([^<]+)</td></tr>', body)
        self.assertEqual(rows, [("stale", "cabin", "Stale"),
                                    ("family_stale", "dslite", "IPv4 stale"),
                                    ("ok", "fresh", "OK"),
                                    ("family_stale", "home", "IPv6 stale")])
        self.assertRegex(body, '<section class="family_stale">\n<h2>home</h2>\n<p class='
                               '"warning">&#9888; IPv6 stale: not heard for 5h0[12]m \\(more '
                               'than 3h00m\\), while IPv4 still reports\\.</p>\n<details open>')
        self.assertRegex(body, '<h2>dslite</h2>\n<p class="warning">&#9888; IPv4 stale: not '
                               'heard for 6h0[01]m \\(more than 3h00m\\), while IPv6 still '
                               'reports\\.</p>\n')
        self.assertEqual(body.count('class="warning"'), 3)  # cabin's is the name's own
        self.assertIn('<h2>cabin</h2>\n<p class="warning">&#9888; Stale: nothing heard', body)


class FormatIpChoiceTest(FamilyStalenessCase):
    """format=ip of a name heard in both families: IPv4, unless IPv4 has gone stale
    while IPv6 still reports; family=4|6 chooses. X-Ipupdate-Stale says whether the
    address given is of a stale family."""

    def assertAddress(self, query, address, stale):
        headers = self.assertAnswer("format=ip&" + query, 200, address + "\n")
        self.assertEqual(headers.get("x-ipupdate-stale"), "yes" if stale else None, query)

    def test_ipv4_when_both_report_even_if_ipv6_was_heard_last(self):
        self.assertAddress("name=fresh", "192.0.2.55", stale=False)
        self.assertAddress("name=home", "203.0.113.7", stale=False)

    def test_ipv6_when_ipv4_went_stale_and_ipv6_reports(self):
        self.assertAddress("name=dslite", "2001:db8:d::44", stale=False)

    def test_ipv4_and_the_stale_header_when_both_are_stale(self):
        self.assertAddress("name=cabin", "198.51.100.9", stale=True)

    def test_family_chooses_and_the_header_is_about_that_family(self):
        self.assertAddress("name=home&family=6", "2001:db8::1", stale=True)
        self.assertAddress("name=dslite&family=4", "192.0.2.44", stale=True)
        self.assertAddress("name=fresh&family=6", "2001:db8:f::55", stale=False)

    def test_the_command_line_warns_on_stderr_about_a_stale_address(self):
        done = subprocess.run([support.PYTHON, support.VIEWER, "--config", self.config,
                               "--name", "home", "--family", "6", "--format", "ip"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=support.clean_env(), timeout=30)
        self.assertEqual((done.returncode, done.stdout.decode(), done.stderr.decode()), (
            0, "2001:db8::1\n", "getip_cgi.py: warning: this address is stale (no update "
                                "for more than 3h00m)\n"))


if __name__ == "__main__":
    unittest.main()
