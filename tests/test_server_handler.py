"""The update handler's rules, each checked through a real CGI execution of
ipupdate_server.py and through a real `serve` process on 127.0.0.1."""

import os
import shutil
import sqlite3
import stat
import tempfile
import threading
import unittest

from tests import support
from tests.support import KEY, HOME_KEY, sign, update_body, rows, now

FORM = "application/x-www-form-urlencoded"


class Harness(object):
    """A throwaway config and database, and one way to send requests to them."""

    settings = {}

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="ipupdate-test-")
        self.config = support.write_config(self.directory, **self.settings)
        self.database = os.path.join(self.directory, "ipupdate.sqlite")
        self.seen = []  # every response body and log text, to search for keys

    def tearDown(self):
        for text in self.seen:
            self.assertNotIn(KEY, text)
            self.assertNotIn(HOME_KEY, text)
        shutil.rmtree(self.directory)

    def update(self, address="127.0.0.1", name="home", ts=None, key=HOME_KEY, **options):
        ts = now() if ts is None else ts
        return self.post(update_body(address, name, ts, key), **options)


class ThroughCGI(Harness):
    """Requests as a web server hands them to a CGI program."""

    def post(self, body, content_type=FORM, remote_addr="127.0.0.1", method="POST",
             headers=None):
        extra = dict(("HTTP_" + k.upper().replace("-", "_"), v)
                     for k, v in (headers or {}).items())
        status, response_headers, text, errors, code = support.run_cgi(
            support.SERVER, self.config, body, method=method, content_type=content_type,
            remote_addr=remote_addr, extra_env=extra)
        self.assertEqual(code, 0, errors)
        self.assertNotIn("Traceback", errors)
        self.seen += [text, errors]
        self.last_log = errors
        self.last_headers = response_headers
        return status, text


class ThroughServe(Harness):
    """Requests over TCP to `ipupdate_server.py serve` (peer address 127.0.0.1)."""

    def setUp(self):
        Harness.setUp(self)
        self.server = support.LocalServer(self.config)

    def tearDown(self):
        self.server.stop()
        self.seen.append(self.server.stderr())
        Harness.tearDown(self)

    def post(self, body, content_type=FORM, remote_addr="127.0.0.1", method="POST",
             headers=None):
        if remote_addr != "127.0.0.1":
            self.skipTest("serve sees the real peer address (127.0.0.1) only")
        status, response_headers, text = support.http_request(
            self.server.host, self.server.port, method, body=body, headers=headers,
            content_type=content_type)
        self.seen.append(text)
        self.last_headers = response_headers
        return status, text


# --- Rules, written once, run through both transports -------------------------

class IpReplyRules(object):

    def test_legacy_request_gets_the_original_reply_exactly(self):
        ts = now()
        status, text = self.post("type=ip&ts=%d" % ts)
        self.assertEqual(status, 200)
        message = "ip=127.0.0.1&ts=%d" % ts
        self.assertEqual(text, message + "&h=" + sign(KEY, message))  # no trailing newline

    def test_nonce_request_is_signed_with_nonce_and_server_time(self):
        before, nonce = now(), "00112233445566778899aabbccddeeff"
        status, text = self.post("type=ip&ts=5&nonce=%s" % nonce)
        after = now()
        self.assertEqual(status, 200)
        served_now = int(text.split("&now=")[1].split("&")[0])
        self.assertTrue(before <= served_now <= after)
        message = "ip=127.0.0.1&ts=5&nonce=%s&now=%d" % (nonce, served_now)
        self.assertEqual(text, message + "&h=" + sign(KEY, message))

    def test_name_selects_its_own_key(self):
        ts = now()
        status, text = self.post("type=ip&ts=%d&name=home" % ts)
        message = "ip=127.0.0.1&ts=%d" % ts
        self.assertEqual((status, text), (200, message + "&h=" + sign(HOME_KEY, message)))

    def test_legacy_request_outside_the_window_is_not_signed(self):
        for ts in (now() + 3600, now() - 3600):
            status, text = self.post("type=ip&ts=%d" % ts)
            self.assertEqual(status, 403)
            self.assertTrue(text.startswith("Error: timestamp "), text)
            self.assertNotIn("h=", text)

    def test_malformed_nonce_is_refused(self):
        for nonce in ("abc", "x" * 16, "a" * 65):
            self.assertEqual(self.post("type=ip&ts=%d&nonce=%s" % (now(), nonce)),
                             (400, "Error: field 'nonce' must be 16 to 64 hex digits"))


