"""dyndns2, the routers' protocol (docs/PROTOCOL.md, "dyndns2"): each rule through
a real CGI execution of ipupdate_server.py (PATH_INFO=/nic/update, HTTPS=on) and
through a real `serve`; then Debian's real ddclient and inadyn against `serve`,
and the recipes of docs/DEPLOY.md section 7 against a real Apache.

A client or web server that is not installed is skipped, with the reason
printed, unless IPUPDATE_REQUIRE_WEBSERVERS=1 (CI sets it): then its absence
fails. Debian: apt-get install ddclient inadyn apache2.
"""

import base64
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

from tests import support
from tests import deploy
from tests.support import KEY, HOME_KEY, rows, now, update_body

ROUTER_PW = "router-pw-3c9e1f7a5b2d4608"    # home.example.org and nas.example.org
CABIN_PW = "cabin-pw-7d2a9c4e1b6f3085"      # cabin.example.org
DYNDNS2 = (("home.example.org", ROUTER_PW), ("nas.example.org", ROUTER_PW),
           ("cabin.example.org", CABIN_PW))
SECRETS = (KEY, HOME_KEY, ROUTER_PW, CABIN_PW)
TEXT = "text/plain; charset=utf-8"
CHALLENGE = 'Basic realm="ipupdate dyndns2"'
OFF = "Error: dyndns2 is not enabled on this server (no names in a [dyndns2] section)"
REQUIRE = os.environ.get("IPUPDATE_REQUIRE_WEBSERVERS") == "1"


def config_body(settings=None, dyndns2=DYNDNS2, extra=""):
    """The test config: the shared secret KEY, [names] home = HOME_KEY, and the
    dyndns2 names, plus `settings` in [ipupdate] and `extra` at the end."""
    lines = ["[ipupdate]", "secret = " + KEY, "database = ipupdate.sqlite"]
    lines += ["%s = %s" % item for item in sorted((settings or {}).items())]
    lines += ["", "[names]", "home = " + HOME_KEY]
    if dyndns2:
        lines += ["", "[dyndns2]"] + ["%s = %s" % entry for entry in dyndns2]
    return "\n".join(lines) + "\n" + extra


def basic(password, user="router"):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def sources(database, table="log_ipv4"):
    """(name, ip, source) of every row, oldest first."""
    connection = sqlite3.connect(database)
    try:
        return connection.execute("SELECT name, ip, source FROM %s ORDER BY id"
                                  % table).fetchall()
    finally:
        connection.close()


def database_text(database):
    """Every row of every table, as text: to look for passwords in it."""
    if not os.path.exists(database):
        return ""
    connection = sqlite3.connect(database)
    try:
        tables = [row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        return repr([connection.execute("SELECT * FROM %s" % table).fetchall()
                     for table in tables])
    finally:
        connection.close()


def unavailable(reason):
    if REQUIRE:
        raise AssertionError(reason + " (required: IPUPDATE_REQUIRE_WEBSERVERS=1)")
    sys.stderr.write("\ntest_dyndns2: skipped: %s\n" % reason)
    raise unittest.SkipTest(reason)


def client_program(name):
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":" + deploy.SBIN_PATH)
    if path is None:
        unavailable("%s is not installed (Debian: apt-get install %s)" % (name, name))
    return path


# ---------------------------------------------------------------------------
# Transports: the same requests through CGI and through `serve`.
# ---------------------------------------------------------------------------

class Harness(object):
    """A throwaway config and database; every response, log and row is
    searched for the keys and passwords at the end of each test."""

    settings = {}
    transport_settings = {}
    dyndns2 = DYNDNS2
    extra_config = ""

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="ipupdate-dyndns2-")
        self.config = support.write_config(self.directory, config_body(
            dict(self.transport_settings, **self.settings), self.dyndns2, self.extra_config))
        self.database = os.path.join(self.directory, "ipupdate.sqlite")
        self.seen = []

    def tearDown(self):
        self.seen.append(database_text(self.database))
        for text in self.seen:
            for secret in SECRETS:
                self.assertNotIn(secret, text)
                self.assertNotIn(base64.b64encode(secret.encode()).decode(), text)
        shutil.rmtree(self.directory)

    def nic_update(self, query, password=ROUTER_PW, **options):
        """A dyndns2 update with basic auth (authorization=None: without)."""
        authorization = options.pop("authorization", basic(password))
        headers = dict(options.pop("headers", {}))
        if authorization is not None:
            headers["Authorization"] = authorization
        return self.get("/nic/update", query, headers=headers, **options)


