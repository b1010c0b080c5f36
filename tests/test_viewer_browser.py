"""The html page in a real browser (headless Chromium), as wide as a phone
(360 px) and as a desktop (1280 px): the page is no wider than its viewport,
and no address or time is broken across lines.

The viewer's real answer to a CGI GET is copied, with a short script appended
that opens every <details>, measures, and writes the figures into the page
around it; `chromium --headless --dump-dom` prints that page. The viewer's
page sits in an iframe of the width under test, because a headless window is
never narrower than 500 px. (The copy is a file: the viewer's
Content-Security-Policy, a header, which allows no script, does not reach it.)

Without Chromium these tests are skipped, saying why, unless
IPUPDATE_REQUIRE_WEBSERVERS=1 (CI sets it): then its absence fails them.
"""

import html
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

from tests import support
from tests.support import ViewerTestCase, fill_database

REQUIRE = os.environ.get("IPUPDATE_REQUIRE_WEBSERVERS") == "1"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
LONGEST_IPV6 = "2a02:8109:b6c0:1a00:e5f1:2b3c:4d5e:6f70"   # 39 characters, no zeros to drop
LONG_NAME = "router-in-the-garden-shed.home.example.org"

# Appended to the viewer's page: the figures, as JSON, into the page around it.
MEASURE = """<script>
for (const details of document.querySelectorAll("details")) details.open = true;
const root = document.documentElement, broken = [], outside = [];
const words = document.querySelectorAll("code, time");
for (const element of words) {
  const lines = element.getClientRects();
  if (lines.length !== 1) broken.push(element.textContent);
  if (lines.length && lines[lines.length - 1].right > root.clientWidth)
    outside.push(element.textContent);
}
parent.document.getElementById("measured").textContent = JSON.stringify({
  scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, innerWidth: innerWidth,
  words: words.length, broken: broken, outside: outside,
  header: getComputedStyle(document.querySelector("thead")).display});
</script>
"""
FRAME = ('<!DOCTYPE html>\n<html><body style="margin:0"><pre id="measured">not measured</pre>'
         '<iframe style="border:0" width="%d" height="800" srcdoc="%s"></iframe></body></html>\n')


def browser():
    """The path of Chromium, or skip (fail when required)."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    reason = "no headless browser: none of %s is installed (Debian: apt-get install " \
             "chromium)" % ", ".join(BROWSERS)
    if REQUIRE:
        raise AssertionError(reason + " (required: IPUPDATE_REQUIRE_WEBSERVERS=1)")
    sys.stderr.write("\ntest_viewer_browser: skipped: %s\n" % reason)
    raise unittest.SkipTest(reason)


class PageLayoutTest(ViewerTestCase):
    """A worst case for width: the longest IPv6 address (and via dyndns2), a long
    name, a family gone quiet, a stale name, refusals, a folded history."""
    settings = {"timezone": "Europe/Berlin"}

    def setUp(self):
        self.chromium = browser()
        ViewerTestCase.setUp(self)
        now = int(time.time())
        rows = [(4, "home", "203.0.113.%d" % hour, now - hour * 3600 - 3000,
                 now - hour * 3600) for hour in range(12, 0, -1)]
        rows += [(6, "home", LONGEST_IPV6, now - 400 * 86400, now - 5 * 3600),
                 (4, LONG_NAME, "198.51.100.200", now - 3 * 86400, now - 2 * 86400),
                 (6, LONG_NAME, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", now - 86400,
                  now - 86400)]
        fill_database(self.database, rows)
        connection = sqlite3.connect(self.database)
        connection.execute("ALTER TABLE log_ipv6 ADD COLUMN source VARCHAR")
        connection.execute("UPDATE log_ipv6 SET source = 'dyndns2' WHERE name = 'home'")
        if support.ROOT not in sys.path:
            sys.path.insert(0, support.ROOT)
        import ipupdate_server  # for REFUSED_SCHEMA
        connection.executescript(ipupdate_server.REFUSED_SCHEMA)
        connection.executemany("INSERT INTO refused (time, source, peer, name, status, reason) "
                               "VALUES (?, '192.0.2.9', '192.0.2.9', 'home', 403, 'test')",
                               [(now - 60,), (now - 120,)])
        connection.commit()
        connection.close()
        status, _, self.page, stderr = self.view("format=html")
        self.assertEqual(status, 200, stderr)

    def measure(self, page, width):
        """The figures MEASURE takes of `page` in an iframe `width` px wide."""
        directory = tempfile.mkdtemp(prefix="viewer-browser-")
        self.addCleanup(shutil.rmtree, directory)
        frame = os.path.join(directory, "frame.html")
        with open(frame, "w", encoding="utf-8") as frame_file:
            frame_file.write(FRAME % (width, html.escape(
                page.replace("</body>", MEASURE + "</body>"))))
        command = [self.chromium, "--headless", "--disable-gpu", "--hide-scrollbars",
                   "--no-first-run", "--user-data-dir=" + os.path.join(directory, "profile"),
                   "--window-size=1400,900", "--dump-dom", "file://" + frame]
        if os.geteuid() == 0:
            command.insert(1, "--no-sandbox")  # Chromium will not run as root with it
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=120)
        found = re.search(r'<pre id="measured">(.*?)</pre>', done.stdout.decode())
        self.assertTrue(found, done.stderr.decode()[-2000:])
        self.assertNotEqual(found.group(1), "not measured", "the script did not run")
        return json.loads(html.unescape(found.group(1)))

    def assertFits(self, width, header):
        measured = self.measure(self.page, width)
        self.assertEqual(measured["innerWidth"], width)
        self.assertLessEqual(measured["scrollWidth"], measured["clientWidth"], measured)
        self.assertEqual((measured["broken"], measured["outside"]), ([], []))
        self.assertEqual(measured["words"], self.page.count("<code>") + self.page.count(
            "<time "))
        self.assertEqual(measured["header"], header)  # a phone's table rows read as lines

    def test_the_worst_case_page_has_what_it_is_meant_to_show(self):
        for expected in (LONGEST_IPV6 + "</code> <small>(via dyndns2)</small>", LONG_NAME,
                         "IPv6 stale", "Stale", "2 refused update attempts",
                         "<details>\n<summary>History: 11 periods"):
            self.assertIn(expected, self.page)

    def test_on_a_phone_nothing_overflows_and_no_address_or_time_breaks(self):
        self.assertFits(360, "none")

    def test_on_a_desktop_nothing_overflows_and_no_address_or_time_breaks(self):
        self.assertFits(1280, "table-header-group")

    def test_the_measure_catches_a_page_too_wide_and_an_address_broken(self):
        wide = "<p><code>%s</code></p>\n" % ("x" * 80)
        broken = '<p style="width:4em"><code style="white-space:normal">2001 db8 1</code></p>\n'
        measured = self.measure(self.page.replace("<footer>", wide + broken + "<footer>"), 360)
        self.assertGreater(measured["scrollWidth"], measured["clientWidth"])
        self.assertEqual((measured["broken"], measured["outside"]), (["2001 db8 1"], ["x" * 80]))


if __name__ == "__main__":
    unittest.main()
