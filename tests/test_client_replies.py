"""The client against replies it must not trust, run as a real process:
forged, replayed, stale, in the original's legacy form, or refusals. After
any of them nothing may be sent.
"""

import time
import unittest
import urllib.parse

try:
    from tests import support
except ImportError:  # run from inside tests/ (unittest discover -s tests)
    import support

AUTH_FAILED = ("ipupdater: the address reply fails authentication: wrong password (for "
               "this name), or someone on the path altered the reply; nothing was sent\n")
REPLAYED = ("ipupdater: the address reply is signed but answers another request (its ts "
            "or nonce is not the one sent): a replayed reply; nothing was sent\n")
DOWNGRADED = ("ipupdater: the address reply is in the original ipupdate.php's form, without "
              "the nonce sent: pass --legacy if the server really is the original "
              "ipupdate.php; nothing was sent\n")

# ---------------------------------------------------------------------------
# Replies the real server never gives: nothing may be sent after them.
# ---------------------------------------------------------------------------

class TestBadReplies(support.ClientCase):

    def refused_before_update(self, respond, code, err=None, *args):
        fake = self.fake(respond)
        result = self.run_against(fake, *args)
        self.assertEqual(result[:2], (code, ""))
        self.assert_one_error_line(result[2])
        if err is not None:
            self.assertEqual(result[2], err)
        self.assertEqual(fake.types(), ["ip"])
        return result[2]

    def test_reply_signed_with_another_key(self):
        self.refused_before_update(
            lambda request: (200, [], support.signed_reply(request.fields, key=support.WRONG_KEY)),
            4, AUTH_FAILED)

    def test_reply_with_another_nonce(self):
        self.refused_before_update(
            lambda request: (200, [], support.signed_reply(request.fields, nonce="ab" * 16)),
            4, REPLAYED)

    def test_reply_with_another_ts(self):
        self.refused_before_update(
            lambda request: (200, [], support.signed_reply(
                request.fields, ts=str(int(request.fields["ts"]) - 1))),
            4, REPLAYED)

    def test_reply_whose_time_was_altered(self):
        now = int(time.time())
        self.refused_before_update(
            lambda request: (200, [], support.signed_reply(request.fields, now=now - 3600,
                                                   signed_now=now)),
            4, AUTH_FAILED)

    def test_reply_whose_address_was_altered(self):
        def respond(request):
            return 200, [], support.signed_reply(request.fields).replace("127.0.0.1", "203.0.113.9")
        self.refused_before_update(respond, 4, AUTH_FAILED)

    def test_html_page(self):
        self.refused_before_update(
            lambda request: (200, [], "<html><body>Welcome to nginx!</body></html>"), 4,
            "ipupdater: the answer to the address request is not an ipupdate reply (an HTML "
            "page): wrong URL, or something else answered; nothing was sent\n")

    def test_missing_fields(self):
        self.refused_before_update(
            lambda request: (200, [], "ip=127.0.0.1&ts=%s" % request.fields["ts"]), 4)

    def test_server_error(self):
        self.refused_before_update(
            lambda request: (500, [], "Error: server not configured"), 5,
            "ipupdater: the server refused the address request (HTTP 500): Error: server not "
            "configured: look at the server's error log, or run 'ipupdate_server.py check' "
            "there\n")

    def test_error_in_a_200_as_the_original_answers(self):
        self.refused_before_update(
            lambda request: (200, [], "Error: Invalid request"), 5,
            "ipupdater: the server refused the address request: Error: Invalid request\n")

    def test_redirect_is_not_followed(self):
        fake = self.fake(lambda request: (302, [("Location", "http://127.0.0.1:%d/elsewhere"
                                                 % fake.port)], ""))
        code, out, err = self.run_against(fake)
        self.assertEqual((code, out), (5, ""))
        self.assertEqual(err, "ipupdater: the server redirects the address request (HTTP 302) "
                              "to http://127.0.0.1:%d/elsewhere; not followed: if that is the "
                              "right place, give it with --url\n" % fake.port)
        self.assertEqual(fake.types(), ["ip"])   # a followed redirect would be a second one

    def test_unavailable_server_is_retried_then_a_network_failure(self):
        fake = self.fake(lambda request: (503, [], "Error: database unavailable"))
        code, out, err = self.run_against(fake, "--retries", "1")
        self.assertEqual((code, out), (3, ""))
        self.assertEqual(err, "ipupdater: the server is unavailable for the address request "
                              "(HTTP 503): Error: database unavailable\n")
        self.assertEqual(fake.types(), ["ip", "ip"])