class ThroughCGI(Harness):
    """As Apache hands a request for .../ipupdate_server.py/nic/update over HTTPS
    to the script."""

    head_body = "badagent"   # the web server drops the body of an answer to HEAD

    def get(self, path, query, headers=None, method="GET", remote_addr="127.0.0.1",
            https=True, script=support.SERVER, body=b""):
        extra = dict(("HTTP_" + k.upper().replace("-", "_"), v)
                     for k, v in (headers or {}).items())
        extra["PATH_INFO"] = path if path != "/" else ""
        if https:
            extra["HTTPS"] = "on"
        status, headers, text, errors, code = support.run_cgi(
            script, self.config, body, method=method,
            content_type="application/x-www-form-urlencoded" if body else None,
            remote_addr=remote_addr, query=query, extra_env=extra)
        self.assertEqual(code, 0, errors)
        self.assertNotIn("Traceback", errors)
        self.seen += [text, errors]
        self.last_log, self.last_headers = errors, headers
        return status, text

    def view(self, query):
        return self.get("/", query, script=support.VIEWER)

    def post_update(self, body):
        return self.get("/", "", method="POST", body=body)

    def log_text(self):
        return self.last_log


class ThroughServe(Harness):
    """Over TCP to `ipupdate_server.py serve`, which has no TLS: the config allows
    dyndns2 over plain HTTP (the rule itself is tested apart)."""

    transport_settings = {"dyndns2_allow_plain_http": "yes"}
    head_body = ""

    def setUp(self):
        Harness.setUp(self)
        self.server = support.LocalServer(self.config)

    def tearDown(self):
        self.server.stop()
        self.seen.append(self.server.stderr())
        Harness.tearDown(self)

    def get(self, path, query, headers=None, method="GET", remote_addr="127.0.0.1",
            https=True, body=b""):
        if remote_addr != "127.0.0.1":
            self.skipTest("serve sees the real peer address (127.0.0.1) only")
        status, response_headers, text = support.http_request(
            self.server.host, self.server.port, method, path + ("?" + query if query else ""),
            body=body, headers=headers,
            content_type="application/x-www-form-urlencoded" if body else None)
        self.seen.append(text)
        self.last_headers = response_headers
        return status, text

    def view(self, query):
        return self.get("/", query)

    def post_update(self, body):
        return self.get("/", "", method="POST", body=body)

    def log_text(self):
        return self.server.stderr()


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


# ---------------------------------------------------------------------------
# Off by default, HTTPS only, the configuration.
# ---------------------------------------------------------------------------

class CgiOffByDefaultTest(ThroughCGI, unittest.TestCase):
    dyndns2 = ()

    def test_without_a_dyndns2_section_the_path_does_not_exist(self):
        self.assertEqual(self.nic_update("hostname=home.example.org"), (404, OFF))
        self.assertEqual(rows(self.database), [])

    def test_the_ipupdate_protocol_is_unchanged_beside_it(self):
        self.assertEqual(self.post_update(update_body("127.0.0.1", "home", now(), HOME_KEY)),
                         (200, "OK: New IP updated"))


class ServeOffByDefaultTest(ThroughServe, unittest.TestCase):
    dyndns2 = ()

    def test_without_a_dyndns2_section_the_path_does_not_exist(self):
        # Not the viewer's answer to a GET: the path is dyndns2's, and off.
        self.assertEqual(self.nic_update("hostname=home.example.org"), (404, OFF))
        self.assertEqual(rows(self.database), [])


class CgiHttpsOnlyTest(ThroughCGI, unittest.TestCase):
    settings = {"trusted_proxies": "127.0.0.1", "proxy_sets_forwarded_proto": "yes"}

    def test_plain_http_is_refused_and_says_why_in_the_log(self):
        self.assertEqual(self.nic_update("hostname=home.example.org", https=False),
                         (403, "badagent"))
        self.assertIn("refused dyndns2 update from 127.0.0.1 for name 'home.example.org': "
                      "refused over plain HTTP: the password would cross the network "
                      "readable (use https://, or set dyndns2_allow_plain_http = yes)",
                      self.log_text())
        self.assertEqual(rows(self.database), [])
        self.assertEqual(self.nic_update("hostname=home.example.org"), (200, "good 127.0.0.1"))

    def test_a_trusted_proxy_may_say_https(self):
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.4"}
        self.assertEqual(self.nic_update("hostname=home.example.org", https=False,
                                         headers=headers), (200, "good 198.51.100.4"))

    def test_anyone_else_may_not(self):
        headers = {"X-Forwarded-Proto": "https"}
        self.assertEqual(self.nic_update("hostname=home.example.org", https=False,
                                         headers=headers, remote_addr="192.0.2.9"),
                         (403, "badagent"))
        self.assertEqual(self.nic_update("hostname=home.example.org", https=False,
                                         headers={"X-Forwarded-Proto": "http"}),
                         (403, "badagent"))
        self.assertEqual(rows(self.database), [])


