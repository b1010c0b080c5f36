"""dyndns2, the routers' protocol (docs/PROTOCOL.md, "dyndns2"): each rule
through a real CGI execution of ipupdate_server.py (PATH_INFO=/nic/update,
HTTPS=on) and through a real `serve` (the transports: tests/dyndns2.py); and a
name's on_change hook and the refusal limit, for dyndns2 requests too.
"""

import json
import os
import socket
import sqlite3
import unittest

from tests import deploy
from tests.dyndns2 import (CABIN_PW, CHALLENGE, ROUTER_PW, TEXT, ThroughCGI, ThroughServe,
                           basic, sources)
from tests.support import KEY, HOME_KEY, rows, now, update_body


# ---------------------------------------------------------------------------
# The rules, written once, run through both transports.
# ---------------------------------------------------------------------------

class Dyndns2Rules(object):

    def test_a_new_address_is_good_and_marked_as_reported_through_dyndns2(self):
        before = now()
        self.assertEqual(self.nic_update("hostname=home.example.org&myip=127.0.0.1"),
                         (200, "good 127.0.0.1"))
        self.assertEqual(self.last_headers["content-type"], TEXT)
        [(ip, name, first_seen, last_seen)] = rows(self.database)
        self.assertEqual((ip, name, first_seen), ("127.0.0.1", "home.example.org", last_seen))
        self.assertTrue(before <= first_seen <= now())
        self.assertEqual(sources(self.database), [("home.example.org", "127.0.0.1", "dyndns2")])

    def test_the_same_address_again_is_nochg_and_raises_its_time_to_the_servers(self):
        deploy.make_original_database(self.database, {
            "log_ipv4": [("127.0.0.1", "home.example.org", 1000, 2000)]})
        before = now()
        self.assertEqual(self.nic_update("hostname=home.example.org&myip=127.0.0.1"),
                         (200, "nochg 127.0.0.1"))
        [(ip, name, first, last)] = rows(self.database)
        self.assertEqual((ip, name, first), ("127.0.0.1", "home.example.org", 1000))
        self.assertTrue(before <= last <= now(), last)

    def test_myip_omitted_or_empty_means_the_address_the_request_comes_from(self):
        self.assertEqual(self.nic_update("hostname=home.example.org"), (200, "good 127.0.0.1"))
        self.assertEqual(self.nic_update("hostname=nas.example.org&myip="),
                         (200, "good 127.0.0.1"))
        self.assertEqual([row[:2] for row in rows(self.database)],
                         [("127.0.0.1", "home.example.org"), ("127.0.0.1", "nas.example.org")])

    def test_several_hostnames_are_answered_one_line_each_in_order(self):
        status, text = self.nic_update(
            "hostname=nas.example.org,cabin.example.org,HOME.Example.ORG,-x,,unknown.example.org"
            "&myip=127.0.0.1")
        self.assertEqual((status, text), (200, "good 127.0.0.1\nnohost\ngood 127.0.0.1\n"
                                               "notfqdn\nnotfqdn\nnohost"))
        # Hostnames are case-insensitive; the name recorded is the config's.
        self.assertEqual(sources(self.database), [("nas.example.org", "127.0.0.1", "dyndns2"),
                                                  ("home.example.org", "127.0.0.1", "dyndns2")])
        self.assertIn("name 'cabin.example.org' is not enabled for dyndns2 with this password",
                      self.log_text())

    def test_a_wrong_password_is_badauth_and_changes_nothing(self):
        self.assertEqual(self.nic_update("hostname=home.example.org",
                                         password="not-the-password-0123456789"),
                         (401, "badauth"))
        self.assertEqual(self.last_headers["www-authenticate"], CHALLENGE)
        self.assertEqual(rows(self.database), [])
        self.assertIn("refused dyndns2 update from 127.0.0.1 for name 'home.example.org': "
                      "wrong dyndns2 password", self.log_text())

    def test_no_credentials_get_the_basic_auth_challenge(self):
        for authorization in (None, "Bearer " + ROUTER_PW, "Basic !!!", basic(ROUTER_PW)[:-4]):
            self.assertEqual(self.nic_update("hostname=home.example.org",
                                             authorization=authorization),
                             (401, "badauth"), authorization)
            self.assertEqual(self.last_headers["www-authenticate"], CHALLENGE)
        self.assertEqual(rows(self.database), [])

    def test_the_user_name_is_not_checked(self):
        self.assertEqual(self.nic_update("hostname=home.example.org",
                                         authorization=basic(ROUTER_PW, user="")),
                         (200, "good 127.0.0.1"))

    def test_the_ipupdate_keys_are_never_dyndns2_passwords(self):
        for key in (KEY, HOME_KEY):
            self.assertEqual(self.nic_update("hostname=home.example.org", password=key),
                             (401, "badauth"))
        self.assertEqual(rows(self.database), [])

    def test_another_names_password_is_nohost(self):
        self.assertEqual(self.nic_update("hostname=home.example.org", password=CABIN_PW),
                         (200, "nohost"))
        self.assertEqual(self.nic_update("hostname=cabin.example.org", password=CABIN_PW),
                         (200, "good 127.0.0.1"))
        self.assertEqual([row[1] for row in rows(self.database)], ["cabin.example.org"])

    def test_no_hostname_is_notfqdn_once(self):
        for query in ("", "myip=127.0.0.1", "hostname="):
            self.assertEqual(self.nic_update(query), (400, "notfqdn"), query)
        self.assertEqual(rows(self.database), [])

    def test_more_than_twenty_hostnames_or_one_twice_is_numhost(self):
        others = ["h%d.example.org" % i for i in range(19)]
        self.assertEqual(self.nic_update("hostname=" + ",".join(others + ["x.example.org",
                                                                          "home.example.org"])),
                         (400, "numhost"))
        self.assertEqual(self.nic_update("hostname=home.example.org,nas.example.org,"
                                         "Home.example.org"), (400, "numhost"))
        self.assertEqual(rows(self.database), [])
        self.assertEqual(self.nic_update("hostname=" + ",".join(["home.example.org"] + others)),
                         (200, "good 127.0.0.1" + "\nnohost" * 19))

    def test_myip_must_be_the_address_the_request_comes_from(self):
        self.assertEqual(self.nic_update("hostname=home.example.org&myip=192.0.2.7"),
                         (403, "badagent"))
        self.assertIn("myip 192.0.2.7 is not the address this request comes from (127.0.0.1), "
                      "and dyndns2_trust_myip is off", self.log_text())
        for myip in ("192.0.2.300", "example.org", "127.0.0.1,::1", "fe80::1%25eth0"):
            self.assertEqual(self.nic_update("hostname=home.example.org&myip=" + myip),
                             (400, "badagent"), myip)
        self.assertEqual(rows(self.database), [])

    def test_an_ipv4_mapped_myip_counts_as_ipv4(self):
        self.assertEqual(self.nic_update("hostname=home.example.org&myip=::ffff:127.0.0.1"),
                         (200, "good 127.0.0.1"))

    def test_only_get_is_accepted(self):
        for method in ("POST", "PUT", "HEAD"):
            status, text = self.nic_update("hostname=home.example.org", method=method)
            self.assertEqual(status, 405, method)
            self.assertEqual(text, self.head_body if method == "HEAD" else "badagent")
            self.assertEqual(self.last_headers["allow"], "GET")
        self.assertEqual(rows(self.database), [])

    def test_unknown_parameters_are_ignored_and_repeated_ones_refused(self):
        self.assertEqual(self.nic_update("system=dyndns&hostname=home.example.org&myip="
                                         "127.0.0.1&wildcard=NOCHG&mx=&backmx=NO&&offline=NO"),
                         (200, "good 127.0.0.1"))
        for query in ("hostname=nas.example.org&hostname=cabin.example.org",
                      "hostname=nas.example.org&myip", "hostname=nas.example%ZZ"):
            self.assertEqual(self.nic_update(query), (400, "badagent"), query)
        self.assertEqual([row[1] for row in rows(self.database)], ["home.example.org"])

    def test_the_viewer_marks_what_dyndns2_reported(self):
        self.assertEqual(self.post_update(update_body("127.0.0.1", "home", now(), HOME_KEY)),
                         (200, "OK: New IP updated"))
        self.assertEqual(self.nic_update("hostname=home.example.org")[0], 200)
        status, text = self.view("history=1")
        self.assertEqual(status, 200)
        self.assertRegex(text, r"^home ipv4 127\.0\.0\.1 \S+ \S+ \d+s\n"
                               r"home\.example\.org ipv4 127\.0\.0\.1 \S+ \S+ 0s dyndns2\n$")
        status, text = self.view("format=json")
        self.assertEqual([(entry["name"], entry["ipv4"]["source"])
                          for entry in json.loads(text)["names"]],
                         [("home", "ipupdate"), ("home.example.org", "dyndns2")])
        status, text = self.view("format=html")
        self.assertEqual(text.count("<code>127.0.0.1</code> <small>(via dyndns2)</small>"), 2)
        self.assertEqual(text.count("<code>127.0.0.1</code></td>"), 2)

    def test_a_dyndns2_update_never_raises_the_replay_floor_of_the_signed_client(self):
        # An ipupdate client whose clock is 100 s ahead reports home.example.org
        # (signed with the shared secret): a dyndns2 update, timed by the
        # server's clock, neither lowers that time nor pushes it further ahead.
        ahead = now() + 100
        self.assertEqual(self.post_update(update_body("127.0.0.1", "home.example.org", ahead,
                                                      KEY)), (200, "OK: New IP updated"))
        self.assertEqual(self.nic_update("hostname=home.example.org"), (200, "nochg 127.0.0.1"))
        self.assertEqual(rows(self.database), [("127.0.0.1", "home.example.org", ahead,
                                                ahead)])
        self.assertEqual(self.post_update(update_body("127.0.0.1", "home.example.org",
                                                      ahead + 1, KEY)),
                         (200, "OK: Timestamp updated"))

    def test_a_time_far_ahead_in_the_database_does_not_stop_dyndns2(self):
        far = now() + 1000   # as the original, which accepted any time, may have left it
        deploy.make_original_database(self.database, {
            "log_ipv4": [("192.0.2.1", "home.example.org", far, far)]})
        before = now()
        self.assertEqual(self.nic_update("hostname=home.example.org,nas.example.org"),
                         (200, "good 127.0.0.1\ngood 127.0.0.1"))
        first, second = rows(self.database)[:2]
        self.assertEqual(first, ("192.0.2.1", "home.example.org", far, far))
        self.assertEqual(second[:2], ("127.0.0.1", "home.example.org"))
        self.assertTrue(before <= second[2] == second[3] <= now(), second)

    def test_the_source_column_is_added_to_the_originals_table_which_stays_writable(self):
        deploy.make_original_database(self.database, {
            "log_ipv4": [("192.0.2.1", "home.example.org", 1000, 2000)]})
        self.assertEqual(self.nic_update("hostname=home.example.org"), (200, "good 127.0.0.1"))
        connection = sqlite3.connect(self.database)
        # The original's INSERT, as it names its columns.
        connection.execute("INSERT INTO log_ipv4 (ip, name, first_seen, timestamp) "
                           "VALUES ('192.0.2.9', 'old', 5, 5)")
        connection.commit()
        columns = [row[1] for row in connection.execute("PRAGMA table_info(log_ipv4)")]
        connection.close()
        self.assertEqual(columns, ["id", "ip", "name", "first_seen", "timestamp", "source"])
        self.assertEqual(sources(self.database), [("home.example.org", "192.0.2.1", None),
                                                  ("home.example.org", "127.0.0.1", "dyndns2"),
                                                  ("old", "192.0.2.9", None)])