class TestUpdateAnswers(support.ClientCase):
    """The address reply is fine; what the server says to the update counts."""

    def answering(self, status, body, now=None):
        """`body`: text, or a function of the update's fields."""
        def respond(request):
            if request.fields["type"] == "ip":
                return 200, [], support.signed_reply(request.fields, now=now)
            return status, [], body(request.fields) if callable(body) else body
        return self.fake(respond)

    def test_refusal_is_reported_and_never_retried(self):
        fake = self.answering(409, "Error: replayed or out-of-order message")
        code, out, err = self.run_against(fake, "--retries", "2")
        self.assertEqual((code, out, err), (5, "", "ipupdater: the server refused the update "
                                                   "(HTTP 409): Error: replayed or "
                                                   "out-of-order message (unsigned)\n"))
        self.assertEqual(fake.types(), ["ip", "update"])

    def test_a_signed_refusal_says_which_check_it_was(self):
        for outcome, status in (("replayed", 409), ("out_of_window", 403),
                                ("wrong_address", 403)):
            fake = self.answering(status, lambda fields: support.outcome_answer(
                fields, outcome, line="Error: refused"))
            self.assertEqual(self.run_against(fake), (5, "", (
                "ipupdater: the server refused the update (HTTP %d): Error: refused (signed by "
                "the server: %s)\n" % (status, outcome))))

    def test_error_in_a_200_as_the_original_answers_is_a_refusal(self):
        fake = self.answering(200, "Error: Invalid hash")
        self.assertEqual(self.run_against(fake), (
            5, "", "ipupdater: the server refused the update: Error: Invalid hash (unsigned)\n"))

    def test_update_carries_the_signed_fields(self):
        fake = self.answering(200, support.outcome_answer)
        self.assertEqual(self.run_against(fake, "-n", "box"),
                         (0, "box: 127.0.0.1 -> OK: New IP updated\n", ""))
        update = fake.requests[1]
        self.assertEqual(sorted(update), ["h", "ip", "name", "nonce", "ts", "type"])
        self.assertRegex(update["nonce"], r"^[0-9a-f]{32}$")
        self.assertNotEqual(update["nonce"], fake.requests[0]["nonce"])
        self.assertEqual(update["h"], support.sign(
            support.KEY, "type=update&ip=127.0.0.1&name=box&ts=" + update["ts"]))
        self.assertEqual(sorted(fake.requests[0]), ["name", "nonce", "ts", "type"])
        self.assertEqual(len(fake.requests[0]["nonce"]), 32)

    def test_update_is_dated_by_the_servers_time_and_the_clock_said_once(self):
        server_now = int(time.time()) + 5000
        note = "ipupdater: local clock is 1 h 23 min behind the server; using the server's time\n"
        fake = self.answering(200, lambda fields: support.outcome_answer(
            fields, "unchanged", now=server_now), now=server_now)
        self.assertEqual(self.run_against(fake), (0, "127.0.0.1 -> OK: Timestamp updated\n",
                                                  note))
        self.assertIn(int(fake.requests[1]["ts"]), (server_now, server_now + 1))
        self.assertEqual(self.run_against(fake, "-q"), (0, "", ""))  # cron mails nothing
        fake = self.answering(409, "Error: replayed or out-of-order message", now=server_now)
        self.assertEqual(self.run_against(fake, "-q"), (5, "", (
            "ipupdater: the server refused the update (HTTP 409): Error: replayed or "
            "out-of-order message (unsigned)\n" + note)))  # failed: now it is worth saying


class TestReplayedReply(support.RealServerCase):
    """A proxy records a genuine reply of the real server, then replays it."""

    def test_a_recorded_reply_is_refused_next_time(self):
        recorded = []

        def respond(request):
            if request.fields["type"] == "ip" and recorded:
                return 200, [], recorded[0]           # the replay
            status, _, body = support.http_request(self.server.host, self.server.port,
                                                   body=request.body)
            if request.fields["type"] == "ip":
                recorded.append(body)
            return status, [], body

        proxy = self.fake(respond)
        self.assertEqual(self.client("--url", proxy.url, "-n", "home", "-p", support.HOME_KEY),
                         (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))
        rows_before = support.rows(self.database)
        support.wait_for_next_second()
        code, out, err = self.client("--url", proxy.url, "-n", "home", "-p", support.HOME_KEY)
        self.assertEqual((code, out, err), (4, "", REPLAYED))
        self.assertEqual(proxy.types(), ["ip", "update", "ip"])
        self.assertEqual(support.rows(self.database), rows_before)