class ServeHttpsOnlyTest(ThroughServe, unittest.TestCase):
    transport_settings = {}   # the default: plain HTTP refused
    settings = {"trusted_proxies": "127.0.0.1", "proxy_sets_forwarded_proto": "yes"}

    def test_plain_http_is_refused(self):
        self.assertEqual(self.nic_update("hostname=home.example.org"), (403, "badagent"))
        self.assertEqual(rows(self.database), [])

    def test_behind_a_trusted_proxy_that_says_https(self):
        self.assertEqual(self.nic_update("hostname=home.example.org", headers={
            "X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.4"}),
            (200, "good 198.51.100.4"))


class CgiTrustMyipTest(ThroughCGI, unittest.TestCase):
    settings = {"dyndns2_trust_myip": "yes"}

    def test_with_dyndns2_trust_myip_any_address_is_recorded(self):
        self.assertEqual(self.nic_update("hostname=home.example.org&myip=2001:DB8::7"),
                         (200, "good 2001:db8::7"))
        self.assertEqual(sources(self.database, "log_ipv6"),
                         [("home.example.org", "2001:db8::7", "dyndns2")])


class ConfigurationTest(unittest.TestCase):
    """A wrong [dyndns2] makes the server answer 911 (500) and log why, never a password."""

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="ipupdate-dyndns2-config-")
        self.addCleanup(shutil.rmtree, self.directory)

    def nic_update(self, body):
        config = support.write_config(self.directory, body)
        status, _, text, errors, code = support.run_cgi(
            support.SERVER, config, method="GET", content_type=None,
            query="hostname=home.example.org",
            extra_env={"PATH_INFO": "/nic/update", "HTTPS": "on",
                       "HTTP_AUTHORIZATION": basic(ROUTER_PW)})
        self.assertEqual(code, 0, errors)
        for secret in SECRETS:
            self.assertNotIn(secret, errors + text)
        return status, text, errors

    def test_a_password_that_is_an_ipupdate_key_is_refused(self):
        for key in (KEY, HOME_KEY):
            status, text, errors = self.nic_update(config_body(dyndns2=[
                ("home.example.org", ROUTER_PW), ("nas.example.org", key)]))
            self.assertEqual((status, text), (500, "911"))
            self.assertIn("ipupdate: configuration error: config file %s: line 10 in "
                          "[dyndns2]: password is also a key in [ipupdate] or [names]"
                          % os.path.join(self.directory, "ipupdate.conf"), errors)

    def test_other_mistakes_are_refused_with_the_reason(self):
        cases = [
            ([("home.example.org", "short-password")],
             "line 9 in [dyndns2]: password shorter than 16 characters"),
            ([("home.example.org", ROUTER_PW), ("Home.Example.org", CABIN_PW)],
             "line 10 in [dyndns2]: this name and that on line 9 differ only in letter case"),
            ([("-home", ROUTER_PW)], "line 9 in [dyndns2]: not a valid name"),
        ]
        for dyndns2, reason in cases:
            status, text, errors = self.nic_update(config_body(dyndns2=dyndns2))
            self.assertEqual((status, text), (500, "911"), reason)
            self.assertIn("ipupdate: configuration error: config file %s: %s" % (
                os.path.join(self.directory, "ipupdate.conf"), reason), errors)
        status, text, errors = self.nic_update(config_body(
            {"dyndns2_allow_plain_http": "perhaps"}))
        self.assertIn("dyndns2_allow_plain_http must be yes or no", errors)
        # allow_short_secrets is for the original's old passwords, not for these.
        status, text, errors = self.nic_update(config_body(
            {"allow_short_secrets": "yes"}, [("home.example.org", "short-password")]))
        self.assertEqual((status, text), (500, "911"))

    def test_a_config_with_dyndns2_names_only_is_enough(self):
        status, text, errors = self.nic_update(
            "[ipupdate]\ndatabase = ipupdate.sqlite\n\n[dyndns2]\nhome.example.org = %s\n"
            "\n[name:home.example.org]\nhook_timeout = 5\n" % ROUTER_PW)
        self.assertEqual((status, text, errors), (200, "good 127.0.0.1", ""))


