"""`ipupdate_server.py check`: which names went quiet, as a real process reads a
real database. Exit codes follow the monitoring-plugins convention."""

import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
import unittest

from tests import support
from tests.support import KEY, HOME_KEY, now

OFFICE_KEY = "office-key-3e9b27d1c04a6f58"
SCHEMA = ("CREATE TABLE {table} (id INTEGER PRIMARY KEY AUTOINCREMENT, ip VARCHAR, "
          "name VARCHAR, first_seen UNSIGNED INT, timestamp UNSIGNED INT)")
STALE_AGE_S = 3 * 3600 + 5 * 60 + 30    # shown as "3h05m" for the whole minute it takes


def utc(ts):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


class CheckHarness(object):

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="ipupdate-test-")
        self.addCleanup(shutil.rmtree, self.directory)
        self.database = os.path.join(self.directory, "ipupdate.sqlite")
        self.config = support.write_config(self.directory)

    def configure(self, body):
        self.config = support.write_config(self.directory, body=body)

    def store(self, name, address, ts, table="log_ipv4"):
        """A row as the server (or the original PHP server) leaves it."""
        connection = sqlite3.connect(self.database)
        connection.execute(SCHEMA.format(table="IF NOT EXISTS " + table))
        connection.execute("INSERT INTO %s (ip, name, first_seen, timestamp) "
                           "VALUES (?, ?, ?, ?)" % table, (address, name, ts - 600, ts))
        connection.commit()
        connection.close()

    def check(self, *options):
        """Run check; returns (exit code, stdout, stderr)."""
        done = subprocess.run([support.PYTHON, support.SERVER, "check", "--config",
                               self.config] + list(options), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=support.clean_env(), timeout=30)
        for text in (done.stdout, done.stderr):
            self.assertNotIn(KEY.encode(), text)
            self.assertNotIn(HOME_KEY.encode(), text)
        return done.returncode, done.stdout.decode(), done.stderr.decode()


class FreshNamesTest(CheckHarness, unittest.TestCase):

    def test_all_fresh_is_silent_and_exits_0(self):
        self.store("home", "198.51.100.4", now() - 90)
        self.assertEqual(self.check(), (0, "", ""))

    def test_verbose_prints_a_line_for_fresh_names_too(self):
        ts = now() - 90
        self.store("home", "198.51.100.4", ts)
        # 1m30s, or a few seconds more on a busy machine.
        self.assertRegex(self.check("--verbose")[1], r"^OK home: last heard %s UTC, 1m3\ds ago, "
                                                     r"from 198\.51\.100\.4\n$" % utc(ts))

    def test_both_families_fresh_is_ok_and_the_newest_is_shown(self):
        self.store("home", "198.51.100.4", now() - 600)
        ts = now() - 30
        self.store("home", "2001:db8::7", ts, "log_ipv6")
        status, out, errors = self.check("-v")
        # "30s ago", or a few seconds more on a busy machine: the point is the family.
        self.assertEqual((status, errors), (0, ""))
        self.assertRegex(out, r"^OK home: last heard %s UTC, 3[0-5]s ago, from 2001:db8::7\n$"
                         % re.escape(utc(ts)))

    def test_a_family_gone_quiet_while_the_other_reports_is_flagged(self):
        quiet = now() - STALE_AGE_S
        self.store("home", "2001:db8::7", quiet, "log_ipv6")
        self.store("home", "198.51.100.4", now() - 30)
        self.assertEqual(self.check(), (1, "STALE FAMILY home: ipv6 last heard %s UTC, 3h05m "
                                           "ago, from 2001:db8::7; ipv4 still reports\n"
                                        % utc(quiet), ""))
        names = json.loads(self.check("--json")[1])["names"]
        self.assertEqual([(entry["state"], entry["families"]["ipv6"]["state"],
                           entry["families"]["ipv4"]["state"]) for entry in names],
                         [("family_stale", "stale", "ok")])

    def test_silent_for_exactly_stale_after_is_not_yet_stale(self):
        self.configure("[ipupdate]\nsecret = %s\nstale_after = 1d\n" % KEY)
        self.store("lab", "192.0.2.1", now() - 86400 + 30)
        self.assertEqual(self.check(), (0, "", ""))