class TestLegacyServer(support.RealServerCase):
    """A server that answers as the original ipupdate.php: the address reply
    without nonce or time (faked here), the update checked by the real server."""

    def legacy_proxy(self, key=support.HOME_KEY):
        return self.proxy(lambda request: support.legacy_reply(request.fields, key=key))

    def test_accepted_with_dash_dash_legacy_on_every_run_quietly(self):
        proxy = self.legacy_proxy()
        args = ("--url", proxy.url, "-n", "home", "-p", support.HOME_KEY, "-q", "--legacy")
        self.assertEqual(self.client(*args), (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))
        support.wait_for_next_second()
        self.assertEqual(self.client(*args), (0, "", ""))
        self.assertEqual(len(support.rows(self.database)), 1)
        self.assertEqual(proxy.types(), ["ip", "update", "ip", "update"])

    def test_accepted_silently_with_dash_dash_legacy(self):
        proxy = self.legacy_proxy()
        self.assertEqual(self.client("--url", proxy.url, "-n", "home", "-p", support.HOME_KEY,
                                     "--legacy"),
                         (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))

    def test_a_legacy_reply_with_a_bad_mac_is_refused(self):
        proxy = self.legacy_proxy(key=support.WRONG_KEY)
        self.assertEqual(self.client("--url", proxy.url, "-n", "home", "-p", support.HOME_KEY,
                                     "--legacy"), (4, "", AUTH_FAILED))
        self.assertEqual(proxy.types(), ["ip"])
        self.assertEqual(support.rows(self.database), [])

    def test_the_local_clock_is_kept_without_a_server_time(self):
        # No signed server time to go by: the update carries the (wrong) local
        # clock, and the real server refuses it as too old.
        proxy = self.legacy_proxy()
        code, out, err = self.client("--url", proxy.url, "-n", "home", "-p", support.HOME_KEY,
                                     "--legacy", IPUPDATE_TEST_CLOCK_OFFSET_S="-7200")
        self.assertEqual((code, out), (5, ""))
        self.assertTrue(err.startswith("ipupdater: the server refused the update (HTTP 403): "
                                       "Error: timestamp 7"), err)
        self.assertEqual(support.rows(self.database), [])


class TestNoSilentDowngrade(support.RealServerCase):
    """Someone on the path who strips the nonce from the address reply (a
    reply in the original's form, which anyone can ask the server for, for
    his own address) must not get an update sent: without --legacy, a reply
    without the nonce sent is refused and nothing is sent."""

    def test_a_reply_in_the_original_form_is_refused_without_legacy(self):
        proxy = self.proxy(lambda request: support.legacy_reply(request.fields,
                                                                key=support.HOME_KEY))
        for args in ((), ("-q",), ("--dry-run",)):
            code, out, err = self.client("--url", proxy.url, "-n", "home", "-p",
                                         support.HOME_KEY, *args)
            self.assertEqual((code, out, err), (4, "", DOWNGRADED), args)
        self.assertEqual(proxy.types(), ["ip", "ip", "ip"])   # no update, ever
        self.assertEqual(support.rows(self.database), [])

    def test_a_genuine_legacy_reply_the_server_signed_is_still_refused(self):
        # The attack itself: ask the real server, without a nonce, for a
        # reply to our ts; it signs one in the original's form.
        def strip_nonce(request):
            fields = dict(request.fields)
            del fields["nonce"]
            _, _, body = support.http_request(self.server.host, self.server.port,
                                              body=urllib.parse.urlencode(fields))
            return body
        proxy = self.proxy(strip_nonce)
        self.assertEqual(self.client("--url", proxy.url, "-n", "home", "-p", support.HOME_KEY),
                         (4, "", DOWNGRADED))
        self.assertEqual(proxy.types(), ["ip"])
        self.assertEqual(support.rows(self.database), [])


if __name__ == "__main__":
    unittest.main()