class LazyImportTest(unittest.TestCase):
    """Enabling dyndns2 costs a normal CGI request one import: ipupdate_dyndns2,
    which checks its [dyndns2] section, so a mistake there shows at once."""

    def setUp(self):
        version = subprocess.run([support.PYTHON, "-c", "import sys; print(sys.version_info "
                                  ">= (3, 7))"], stdout=subprocess.PIPE).stdout
        if version.strip() != b"True":
            self.skipTest("PYTHONPROFILEIMPORTTIME is Python 3.7+")

    def imports(self, dyndns2, body):
        directory = tempfile.mkdtemp(prefix="ipupdate-dyndns2-imports-")
        self.addCleanup(shutil.rmtree, directory)
        config = support.write_config(directory, config_body(dyndns2=dyndns2))
        status, _, _, errors, _ = support.run_cgi(support.SERVER, config, body,
                                                  extra_env={"PYTHONPROFILEIMPORTTIME": "1"})
        self.assertEqual(status, 200, errors)
        return sorted(line.rsplit("|", 1)[1].strip() for line in errors.splitlines()
                      if line.startswith("import time:") and "|" in line)

    def test_type_ip_and_type_update_import_only_ipupdate_dyndns2_more(self):
        for body in ("type=ip&ts=%d" % now(),
                     update_body("127.0.0.1", "home", now(), HOME_KEY)):
            imports = self.imports((), body)
            self.assertIn("hmac", imports)   # the list is real
            self.assertEqual(self.imports(DYNDNS2, body),
                             sorted(imports + ["ipupdate_dyndns2"]))


# ---------------------------------------------------------------------------
# The real clients, against `serve`, with DEPLOY.md's recipes for them.
# ---------------------------------------------------------------------------

def ddclient_conf(port, password, script=None):
    conf = deploy.recipe("ddclient-conf", ("daemon=300", "daemon=0"), ("ssl=yes", "ssl=no"),
                         ("web=https://example.org/checkip", "web=http://127.0.0.1:%d/checkip"
                          % port),
                         ("server=example.org", "server=127.0.0.1:%d" % port),
                         ("PASTE-THE-DYNDNS2-PASSWORD-HERE", password))
    if script:
        conf = deploy.replace_values(conf, [("script=/nic/update", "script=" + script)],
                                     "recipe ddclient-conf")
    return conf


def inadyn_conf(port, password):
    # No TLS here; our checkip answers 127.0.0.1, which inadyn would refuse as
    # "not a valid Internet address" unless told.
    return deploy.recipe("inadyn-conf", ("period = 300", "period = 300\nverify-address = false"),
                         ("ssl = true", "ssl = false\n    checkip-ssl = false"),
                         ("checkip-server = example.org", "checkip-server = 127.0.0.1:%d"
                          % port),
                         ("ddns-server = example.org", "ddns-server = 127.0.0.1:%d" % port),
                         ("PASTE-THE-DYNDNS2-PASSWORD-HERE", password))


class RealClients(object):
    """Run a client once; (exit code, everything it printed)."""

    def write(self, filename, text):
        path = os.path.join(self.directory, filename)
        with open(path, "w") as conf_file:
            conf_file.write(text)
        os.chmod(path, 0o600)   # both clients want their password file private
        return path

    def ddclient(self, port, password, script=None):
        conf = self.write("ddclient.conf", ddclient_conf(port, password, script))
        cache = os.path.join(self.directory, "ddclient.cache")
        if os.path.exists(cache):
            os.remove(cache)
        code, output, errors = deploy.run_program(
            [client_program("ddclient"), "-foreground", "-daemon=0", "-noquiet", "-file", conf,
             "-cache", cache], timeout=60)
        return code, output + errors

    def inadyn(self, port, password):
        conf = self.write("inadyn.conf", inadyn_conf(port, password))
        cache = tempfile.mkdtemp(prefix="inadyn-cache-", dir=self.directory)
        code, output, errors = deploy.run_program(
            [client_program("inadyn"), "-1", "--foreground", "--no-pidfile",
             "--cache-dir=" + cache, "-f", conf, "-l", "info"], timeout=60)
        return code, output + errors