class StaleNamesTest(CheckHarness, unittest.TestCase):

    def test_stale_name_is_one_line_and_exit_1(self):
        ts = now() - STALE_AGE_S
        self.store("home", "198.51.100.4", ts)
        self.assertEqual(self.check(), (1, "STALE home: last heard %s UTC, 3h05m ago, from "
                                           "198.51.100.4\n" % utc(ts), ""))

    def test_only_stale_names_are_printed_problems_first(self):
        stale, fresh = now() - 2 * 86400 - 7200 - 30, now() - 60
        self.store("alpha", "192.0.2.1", fresh)
        self.store("home", "198.51.100.4", stale)
        self.store("", "192.0.2.9", stale)
        self.assertEqual(self.check(), (1, "STALE (unnamed): last heard %s UTC, 2d02h ago, "
                                           "from 192.0.2.9\n"
                                           "STALE home: last heard %s UTC, 2d02h ago, from "
                                           "198.51.100.4\n" % (utc(stale), utc(stale)), ""))
        code, text, _ = self.check("-v")
        self.assertRegex(text.splitlines()[2], r"^OK alpha: last heard %s UTC, 1m0\ds ago, "
                                               r"from 192\.0\.2\.1$" % utc(fresh))

    def test_stale_after_comes_from_the_config(self):
        self.configure("[ipupdate]\nsecret = %s\nstale_after = 10m\n" % KEY)
        ts = now() - 11 * 60 - 30
        self.store("lab", "192.0.2.1", ts)
        self.assertRegex(self.check()[1], r"^STALE lab: last heard %s UTC, 11m3\ds ago, from "
                                          r"192\.0\.2\.1\n$" % utc(ts))

    def test_the_newest_address_is_reported(self):
        self.store("home", "198.51.100.4", now() - 2 * STALE_AGE_S)
        ts = now() - STALE_AGE_S
        self.store("home", "198.51.100.77", ts)
        self.assertEqual(self.check()[1], "STALE home: last heard %s UTC, 3h05m ago, from "
                                          "198.51.100.77\n" % utc(ts))


class CheckAndViewerAgreeTest(CheckHarness, unittest.TestCase):
    """Both take a name's newest update from read_history(): its newest row (the
    highest id), which in the original's database need not hold MAX(timestamp)."""

    def test_on_an_original_database_both_name_the_newest_rows_address(self):
        ts = now() - STALE_AGE_S
        self.store("home", "198.51.100.4", ts)
        # The original accepted an older ts when the address changed: the newest
        # row is not the one with the largest timestamp.
        self.store("home", "198.51.100.77", ts - 3600)
        self.assertEqual(self.check()[1], "STALE home: last heard %s UTC, 4h05m ago, from "
                                          "198.51.100.77\n" % utc(ts - 3600))
        status, _, body, _, _ = support.run_cgi(support.VIEWER, self.config, method="GET",
                                                query="format=ip&name=home")
        self.assertEqual((status, body), (200, "198.51.100.77\n"))


class NeverHeardTest(CheckHarness, unittest.TestCase):

    def test_listed_name_without_updates_is_never_heard_exit_1(self):
        # write_config() lists 'home' in [names]; there is no database at all.
        self.assertEqual(self.check(), (1, "NEVER HEARD home: listed in the config, no "
                                           "update stored yet\n", ""))

    def test_name_with_only_a_hook_section_is_listed_too(self):
        self.configure("[ipupdate]\nsecret = %s\n\n[name:lab]\non_change =\n" % KEY)
        self.store("home", "198.51.100.4", now() - 60)
        self.assertEqual(self.check(), (1, "NEVER HEARD lab: listed in the config, no "
                                           "update stored yet\n", ""))


class NothingToWatchTest(CheckHarness, unittest.TestCase):

    def setUp(self):
        CheckHarness.setUp(self)
        self.configure("[ipupdate]\nsecret = %s\n" % KEY)

    def test_no_database_and_no_listed_names_is_ok(self):
        self.assertEqual(self.check(), (0, "", ""))
        self.assertFalse(os.path.exists(self.database))  # check never creates it

    def test_empty_database_file_is_ok(self):
        open(self.database, "w").close()
        self.assertEqual(self.check(), (0, "", ""))

    def test_database_with_empty_tables_is_ok(self):
        connection = sqlite3.connect(self.database)
        connection.execute(SCHEMA.format(table="log_ipv4"))
        connection.commit()
        connection.close()
        self.assertEqual(self.check("--json")[0], 0)

    def test_a_name_no_key_can_sign_is_retired_not_stale(self):
        self.configure("[names]\nhome = %s\n\n[ipupdate]\n" % HOME_KEY)
        self.store("home", "198.51.100.4", now() - 60)
        self.store("oldbox", "192.0.2.1", now() - 90 * 86400)  # signed by a removed secret
        self.assertEqual(self.check(), (0, "", ""))


