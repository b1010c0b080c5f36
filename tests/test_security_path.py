"""The defences a maintainer might "simplify" away, each held by a test that
fails if it goes: the window at its exact edges, the constant-time compare
deciding every secret check, X-Forwarded-For from a peer that is not a trusted
proxy, and BEGIN IMMEDIATE under many copies of one message at once.

tools/mutate.py applies such simplifications one at a time, in a copy of the
tree, and checks that some test fails for each; the tests here are the ones
its first run found missing. The pure functions are called as modules;
everything else runs as real processes on real sockets.
"""

import hmac
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import unittest
from unittest import mock

import getip_cgi
import ipupdate_server as server
import ipupdater as client
from tests import support
from tests.support import HOME_KEY, KEY, now, rows, sign, update_body

NONCE = "0123456789abcdef0123456789abcdef"
SPOOFED = "203.0.113.66"          # what a client claims in X-Forwarded-For
ROUTER_PW = "router-pw-4e8b1d6a0c3f2957"
VIEW_KEY = "view-key-2b7e5a9c1d4f8036"
COPIES = 16                       # identical messages sent at once
HOLD_S = 2.0                      # another writer holds the database this long


def reply_fields(text):
    return dict(pair.split("=", 1) for pair in text.split("&"))


class Recorder(object):
    """Stands in for hmac.compare_digest: calls the real one, records each
    call, and answers its result, or the opposite with flip=True (so a test
    sees that the result is what decides)."""

    def __init__(self, flip=False):
        self.real = hmac.compare_digest
        self.flip = flip
        self.calls = []

    def __call__(self, a, b):
        result = self.real(a, b)
        self.calls.append((a, b, result))
        return result != self.flip

    def patch(self):
        return mock.patch.object(hmac, "compare_digest", self)


def config_in(directory, *lines):
    """A config with the shared secret KEY, [names] home = HOME_KEY, then `lines`."""
    body = "\n".join(["[ipupdate]", "secret = " + KEY, "database = ipupdate.sqlite",
                      "[names]", "home = " + HOME_KEY] + list(lines)) + "\n"
    return support.write_config(directory, body)


class Workspace(object):
    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="ipupdate-test-")
        self.addCleanup(shutil.rmtree, self.directory)
        self.database = os.path.join(self.directory, "ipupdate.sqlite")


# ---------------------------------------------------------------------------
# The window: a message exactly window_s old or ahead is accepted, one second
# more is refused (a `>` turned `>=`, or an off-by-one, moves the edge).
# ---------------------------------------------------------------------------

class WindowIsInclusiveAtBothEdgesTest(unittest.TestCase):
    NOW = 1700000000
    WINDOW_S = 300

    def check(self, ts):
        server.check_window(ts, self.NOW, self.WINDOW_S)

    def test_a_message_exactly_window_s_old_is_accepted(self):
        self.check(self.NOW - self.WINDOW_S)

    def test_a_message_exactly_window_s_ahead_is_accepted(self):
        self.check(self.NOW + self.WINDOW_S)

    def test_a_message_at_the_server_clock_is_accepted(self):
        self.check(self.NOW)

    def test_a_message_one_second_older_than_the_window_is_refused(self):
        with self.assertRaises(server.Refused) as caught:
            self.check(self.NOW - self.WINDOW_S - 1)
        self.assertEqual(caught.exception.status, 403)
        self.assertIn("301 s behind", caught.exception.reason)

    def test_a_message_one_second_further_ahead_than_the_window_is_refused(self):
        with self.assertRaises(server.Refused) as caught:
            self.check(self.NOW + self.WINDOW_S + 1)
        self.assertEqual(caught.exception.status, 403)
        self.assertIn("301 s ahead", caught.exception.reason)


# ---------------------------------------------------------------------------
# Constant time: hmac.compare_digest is what compares every MAC, password and
# view key, and its answer is the one that counts. (A plain == gives the same
# answers, so only a test that watches the compare can tell them apart.)
# ---------------------------------------------------------------------------