class UpdateRules(object):

    def test_new_address_then_timestamp_raised(self):
        ts = now()
        self.assertEqual(self.update(ts=ts - 1), (200, "OK: New IP updated"))
        self.assertEqual(self.update(ts=ts), (200, "OK: Timestamp updated"))
        self.assertEqual(rows(self.database), [("127.0.0.1", "home", ts - 1, ts)])
        self.assertEqual(rows(self.database, "log_ipv6"), [])

    def test_shared_secret_signs_unlisted_names_and_empty_name(self):
        ts = now()
        self.assertEqual(self.update(name="", key=KEY, ts=ts), (200, "OK: New IP updated"))
        self.assertEqual(self.update(name="office.pi-2", key=KEY, ts=ts),
                         (200, "OK: New IP updated"))
        self.assertEqual(rows(self.database), [("127.0.0.1", "", ts, ts),
                                               ("127.0.0.1", "office.pi-2", ts, ts)])

    def test_forged_mac_is_refused_and_changes_nothing(self):
        status, text = self.post(update_body("127.0.0.1", "home", now(), None, mac="0" * 64))
        self.assertEqual(status, 403)
        self.assertEqual(text, "Error: authentication failed: wrong key for this name, "
                               "or the message was altered")
        self.assertEqual(rows(self.database), [])

    def test_each_tampered_field_is_refused(self):
        ts = now()
        good = update_body("127.0.0.1", "home", ts, HOME_KEY)
        mac = good.rsplit("&h=", 1)[1]
        for tampered in ("type=update&ip=127.0.0.1&name=home&ts=%d&h=%s" % (ts - 1, mac),
                         "type=update&ip=127.0.0.1&name=homer&ts=%d&h=%s" % (ts, mac),
                         "type=update&ip=127.0.0.2&name=home&ts=%d&h=%s" % (ts, mac),
                         good[:-1] + ("0" if good[-1] != "0" else "1")):
            status, text = self.post(tampered)
            self.assertEqual(status, 403, tampered)
            self.assertTrue(text.startswith("Error: authentication failed"), text)
        self.assertEqual(rows(self.database), [])

    def test_wrong_key_and_other_names_key_are_refused(self):
        for name, key in (("home", "not-the-key-0123456789"), ("home", KEY),
                          ("other", HOME_KEY)):
            status, text = self.update(name=name, key=key)
            self.assertEqual(status, 403, (name, text))
        self.assertEqual(rows(self.database), [])

    def test_replayed_update_is_refused_and_changes_nothing(self):
        body = update_body("127.0.0.1", "home", now(), HOME_KEY)
        self.assertEqual(self.post(body), (200, "OK: New IP updated"))
        before = rows(self.database)
        status, text = self.post(body)
        self.assertEqual(status, 409)
        self.assertTrue(text.startswith("Error: replayed or out-of-order message"), text)
        self.assertEqual(rows(self.database), before)

    def test_older_message_is_refused_even_for_another_address(self):
        ts = now()
        self.assertEqual(self.update(ts=ts), (200, "OK: New IP updated"))
        status, text = self.update(ts=ts - 10, address="127.0.0.2", remote_addr="127.0.0.2")
        self.assertEqual(status, 409)
        self.assertEqual(rows(self.database), [("127.0.0.1", "home", ts, ts)])

    def test_stale_and_future_messages_are_refused(self):
        status, text = self.update(ts=now() - 400)
        self.assertEqual(status, 403)
        self.assertRegex(text, r"^Error: timestamp 4\d\d s behind server clock \(window 300 s\)")
        status, text = self.update(ts=now() + 400)
        self.assertEqual(status, 403)
        self.assertRegex(text, r"^Error: timestamp [34]\d\d s ahead of server clock \(window "
                               r"300 s\): check the client's clock$")
        self.assertEqual(rows(self.database), [])

    def test_signed_address_must_be_the_peer_address(self):
        status, text = self.update(address="192.0.2.7")
        self.assertEqual((status, text), (403, "Error: the signed address 192.0.2.7 is not "
                                               "the address this request comes from "
                                               "(127.0.0.1)"))
        self.assertEqual(rows(self.database), [])

    def test_spoofed_forwarded_for_from_untrusted_peer_is_ignored(self):
        status, text = self.update(address="192.0.2.7",
                                   headers={"X-Forwarded-For": "192.0.2.7"})
        self.assertEqual(status, 403)
        self.assertEqual(rows(self.database), [])

    def test_malformed_fields_are_refused_with_a_clear_line(self):
        ts = now()
        cases = [
            ("type=update&ip=127.0.0.1&name=home&ts=%d" % ts, "Error: missing field 'h'"),
            ("type=nope", "Error: unknown request type (expected 'ip' or 'update')"),
            ("ts=1", "Error: missing field 'type'"),
            (update_body("127.0.0.1", "home", "12a", HOME_KEY),
             "Error: field 'ts' must be a Unix time in decimal digits"),
            (update_body("127.0.0.1", "home", "-5", HOME_KEY),
             "Error: field 'ts' must be a Unix time in decimal digits"),
            (update_body("127.0.0.256", "home", ts, HOME_KEY),
             "Error: field 'ip' is not an IPv4 or IPv6 address"),
            (update_body("2001:DB8::1", "home", ts, HOME_KEY),
             "Error: field 'ip' must be written canonically (2001:db8::1)"),
            (update_body("127.0.0.1", "-home", ts, HOME_KEY),
             "Error: field 'name' must be empty or a letter or digit followed by up to 62 "
             "of letters, digits, '.', '_', '-'"),
            (update_body("127.0.0.1", "a" * 64, ts, HOME_KEY),
             "Error: field 'name' must be empty or a letter or digit followed by up to 62 "
             "of letters, digits, '.', '_', '-'"),
            (update_body("127.0.0.1", "home", ts, None, mac="A" * 64),
             "Error: field 'h' must be 64 lowercase hex digits"),
            ("type=update&ip=127.0.0.1%ZZ", "Error: malformed percent escape in form data"),
            ("type=update&noequals", "Error: malformed form field (no '=')"),
            (b"type=update&name=\xff\xfe", "Error: form data is not valid UTF-8"),
            ("type=update&type=ip", "Error: field 'type' given more than once"),
            (update_body("127.0.0.1", "home", ts, HOME_KEY) + "&ts=%d" % ts,
             "Error: field 'ts' given more than once"),
        ]
        for body, expected in cases:
            self.assertEqual(self.post(body), (400, expected), body)
        self.assertEqual(rows(self.database), [])

    def test_percent_encoded_fields_are_decoded_before_checking_the_mac(self):
        ts = now()
        message = "type=update&ip=127.0.0.1&name=home&ts=%d" % ts
        body = "type=update&ip=127%%2E0.0.1&name=ho%%6De&ts=%d&h=%s" % (
            ts, sign(HOME_KEY, message))
        self.assertEqual(self.post(body), (200, "OK: New IP updated"))

    def test_unknown_fields_are_ignored(self):
        self.assertEqual(self.post(update_body("127.0.0.1", "home", now(), HOME_KEY)
                                   + "&future=1"), (200, "OK: New IP updated"))

    def test_wrong_content_type_is_refused(self):
        body = update_body("127.0.0.1", "home", now(), HOME_KEY)
        self.assertEqual(self.post(body, content_type="text/plain"),
                         (415, "Error: Content-Type must be application/x-www-form-urlencoded"))
        self.assertEqual(rows(self.database), [])

    def test_oversize_body_is_refused_unread(self):
        body = update_body("127.0.0.1", "home", now(), HOME_KEY) + "&pad=" + "x" * 5000
        self.assertEqual(self.post(body), (413, "Error: request body over 4096 bytes"))
        self.assertEqual(rows(self.database), [])

    def test_database_file_is_created_with_mode_0600(self):
        self.assertEqual(self.update(), (200, "OK: New IP updated"))
        self.assertEqual(stat.S_IMODE(os.stat(self.database).st_mode), 0o600)

    def test_every_response_is_not_cacheable_text(self):
        self.update()
        self.assertEqual(self.last_headers["cache-control"], "no-store")
        self.assertEqual(self.last_headers["content-type"], "text/plain; charset=utf-8")