class RealClientsThroughServeTest(RealClients, ThroughServe, unittest.TestCase):

    def viewer_line(self):
        return support.http_request(self.server.host, self.server.port, "GET",
                                    "/?name=home.example.org", content_type=None)[::2]

    def test_ddclient_updates_a_name_and_the_viewer_shows_it(self):
        code, output = self.ddclient(self.server.port, ROUTER_PW)
        self.assertEqual(code, 0, output)
        self.assertRegex(output, r"SUCCESS: +updating home\.example\.org: good: IP address set "
                                 r"to 127\.0\.0\.1")
        self.assertEqual(sources(self.database), [("home.example.org", "127.0.0.1", "dyndns2")])
        status, text = self.viewer_line()
        self.assertEqual(status, 200)
        self.assertRegex(text, r"^home\.example\.org ipv4 127\.0\.0\.1 \S+ dyndns2\n$")

    def test_ddclient_with_a_wrong_password_gets_badauth_and_changes_nothing(self):
        code, output = self.ddclient(self.server.port, "not-the-password-0123456789")
        self.assertEqual(code, 1, output)
        self.assertRegex(output, r"FAILED: +updating home\.example\.org: authorization failed "
                                 r"\(HTTP/1\.1 401 Unauthorized")
        self.assertIn("badauth", output)
        self.assertEqual(rows(self.database), [])

    def test_inadyn_updates_a_name_and_the_viewer_shows_it(self):
        code, output = self.inadyn(self.server.port, ROUTER_PW)
        self.assertEqual(code, 0, output)
        self.assertIn("Successful alias table update for home.example.org => new IP# 127.0.0.1",
                      output)
        self.assertEqual(sources(self.database), [("home.example.org", "127.0.0.1", "dyndns2")])
        status, text = self.viewer_line()
        self.assertRegex(text, r"^home\.example\.org ipv4 127\.0\.0\.1 \S+ dyndns2\n$")
        # Again (a new cache, so inadyn sends it): the same address is nochg, a success.
        code, output = self.inadyn(self.server.port, ROUTER_PW)
        self.assertEqual(code, 0, output)
        self.assertIn("Successful alias table update for home.example.org", output)
        self.assertEqual(len(rows(self.database)), 1)

    def test_inadyn_with_a_wrong_password_gets_badauth_and_changes_nothing(self):
        code, output = self.inadyn(self.server.port, "not-the-password-0123456789")
        self.assertNotEqual(code, 0, output)
        self.assertIn("[401 Unauthorized] badauth", output)
        self.assertEqual(rows(self.database), [])


# ---------------------------------------------------------------------------
# DEPLOY.md section 7 on a real Apache.
# ---------------------------------------------------------------------------