class ServerMacIsComparedInConstantTimeTest(Workspace, unittest.TestCase):
    MESSAGE = "type=update&ip=127.0.0.1&name=home&ts=1700000000"

    def test_mac_matches_asks_compare_digest_and_says_what_it_says(self):
        right, wrong = sign(HOME_KEY, self.MESSAGE), sign(KEY, self.MESSAGE)
        recorder = Recorder()
        with recorder.patch():
            self.assertTrue(server.mac_matches(HOME_KEY, self.MESSAGE, right))
            self.assertFalse(server.mac_matches(HOME_KEY, self.MESSAGE, wrong))
        self.assertEqual([result for _, _, result in recorder.calls], [True, False])
        self.assertIn(right, recorder.calls[0][:2])

    def test_mac_matches_follows_compare_digest_when_it_says_the_opposite(self):
        right, wrong = sign(HOME_KEY, self.MESSAGE), sign(KEY, self.MESSAGE)
        with Recorder(flip=True).patch():
            self.assertFalse(server.mac_matches(HOME_KEY, self.MESSAGE, right))
            self.assertTrue(server.mac_matches(HOME_KEY, self.MESSAGE, wrong))

    def update(self, compare):
        """answer() for a correctly signed, fresh update from its own address."""
        config = server.load_config(config_in(self.directory))
        ts = now()
        fields = {"type": "update", "ip": "127.0.0.1", "name": "home", "ts": str(ts),
                  "h": sign(HOME_KEY, "type=update&ip=127.0.0.1&name=home&ts=%d" % ts)}
        with compare.patch():
            return server.answer(fields, "127.0.0.1", config, ts)

    def test_an_update_is_accepted_only_when_compare_digest_says_its_mac_matches(self):
        recorder = Recorder()
        self.assertEqual(self.update(recorder), (200, "OK: New IP updated"))
        self.assertTrue(recorder.calls)
        with self.assertRaises(server.Refused) as caught:
            self.update(Recorder(flip=True))
        self.assertEqual(caught.exception.status, 403)
        self.assertIn("authentication failed", caught.exception.reason)


class Dyndns2PasswordIsComparedInConstantTimeTest(Workspace, unittest.TestCase):

    def test_passwords_match_asks_compare_digest_and_says_what_it_says(self):
        recorder = Recorder()
        with recorder.patch():
            self.assertTrue(server.passwords_match(ROUTER_PW, ROUTER_PW))
            self.assertFalse(server.passwords_match(ROUTER_PW + "x", ROUTER_PW))
        self.assertEqual([result for _, _, result in recorder.calls], [True, False])
        with Recorder(flip=True).patch():
            self.assertFalse(server.passwords_match(ROUTER_PW, ROUTER_PW))

    def nic_update(self, compare, password):
        config = server.load_config(config_in(
            self.directory, "[dyndns2]", "router.example.org = " + ROUTER_PW))
        import ipupdate_dyndns2
        with compare.patch():
            return ipupdate_dyndns2.answer({"hostname": "router.example.org"}, password,
                                           "127.0.0.1", config, now(), lambda *change: None)

    def test_the_right_password_updates_only_when_compare_digest_says_so(self):
        recorder = Recorder()
        self.assertEqual([line for line, _ in self.nic_update(recorder, ROUTER_PW)],
                         ["good 127.0.0.1"])
        self.assertTrue(recorder.calls)
        import ipupdate_dyndns2
        with self.assertRaises(ipupdate_dyndns2.Dyndns2Refused) as caught:
            self.nic_update(Recorder(flip=True), ROUTER_PW)
        self.assertEqual(caught.exception.code, "badauth")

    def test_a_wrong_password_is_refused_by_compare_digest_not_by_anything_else(self):
        import ipupdate_dyndns2
        with self.assertRaises(ipupdate_dyndns2.Dyndns2Refused):
            self.nic_update(Recorder(), "not-the-router-password")
        results = self.nic_update(Recorder(flip=True), "not-the-router-password")
        self.assertEqual([line for line, _ in results], ["good 127.0.0.1"])


class ViewKeyIsComparedInConstantTimeTest(unittest.TestCase):

    def test_the_view_key_is_accepted_only_when_compare_digest_says_so(self):
        recorder = Recorder()
        with recorder.patch():
            getip_cgi.check_view_key(VIEW_KEY, VIEW_KEY, "")
        self.assertEqual([result for _, _, result in recorder.calls], [True])
        with Recorder(flip=True).patch():
            with self.assertRaises(server.Refused) as caught:
                getip_cgi.check_view_key(VIEW_KEY, VIEW_KEY, "")
        self.assertEqual(caught.exception.status, 401)

    def test_a_wrong_view_key_is_refused_by_compare_digest_not_by_anything_else(self):
        with Recorder().patch():
            with self.assertRaises(server.Refused):
                getip_cgi.check_view_key(VIEW_KEY, "not-the-view-key", "")
        with Recorder(flip=True).patch():
            getip_cgi.check_view_key(VIEW_KEY, "not-the-view-key", "")