class OriginalDatabase(object):
    """A database made by the original PHP version is continued as it is."""

    def test_original_schema_and_rows_are_continued(self):
        ts = now()
        connection = sqlite3.connect(self.database)
        for table in ("log_ipv4", "log_ipv6"):
            connection.execute("CREATE TABLE %s (id INTEGER PRIMARY KEY AUTOINCREMENT, ip "
                               "VARCHAR, name VARCHAR, first_seen UNSIGNED INT, timestamp "
                               "UNSIGNED INT)" % table)
        # The original accepted an older message for a new address, so the newest
        # row need not hold the largest timestamp: the replay check must use MAX.
        connection.execute("INSERT INTO log_ipv4 (ip, name, first_seen, timestamp) VALUES "
                           "('192.0.2.1', 'home', ?, ?)", (ts - 50, ts - 20))
        connection.execute("INSERT INTO log_ipv4 (ip, name, first_seen, timestamp) VALUES "
                           "('127.0.0.1', 'home', ?, ?)", (ts - 60, ts - 60))
        connection.commit()
        connection.close()
        self.assertEqual(self.update(ts=ts - 30)[0], 409)
        self.assertEqual(self.update(ts=ts), (200, "OK: Timestamp updated"))
        self.assertEqual(rows(self.database), [("192.0.2.1", "home", ts - 50, ts - 20),
                                               ("127.0.0.1", "home", ts - 60, ts)])
        connection = sqlite3.connect(self.database)
        indexes = sorted(r[0] for r in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'log_ipv4'"))
        connection.close()
        self.assertEqual(indexes, ["log_ipv4_folded_name_id", "log_ipv4_folded_name_timestamp"])


class ConcurrentIdenticalMessages(object):

    def test_exactly_one_of_many_identical_messages_is_accepted(self):
        body = update_body("127.0.0.1", "home", now(), HOME_KEY)
        results = []

        def send():
            results.append(self.post(body))

        threads = [threading.Thread(target=send) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses = sorted(status for status, _ in results)
        self.assertEqual(statuses, [200] + [409] * 11, results)
        self.assertEqual(len(rows(self.database)), 1)


class CgiUpdateTest(IpReplyRules, UpdateRules, OriginalDatabase, ConcurrentIdenticalMessages,
                    ThroughCGI, unittest.TestCase):

    def test_other_methods_are_refused(self):
        status, text = self.post("", method="GET", content_type=None)
        self.assertEqual((status, text), (405, "Error: only POST is accepted here"))
        self.assertEqual(self.last_headers["allow"], "POST")

    def test_ipv4_mapped_peer_counts_as_ipv4(self):
        self.assertEqual(self.update(remote_addr="::ffff:127.0.0.1"),
                         (200, "OK: New IP updated"))
        self.assertEqual(len(rows(self.database)), 1)

    def test_ipv6_update_goes_to_its_own_table(self):
        ts = now()
        self.assertEqual(self.update(address="2001:db8::7", remote_addr="2001:db8::7", ts=ts),
                         (200, "OK: New IP updated"))
        self.assertEqual(rows(self.database, "log_ipv6"), [("2001:db8::7", "home", ts, ts)])
        self.assertEqual(rows(self.database), [])

    def test_address_change_adds_a_row(self):
        ts = now()
        self.update(ts=ts - 2)
        self.assertEqual(self.update(ts=ts - 1, address="198.51.100.4",
                                     remote_addr="198.51.100.4"), (200, "OK: New IP updated"))
        self.assertEqual(rows(self.database), [("127.0.0.1", "home", ts - 2, ts - 2),
                                               ("198.51.100.4", "home", ts - 1, ts - 1)])

    def test_refusals_are_logged_without_the_mac(self):
        body = update_body("127.0.0.1", "home", now(), None, mac="ab" * 32)
        self.post(body)
        self.assertEqual(self.last_log, "ipupdate: refused update from 127.0.0.1 for name "
                                        "'home': authentication failed: wrong key for this "
                                        "name, or the message was altered\n")


class CgiTrustedProxyTest(ThroughCGI, unittest.TestCase):
    settings = {"trusted_proxies": "10.9.8.7, 127.0.0.0/8"}

    def test_forwarded_for_is_believed_from_a_trusted_proxy_only(self):
        ts = now()
        hops = {"X-Forwarded-For": "203.0.113.9, 198.51.100.20"}
        self.assertEqual(self.update(address="198.51.100.20", remote_addr="10.9.8.7",
                                     headers=hops, ts=ts - 1), (200, "OK: New IP updated"))
        # The same header from an untrusted peer counts for nothing.
        status, _ = self.update(address="198.51.100.20", remote_addr="192.0.2.50",
                                headers=hops, ts=ts)
        self.assertEqual(status, 403)
        self.assertEqual(rows(self.database), [("198.51.100.20", "home", ts - 1, ts - 1)])


class ServeUpdateTest(IpReplyRules, UpdateRules, OriginalDatabase, ConcurrentIdenticalMessages,
                      ThroughServe, unittest.TestCase):

    def test_get_without_viewer_or_with_viewer_is_not_an_update(self):
        status, _, _ = support.http_request(self.server.host, self.server.port, "PUT",
                                            body=b"x")
        self.assertEqual(status, 405)

    def test_keep_alive_connection_serves_many_requests_quickly(self):
        import http.client
        import time
        connection = http.client.HTTPConnection(self.server.host, self.server.port, timeout=5)
        started = time.monotonic()
        for _ in range(50):
            connection.request("POST", "/", body="type=ip&ts=1&nonce=" + "ab" * 8,
                               headers={"Content-Type": FORM})
            response = connection.getresponse()
            response.read()
            self.assertEqual(response.status, 200)
        # Nagle + delayed ACK would cost ~40 ms each: 2 s for 50. This is a
        # regression tripwire, not a benchmark (see `make bench`).
        self.assertLess(time.monotonic() - started, 1.5)
        connection.close()


class ServeTrustedProxyTest(ThroughServe, unittest.TestCase):
    settings = {"trusted_proxies": "127.0.0.1"}

    def test_forwarded_for_from_the_trusted_local_proxy_names_the_client(self):
        ts = now()
        self.assertEqual(self.update(address="198.51.100.20", ts=ts,
                                     headers={"X-Forwarded-For": "198.51.100.20"}),
                         (200, "OK: New IP updated"))
        self.assertEqual(rows(self.database), [("198.51.100.20", "home", ts, ts)])


if __name__ == "__main__":
    unittest.main()