class JsonTest(CheckHarness, unittest.TestCase):

    def test_json_lists_every_watched_name(self):
        self.configure("[ipupdate]\nsecret = %s\n\n[names]\nhome = %s\noffice = %s\n"
                       % (KEY, HOME_KEY, OFFICE_KEY))
        stale, fresh = now() - STALE_AGE_S, now() - 60
        self.store("home", "198.51.100.4", stale)
        self.store("lab", "2001:db8::7", fresh, "log_ipv6")
        code, text, errors = self.check("--json")
        self.assertEqual((code, errors), (1, ""))
        result = json.loads(text)
        checked_at = result["now"]
        self.assertTrue(fresh <= checked_at <= now())
        self.assertEqual(result, {
            "status": "WARNING", "exit_code": 1, "now": checked_at, "stale_after_s": 10800,
            "names": [
                {"name": "home", "state": "stale", "last_heard": stale,
                 "silent_s": checked_at - stale, "address": "198.51.100.4", "family": "ipv4",
                 "families": {"ipv4": {"state": "stale", "last_heard": stale,
                                       "silent_s": checked_at - stale,
                                       "address": "198.51.100.4"}}},
                {"name": "lab", "state": "ok", "last_heard": fresh,
                 "silent_s": checked_at - fresh, "address": "2001:db8::7", "family": "ipv6",
                 "families": {"ipv6": {"state": "ok", "last_heard": fresh,
                                       "silent_s": checked_at - fresh,
                                       "address": "2001:db8::7"}}},
                {"name": "office", "state": "never_heard", "last_heard": None,
                 "silent_s": None, "address": None, "family": None, "families": {}},
            ]})

    def test_json_when_all_is_well(self):
        self.configure("[ipupdate]\nsecret = %s\n" % KEY)
        code, text, _ = self.check("--json")
        result = json.loads(text)
        self.assertEqual((code, result["status"], result["exit_code"], result["names"]),
                         (0, "OK", 0, []))

    def test_json_for_a_broken_config(self):
        os.remove(self.config)
        code, text, errors = self.check("--json")
        self.assertEqual((code, errors), (3, ""))
        self.assertEqual(json.loads(text), {
            "status": "UNKNOWN", "exit_code": 3,
            "error": "cannot read config file %s: No such file or directory" % self.config})


class UnknownTest(CheckHarness, unittest.TestCase):
    """What the check cannot judge is UNKNOWN (3), never OK or CRITICAL."""

    def test_missing_config(self):
        os.remove(self.config)
        self.assertEqual(self.check(), (3, "UNKNOWN: cannot read config file %s: No such "
                                           "file or directory\n" % self.config, ""))

    def test_broken_config(self):
        self.configure("[ipupdate]\nsecret = %s\nstale_after = soon\n" % KEY)
        self.assertEqual(self.check(), (3, "UNKNOWN: stale_after must be a positive number "
                                           "of seconds (or with s, m, h, d)\n", ""))

    def test_unreadable_database(self):
        with open(self.database, "wb") as garbage:
            garbage.write(b"this is not an SQLite database, just text " * 40)
        code, text, errors = self.check()
        self.assertEqual((code, errors), (3, ""))
        self.assertEqual(text, "UNKNOWN: database %s: file is not a database\n"
                               % self.database)

    def test_wrong_command_line(self):
        code, text, errors = self.check("--no-such-option")
        self.assertEqual((code, text), (3, ""))
        self.assertIn("unrecognized arguments: --no-such-option", errors)

    def test_help_documents_the_exit_codes(self):
        done = subprocess.run([support.PYTHON, support.SERVER, "check", "--help"],
                              stdout=subprocess.PIPE, env=support.clean_env(), timeout=30)
        self.assertEqual(done.returncode, 0)
        text = done.stdout.decode()
        for line in ("  0  OK ", "  1  WARNING ", "  2  CRITICAL  not used", "  3  UNKNOWN ",
                     "crontab"):
            self.assertIn(line, text.replace("Crontab", "crontab"))


if __name__ == "__main__":
    unittest.main()


class DyndnsNamesAreWatchedTest(CheckHarness, unittest.TestCase):
    """A name only a router reports ([dyndns2], no key of the ipupdate protocol)
    is watched like any other: a quiet router must not leave the monitor green."""

    def test_a_dyndns2_name_is_never_heard_then_stale(self):
        self.configure("[ipupdate]\ndatabase = ipupdate.sqlite\n\n[dyndns2]\n"
                       "router.example.org = %s\n" % ("r" * 24))
        self.assertEqual(self.check(), (1, "NEVER HEARD router.example.org: listed in the "
                                           "config, no update stored yet\n", ""))
        quiet = now() - STALE_AGE_S
        self.store("router.example.org", "198.51.100.9", quiet)
        self.assertEqual(self.check(), (1, "STALE router.example.org: last heard %s UTC, 3h05m "
                                           "ago, from 198.51.100.9\n" % utc(quiet), ""))