class ClientChecksTheReplyMacInConstantTimeTest(unittest.TestCase):
    TS = "1700000000"

    def reply(self, key):
        message = "ip=192.0.2.1&ts=%s&nonce=%s&now=1700000001" % (self.TS, NONCE)
        return message + "&h=" + sign(key, message)

    def test_a_genuine_reply_is_believed_only_when_compare_digest_says_so(self):
        recorder = Recorder()
        with recorder.patch():
            self.assertEqual(client.check_ip_reply(KEY, self.reply(KEY), self.TS, NONCE),
                             ("192.0.2.1", 1700000001))
        self.assertEqual([result for _, _, result in recorder.calls], [True])
        with Recorder(flip=True).patch():
            with self.assertRaises(client.Failure):
                client.check_ip_reply(KEY, self.reply(KEY), self.TS, NONCE)

    def test_a_forged_reply_is_refused_by_compare_digest_not_by_anything_else(self):
        forged = self.reply("a-key-the-forger-has-9f3e1d")
        with Recorder().patch():
            with self.assertRaises(client.Failure):
                client.check_ip_reply(KEY, forged, self.TS, NONCE)
        with Recorder(flip=True).patch():
            self.assertEqual(client.check_ip_reply(KEY, forged, self.TS, NONCE)[0],
                             "192.0.2.1")


# ---------------------------------------------------------------------------
# A name no key signs (no shared secret, not in [names]) is answered as a wrong
# MAC would be, with a key nobody has: never with a key anybody can compute.
# ---------------------------------------------------------------------------

class ANameWithoutAKeyIsSignedByNoKeyAnyoneHasTest(Workspace, unittest.TestCase):
    GUESSES = ("", "0" * 64, KEY)

    def setUp(self):
        Workspace.setUp(self)
        body = "\n".join(["[ipupdate]", "database = ipupdate.sqlite",
                          "[names]", "home = " + HOME_KEY]) + "\n"
        self.config = server.load_config(support.write_config(self.directory, body))

    def test_an_update_signed_with_a_guessable_key_is_refused_and_not_recorded(self):
        ts = now()
        for guess in self.GUESSES:
            fields = {"type": "update", "ip": "127.0.0.1", "name": "stranger", "ts": str(ts),
                      "h": sign(guess, "type=update&ip=127.0.0.1&name=stranger&ts=%d" % ts)}
            with self.assertRaises(server.Refused) as caught:
                server.answer(fields, "127.0.0.1", self.config, ts)
            self.assertEqual(caught.exception.status, 403, guess)
        self.assertEqual(rows(self.database), [])

    def test_its_address_reply_is_not_signed_with_a_guessable_key(self):
        ts = now()
        fields = {"type": "ip", "ts": str(ts), "nonce": NONCE, "name": "stranger"}
        status, text = server.answer(fields, "127.0.0.1", self.config, ts)
        self.assertEqual(status, 200)
        message, _, mac = text.rpartition("&h=")
        for guess in self.GUESSES:
            self.assertNotEqual(mac, sign(guess, message), guess)


# ---------------------------------------------------------------------------
# X-Forwarded-For is believed only from a trusted proxy. Under `serve` the
# peer is 127.0.0.1: not a proxy when none is configured, nor when the trusted
# range is another one.
# ---------------------------------------------------------------------------

