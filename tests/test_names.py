"""A name is one name, whatever its letter case (DNS ignores case, and so must we),
and a name's key also guards the names below it. Real CGI executions of the
server and the viewer, and the real `check` command."""

import os
import stat
import subprocess
import unittest

from tests import support
from tests.test_check import CheckHarness
from tests.support import KEY, HOME_KEY, now, rows, update_body

AUTH_FAILED = ("Error: authentication failed: wrong key for this name, "
               "or the message was altered")
RECORDING_HOOK = """#!%s
import sys
with open(%r, "a") as record:
    record.write(" ".join(sys.argv[1:]) + "\\n")
"""


class NamesHarness(CheckHarness):
    """check's harness (a config, a database, rows as the original left them),
    and updates through a real CGI execution."""

    def update(self, name, key, ts=None, address="127.0.0.1"):
        status, _, body, log, _ = support.run_cgi(
            support.SERVER, self.config, update_body(address, name, now() if ts is None else ts,
                                                     key))
        return status, body, log


class OneNameWhateverItsCaseTest(NamesHarness, unittest.TestCase):

    def test_the_shared_secret_cannot_sign_another_spelling_of_a_keyed_name(self):
        for spelling in ("HOME", "Home", "hOmE"):
            self.assertEqual(self.update(spelling, KEY)[:2], (403, AUTH_FAILED), spelling)
        self.assertEqual(rows(self.database), [])

    def test_the_names_key_signs_any_spelling_and_the_canonical_one_is_stored(self):
        ts = now()
        self.assertEqual(self.update("HOME", HOME_KEY, ts)[:2], (200, "OK: New IP updated"))
        self.assertEqual(rows(self.database), [("127.0.0.1", "home", ts, ts)])

    def test_the_replay_floor_is_shared_by_every_spelling(self):
        ts = now()
        self.assertEqual(self.update("home", HOME_KEY, ts)[:2], (200, "OK: New IP updated"))
        status, body, _ = self.update("Home", HOME_KEY, ts)
        self.assertEqual(status, 409, body)
        self.assertEqual(rows(self.database), [("127.0.0.1", "home", ts, ts)])

    def test_an_old_database_with_two_spellings_continues_as_one_name(self):
        ts = now()
        self.store("Home", "192.0.2.1", ts - 100)
        status, body, _ = self.update("home", HOME_KEY, ts - 100)
        self.assertEqual(status, 409, body)  # the floor counts the other spelling's rows
        self.assertEqual(self.update("home", HOME_KEY, ts)[:2], (200, "OK: New IP updated"))

    def test_name_sections_apply_to_every_spelling_and_hooks_get_the_canonical_one(self):
        record = os.path.join(self.directory, "runs")
        hook = os.path.join(self.directory, "hook")
        with open(hook, "w") as hook_file:
            hook_file.write(RECORDING_HOOK % (support.PYTHON, record))
        os.chmod(hook, stat.S_IRWXU)
        self.configure("[ipupdate]\nsecret = %s\ndatabase = ipupdate.sqlite\n\n"
                       "[names]\nHome = %s\n\n[name:HOME]\non_change = hook\n"
                       % (KEY, HOME_KEY))
        self.assertEqual(self.update("hOME", HOME_KEY)[:2], (200, "OK: New IP updated"))
        with open(record) as runs:
            self.assertEqual(runs.read(), "home ipv4  127.0.0.1\n")

    def test_two_keys_for_one_name_in_two_spellings_are_a_config_error(self):
        self.configure("[ipupdate]\ndatabase = ipupdate.sqlite\n\n[names]\nhome = %s\n"
                       "HOME = %s\n" % (HOME_KEY, KEY))
        status, body, log = self.update("home", HOME_KEY)
        self.assertEqual((status, body), (500, "Error: server not configured"))
        self.assertIn("differ only in letter case", log)
        self.assertNotIn(HOME_KEY, log)
        self.assertNotIn(KEY, log)

    def test_the_viewer_and_check_show_one_name_per_case_folded_form(self):
        ts = now()
        self.store("Home", "192.0.2.1", ts - 50)
        self.store("HOME", "192.0.2.2", ts - 10)
        self.store("office", "192.0.2.3", ts - 5)
        status, _, body, _, _ = support.run_cgi(support.VIEWER, self.config, method="GET",
                                                query="format=text")
        self.assertEqual(status, 200, body)
        self.assertEqual([line.split()[:3] for line in body.splitlines()],
                         [["home", "ipv4", "192.0.2.2"], ["office", "ipv4", "192.0.2.3"]])
        done = subprocess.run([support.PYTHON, support.SERVER, "check", "--config",
                               self.config, "--verbose"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=support.clean_env(), timeout=30)
        self.assertEqual([line.split()[:2] for line in done.stdout.decode().splitlines()],
                         [["OK", "home:"], ["OK", "office:"]])
        self.assertIn("from 192.0.2.2", done.stdout.decode())


class NamesBelowAKeyedNameTest(NamesHarness, unittest.TestCase):

    def test_the_shared_secret_cannot_create_a_name_below_a_keyed_name(self):
        for name in ("x.home", "a.b.HOME"):
            self.assertEqual(self.update(name, KEY)[:2], (403, AUTH_FAILED), name)
        self.assertEqual(rows(self.database), [])

    def test_the_keyed_names_key_signs_the_names_below_it(self):
        ts = now()
        self.assertEqual(self.update("pi.home", HOME_KEY, ts)[:2], (200, "OK: New IP updated"))
        self.assertEqual(rows(self.database), [("127.0.0.1", "pi.home", ts, ts)])

    def test_a_name_that_only_ends_like_a_keyed_name_is_not_below_it(self):
        self.assertEqual(self.update("myhome", KEY)[:2], (200, "OK: New IP updated"))


class RefusalsDoNotTellWhichNamesExistTest(NamesHarness, unittest.TestCase):

    def setUp(self):
        NamesHarness.setUp(self)
        # No shared secret: only 'home' has a key.
        self.configure("[ipupdate]\ndatabase = ipupdate.sqlite\n\n[names]\nhome = %s\n"
                       % HOME_KEY)

    def test_an_update_for_an_unknown_name_is_answered_as_a_wrong_mac(self):
        unknown = self.update("nosuchname", HOME_KEY)[:2]
        wrong_mac = self.update("home", KEY)[:2]
        self.assertEqual(unknown, wrong_mac)
        self.assertEqual(unknown, (403, AUTH_FAILED))

    def test_an_address_request_for_an_unknown_name_looks_like_any_other(self):
        answers = {}
        for name in ("home", "nosuchname"):
            status, _, body, _, _ = support.run_cgi(
                support.SERVER, self.config, "type=ip&ts=%d&nonce=%s&name=%s"
                % (now(), "ab" * 16, name))
            answers[name] = (status, sorted(dict(
                pair.split("=", 1) for pair in body.split("&"))))
        self.assertEqual(answers["home"], answers["nosuchname"])
        self.assertEqual(answers["home"][0], 200)


if __name__ == "__main__":
    unittest.main()
