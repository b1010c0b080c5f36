"""The server signs its answer to an update that carries a nonce
(docs/PROTOCOL.md, "The signed outcome"): the outcome, bound to the update's
name, address, ts and nonce, and to the server's time. Through CGI and
`serve`, with exact bodies and rows."""

import os
import shutil
import tempfile
import unittest

from tests import support

NONCE = "0123456789abcdef0123456789abcdef"
KEY = support.HOME_KEY


def outcome_line(outcome, address, name, ts, nonce, now, key=KEY):
    message = "type=outcome&outcome=%s&ip=%s&name=%s&ts=%s&nonce=%s&now=%d" % (
        outcome, address, name, ts, nonce, now)
    return "outcome=%s&now=%d&h=%s" % (outcome, now, support.sign(key, message))


class Harness(unittest.TestCase):

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="ipupdate-outcome-")
        self.addCleanup(shutil.rmtree, self.directory)
        self.config = support.write_config(self.directory)
        self.database = os.path.join(self.directory, "ipupdate.sqlite")

    def update(self, name, ts, nonce=NONCE, address="127.0.0.1", key=KEY):
        """(status, body, the server's time bounds) of one CGI update."""
        body = support.update_body(address, name, ts, key)
        if nonce is not None:
            body += "&nonce=" + nonce
        before = support.now()
        status, _, text, errors, code = support.run_cgi(support.SERVER, self.config, body)
        self.assertEqual(code, 0, errors)
        return status, text, (before, support.now())

    def assertSigned(self, answer, status, first_line, outcome, name, ts, address="127.0.0.1"):
        got_status, text, (earliest, latest) = answer
        lines = text.split("\n")
        self.assertEqual((got_status, len(lines), lines[0]), (status, 2, first_line), text)
        server_now = int(lines[1].split("&")[1][len("now="):])
        self.assertTrue(earliest <= server_now <= latest, text)
        self.assertEqual(lines[1], outcome_line(outcome, address, name, ts, NONCE, server_now))


class SignedOutcomeTest(Harness):

    def test_new_then_unchanged_are_signed(self):
        ts = support.now()
        self.assertSigned(self.update("home", ts), 200, "OK: New IP updated", "new", "home", ts)
        self.assertSigned(self.update("home", ts + 1), 200, "OK: Timestamp updated",
                          "unchanged", "home", ts + 1)
        self.assertEqual(support.rows(self.database), [("127.0.0.1", "home", ts, ts + 1)])

    def test_the_name_is_signed_as_sent(self):
        ts = support.now()
        self.assertSigned(self.update("Home", ts), 200, "OK: New IP updated", "new", "Home", ts)
        self.assertEqual(support.rows(self.database), [("127.0.0.1", "home", ts, ts)])

    def test_refusals_of_signed_updates_are_signed_with_their_class(self):
        ts = support.now()
        self.update("home", ts)
        self.assertSigned(self.update("home", ts), 409, "Error: replayed or out-of-order "
                          "message: ts %d is not newer than the last accepted ts %d for this "
                          "name" % (ts, ts), "replayed", "home", ts)
        old = ts - 1000
        status, text, _ = answer = self.update("home", old)
        self.assertTrue(text.startswith("Error: timestamp "), text)
        self.assertSigned(answer, 403, text.split("\n")[0], "out_of_window", "home", old)
        answer = self.update("home", ts + 1, address="192.0.2.7")
        self.assertSigned(answer, 403, "Error: the signed address 192.0.2.7 is not the address "
                          "this request comes from (127.0.0.1)", "wrong_address", "home",
                          ts + 1, address="192.0.2.7")
        self.assertEqual(support.rows(self.database), [("127.0.0.1", "home", ts, ts)])

    def test_what_the_server_cannot_authenticate_is_unsigned(self):
        ts = support.now()
        self.assertEqual(self.update("home", ts, key=support.WRONG_KEY)[:2], (
            403, "Error: authentication failed: wrong key for this name, or the message was "
                 "altered"))
        self.assertEqual(self.update("home", ts, nonce="xyz")[:2], (
            400, "Error: field 'nonce' must be 16 to 64 hex digits"))
        self.assertEqual(support.rows(self.database), [])

    def test_without_a_nonce_the_answer_is_the_originals_one_line(self):
        ts = support.now()
        self.assertEqual(self.update("home", ts, nonce=None)[:2], (200, "OK: New IP updated"))
        self.assertEqual(self.update("home", ts, nonce=None)[:2], (
            409, "Error: replayed or out-of-order message: ts %d is not newer than the last "
                 "accepted ts %d for this name" % (ts, ts)))

    def test_serve_signs_the_same(self):
        with support.LocalServer(self.config) as server:
            ts = support.now()
            body = support.update_body("127.0.0.1", "home", ts, KEY) + "&nonce=" + NONCE
            earliest = support.now()
            status, _, text = support.http_request(server.host, server.port, body=body)
            self.assertSigned((status, text, (earliest, support.now())), 200,
                              "OK: New IP updated", "new", "home", ts)


if __name__ == "__main__":
    unittest.main()