class ForwardedForFromAnUntrustedPeerIsIgnoredTest(Workspace, unittest.TestCase):
    proxy_lines = ()

    def setUp(self):
        Workspace.setUp(self)
        lines = ["[ipupdate]", "secret = " + KEY, "database = ipupdate.sqlite"]
        lines += list(self.proxy_lines) + ["[names]", "home = " + HOME_KEY]
        config = support.write_config(self.directory, "\n".join(lines) + "\n")
        self.server = support.LocalServer(config)
        self.addCleanup(self.server.stop)

    def post(self, body, forwarded_for):
        status, _, text = support.http_request(
            self.server.host, self.server.port, body=body,
            headers={"X-Forwarded-For": forwarded_for})
        return status, text

    def test_the_signed_address_is_the_peer_not_the_header(self):
        status, text = self.post("type=ip&ts=%d&nonce=%s&name=home" % (now(), NONCE), SPOOFED)
        self.assertEqual(status, 200, text)
        self.assertEqual(reply_fields(text)["ip"], "127.0.0.1")

    def test_an_update_signed_for_the_header_address_is_refused_and_not_recorded(self):
        status, text = self.post(update_body(SPOOFED, "home", now(), HOME_KEY), SPOOFED)
        self.assertEqual(status, 403, text)
        self.assertIn("not the address this request comes from (127.0.0.1)", text)
        self.assertEqual(rows(self.database), [])

    def test_an_update_from_the_peer_itself_is_still_recorded(self):
        status, text = self.post(update_body("127.0.0.1", "home", now(), HOME_KEY), SPOOFED)
        self.assertEqual((status, text), (200, "OK: New IP updated"))
        self.assertEqual([row[:2] for row in rows(self.database)], [("127.0.0.1", "home")])


class ForwardedForFromAPeerOutsideTheTrustedProxiesIsIgnoredTest(
        ForwardedForFromAnUntrustedPeerIsIgnoredTest):
    """trusted_proxies is set, but 127.0.0.1 is not in it: a single-entry
    header from it is the client's own claim."""

    proxy_lines = ("trusted_proxies = 192.0.2.0/24",)


# ---------------------------------------------------------------------------
# BEGIN IMMEDIATE: the replay check and the write are one step, so of many
# copies of one message sent at once exactly one is accepted, and none finds
# the database locked.
# ---------------------------------------------------------------------------

class OneOfManyIdenticalUpdatesIsAcceptedTest(Workspace, unittest.TestCase):

    def setUp(self):
        Workspace.setUp(self)
        self.config = config_in(self.directory)
        # The tables exist already, as on any server after its first update:
        # creating them would take the write lock early, BEGIN IMMEDIATE or not.
        first = support.run_cgi(support.SERVER, self.config,
                                update_body("127.0.0.1", "office", now() - 1, KEY))
        self.assertEqual(first[:3:2], (200, "OK: New IP updated"), first)
        self.body = update_body("127.0.0.1", "home", now(), HOME_KEY).encode()

    def assert_exactly_one_accepted(self, answers):
        statuses = sorted(status for status, _ in answers)
        self.assertEqual(statuses, [200] + [409] * (COPIES - 1), answers)
        self.assertEqual([text for status, text in answers if status == 200],
                         ["OK: New IP updated"])
        for status, text in answers:
            if status == 409:
                self.assertIn("replayed or out-of-order message", text)
        self.assertEqual([row[:2] for row in rows(self.database)],
                         [("127.0.0.1", "office"), ("127.0.0.1", "home")])

    def test_through_cgi_processes_at_once(self):
        """While another writer holds the database, the copies arrive and wait;
        when it lets go, they all go for the write at once. Under a deferred
        BEGIN each would have read the replay floor before waiting (so all
        see none), and all but one then find the database locked: 503s."""
        other_writer = sqlite3.connect(self.database, isolation_level=None)
        self.addCleanup(other_writer.close)
        other_writer.execute("BEGIN IMMEDIATE")
        answers = []

        def send():
            status, _, text, _, _ = support.run_cgi(support.SERVER, self.config, self.body)
            answers.append((status, text))

        threads = [threading.Thread(target=send) for _ in range(COPIES)]
        for thread in threads:
            thread.start()
        time.sleep(HOLD_S)  # until every copy has started and is waiting
        other_writer.execute("ROLLBACK")
        for thread in threads:
            thread.join(60)
        self.assertEqual(len(answers), COPIES)
        self.assert_exactly_one_accepted(answers)

    def test_through_serve_threads_at_once(self):
        local = support.LocalServer(self.config)
        self.addCleanup(local.stop)
        barrier = threading.Barrier(COPIES)
        answers = []

        def send():
            barrier.wait()
            status, _, text = support.http_request(local.host, local.port, body=self.body)
            answers.append((status, text))

        threads = [threading.Thread(target=send) for _ in range(COPIES)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertEqual(len(answers), COPIES)
        self.assert_exactly_one_accepted(answers)


if __name__ == "__main__":
    unittest.main()