class ApacheDyndns2Test(RealClients, unittest.TestCase):
    """The install recipe, the dyndns2 recipes, and the Apache site of section 1
    with the /nic/update alias; ddclient through it. Apache here has no
    certificate, so the recipe as written is refused over plain HTTP; the
    other tests then allow plain HTTP in the config, as DEPLOY.md says tests do."""

    @classmethod
    def setUpClass(cls):
        cls.apache = deploy.check_apache()
        deploy.check_web_account()
        cls.directory = tempfile.mkdtemp(prefix="ipupdate-dyndns2-apache-")
        os.chmod(cls.directory, 0o755)   # the web server's user walks through it
        cls.site = os.path.join(cls.directory, "site")
        cls.daemons = []
        try:
            deploy.run_shell(deploy.recipe(
                "cgi-install", ("/srv/ipupdate", cls.site), ("/usr/bin/python3", support.PYTHON),
                ("WEB_USER=www-data", "WEB_USER=" + deploy.WEB_USER),
                ("WEB_GROUP=www-data", "WEB_GROUP=" + deploy.WEB_GROUP)), cwd=support.ROOT)
            output, _ = deploy.run_shell(deploy.recipe(
                "dyndns2-config", ("/srv/ipupdate", cls.site),
                ("/usr/bin/python3", support.PYTHON)), cwd=support.ROOT)
            cls.password = re.search(r"^The dyndns2 password for home\.example\.org: "
                                     r"([0-9a-f]{32})$", output, re.M).group(1)
            cls.config = os.path.join(cls.site, "ipupdate.conf")
            with open(cls.config, "rb") as config_file:
                cls.config_bytes = config_file.read()
            cls.port = deploy.free_port()
            site = deploy.recipe("apache-site", ("/srv/ipupdate", cls.site),
                                 ("*:80", "*:%d" % cls.port))
            alias = deploy.recipe("apache-dyndns2", ("/srv/ipupdate", cls.site))
            site = deploy.replace_values(site, [("</VirtualHost>", alias + "</VirtualHost>")],
                                         "recipe apache-site")
            cls.log_path = os.path.join(cls.directory, "apache-error.log")
            cls.daemons.append(deploy.start_apache(cls.apache, cls.directory, [cls.port], site,
                                                   cls.log_path))
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for daemon in reversed(cls.daemons):
            daemon.stop()
        shutil.rmtree(cls.directory, ignore_errors=True)

    def setUp(self):
        data = os.path.join(self.site, "data")
        for entry in os.listdir(data):
            os.remove(os.path.join(data, entry))
        with open(self.config, "wb") as config_file:   # the same file: mode and group kept
            config_file.write(self.config_bytes)
        self.database = os.path.join(data, "ipupdate.sqlite")
        self.log_mark = len(self.error_log())

    def error_log(self):
        with open(self.log_path, "rb") as log_file:
            return log_file.read().decode("utf-8", "replace")

    def allow_plain_http(self):
        with open(self.config, "wb") as config_file:
            config_file.write(self.config_bytes.replace(
                b"[ipupdate]\n", b"[ipupdate]\ndyndns2_allow_plain_http = yes\n", 1))

    def nic_update(self, path, password):
        return deploy.request(self.port, "GET", path, headers={
            "Authorization": basic(password)})

    def test_the_recipe_refuses_plain_http(self):
        status, _, text = self.nic_update("/nic/update?hostname=home.example.org",
                                          self.password)
        self.assertEqual((status, text), (403, "badagent"))
        self.wait_for_log("ipupdate: refused dyndns2 update from 127.0.0.1 for name "
                          "'home.example.org': refused over plain HTTP")
        self.assertNotIn(self.password, self.error_log())
        self.assertEqual(rows(self.database), [])

    def wait_for_log(self, text):
        """Apache writes a CGI program's stderr to its log asynchronously: wait a little."""
        deadline = time.monotonic() + 5
        while text not in self.error_log()[self.log_mark:] and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertIn(text, self.error_log()[self.log_mark:])

    def test_ddclient_through_apache_and_the_viewer_shows_it(self):
        self.allow_plain_http()
        code, output = self.ddclient(self.port, self.password)
        self.assertEqual(code, 0, output)
        self.assertRegex(output, r"SUCCESS: +updating home\.example\.org: good: IP address set "
                                 r"to 127\.0\.0\.1")
        self.assertEqual(sources(self.database), [("home.example.org", "127.0.0.1", "dyndns2")])
        status, _, text = deploy.request(self.port, "GET",
                                         "/cgi-bin/getip_cgi.py?name=home.example.org")
        self.assertEqual(status, 200)
        self.assertRegex(text, r"^home\.example\.org ipv4 127\.0\.0\.1 \S+ dyndns2\n$")
        self.assertNotIn(self.password, self.error_log())

    def test_the_script_url_with_the_path_after_it(self):
        self.allow_plain_http()
        path = "/cgi-bin/ipupdate_server.py/nic/update?hostname=home.example.org"
        status, headers, text = self.nic_update(path, "not-the-password-0123456789")
        self.assertEqual((status, text, headers["www-authenticate"]),
                         (401, "badauth", CHALLENGE))
        self.assertEqual(rows(self.database), [])
        status, headers, text = self.nic_update(path, self.password)
        self.assertEqual((status, text), (200, "good 127.0.0.1"))
        # Not chunked (see the recipe): the script's own Content-Length.
        self.assertEqual((headers.get("content-length"), headers.get("transfer-encoding")),
                         ("14", None))
        code, output = self.ddclient(self.port, self.password,
                                     script="/cgi-bin/ipupdate_server.py/nic/update")
        self.assertEqual(code, 0, output)
        self.assertRegex(output, r"WARNING: +updating home\.example\.org: nochg")


if __name__ == "__main__":
    unittest.main()