class HookRules(object):
    """The on_change hook of a name runs for its dyndns2 changes too."""

    extra_config = "\n[name:home.example.org]\non_change = hook.sh\n"

    def test_the_hook_runs_for_a_new_address_only(self):
        hook = os.path.join(self.directory, "hook.sh")
        with open(hook, "w") as hook_file:
            hook_file.write('#!/bin/sh\necho "$@" >> "%s/changes"\n' % self.directory)
        os.chmod(hook, 0o755)
        self.assertEqual(self.nic_update("hostname=home.example.org"), (200, "good 127.0.0.1"))
        self.assertEqual(self.nic_update("hostname=home.example.org"), (200, "nochg 127.0.0.1"))
        with open(os.path.join(self.directory, "changes")) as changes:
            self.assertEqual(changes.read(), "home.example.org ipv4  127.0.0.1\n")
        self.assertNotIn("on_change hook", self.log_text())  # no failure, no output


class RateLimitRules(object):
    """Refused dyndns2 requests count toward max_refusals_per_minute."""

    settings = {"max_refusals_per_minute": "3"}

    def test_over_the_limit_refusals_read_abuse_and_the_right_password_still_works(self):
        for _ in range(3):
            self.assertEqual(self.nic_update("hostname=home.example.org", password="x" * 20),
                             (401, "badauth"))
        status, text = self.nic_update("hostname=home.example.org", password="x" * 20)
        self.assertEqual((status, text), (429, "abuse"))
        self.assertRegex(self.last_headers["retry-after"], r"^[1-6]?[0-9]$")
        self.assertEqual(self.nic_update("hostname=home.example.org,unknown.example.org"),
                         (200, "good 127.0.0.1\nabuse"))
        self.assertRegex(self.last_headers["retry-after"], r"^[1-6]?[0-9]$")
        connection = sqlite3.connect(self.database)
        logged = connection.execute("SELECT peer, name, status, reason FROM refused").fetchall()
        connection.close()
        self.assertEqual(logged, [("127.0.0.1", "home.example.org", 401,
                                   "dyndns2: wrong dyndns2 password")] * 3)


class CgiDyndns2Test(Dyndns2Rules, ThroughCGI, unittest.TestCase):
    pass


class ServeDyndns2Test(Dyndns2Rules, ThroughServe, unittest.TestCase):

    def test_an_answer_to_head_has_no_body_and_the_connection_goes_on(self):
        # Raw: http.client would hide a stray body by dropping its buffer.
        connection = socket.create_connection((self.server.host, self.server.port), timeout=10)
        self.addCleanup(connection.close)
        connection.sendall(("HEAD /nic/update?hostname=home.example.org HTTP/1.1\r\nHost: x\r\n"
                            "\r\nGET /nic/update?hostname=home.example.org HTTP/1.1\r\nHost: x"
                            "\r\nAuthorization: %s\r\nConnection: close\r\n\r\n"
                            % basic(ROUTER_PW)).encode())
        data = b""
        while True:
            chunk = connection.recv(4096)
            if not chunk:
                break
            data += chunk
        head, second = data.split(b"\r\n\r\n", 1)
        self.assertTrue(head.startswith(b"HTTP/1.1 405 "), data)
        self.assertTrue(second.startswith(b"HTTP/1.1 200 OK\r\n"), data)
        self.assertTrue(second.endswith(b"\r\n\r\ngood 127.0.0.1"), data)


class CgiHookTest(HookRules, ThroughCGI, unittest.TestCase):
    pass


class ServeHookTest(HookRules, ThroughServe, unittest.TestCase):
    pass


class CgiRateLimitTest(RateLimitRules, ThroughCGI, unittest.TestCase):
    pass


class ServeRateLimitTest(RateLimitRules, ThroughServe, unittest.TestCase):
    pass


if __name__ == "__main__":
    unittest.main()
