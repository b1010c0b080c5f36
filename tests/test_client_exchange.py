"""The client's exchange with a real server, run as a real process: updates,
address families, HTTPS, a wrong local clock, HTTP as servers send it, and the
bound on the whole run (--timeout).

Against `ipupdate_server.py serve` (support.LocalServer) for what the server
decides; against a fake server on loopback (support.FakeServer) for answers
the real server never gives.
"""

import os
import shutil
import subprocess
import tempfile
import time
import unittest

try:
    from tests import support
except ImportError:  # run from inside tests/ (unittest discover -s tests)
    import support

THREE_YEARS_S = 3 * 365 * 86400
AUTH_FAILED = ("ipupdater: the address reply fails authentication: wrong password (for "
               "this name), or someone on the path altered the reply; nothing was sent\n")
TIMED_OUT = "ipupdater: no complete answer from %s within --timeout 2 s: stopped\n"
UNAVAILABLE = ("ipupdater: the server is unavailable for the address request (HTTP 503): "
               "Error: database unavailable\n")

class TestHttpAnswers(support.ClientCase):
    """HTTP answers as servers and proxies send them, through the whole client."""

    def test_chunked_interim_and_close_delimited_answers_are_read(self):
        def respond(request):
            if request.fields["type"] == "ip":
                reply = support.signed_reply(request.fields).encode()
                return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + b"6;ext=1\r\n" + reply[:6] + b"\r\n"
                        + b"%x\r\n" % (len(reply) - 6) + reply[6:] + b"\r\n"
                        + b"0\r\nX-Trailer: 1\r\n\r\n")
            return (b"HTTP/1.1 100 Continue\r\n\r\n"
                    b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\n"
                    + support.outcome_answer(request.fields).encode())
        fake = self.fake(respond)
        self.assertEqual(self.run_against(fake), (0, "127.0.0.1 -> OK: New IP updated\n", ""))
        self.assertEqual(fake.types(), ["ip", "update"])

    def test_an_answer_that_is_not_http_is_a_network_failure(self):
        superscript_status = "HTTP/1.1 2\u00b2 OK\r\n\r\n".encode("latin-1")
        for answer in (b"SSH-2.0-OpenSSH_9.2\r\n", superscript_status):
            fake = self.fake(lambda request, answer=answer: answer)
            code, out, err = self.run_against(fake, "--retries", "0")
            self.assertEqual((code, out), (3, ""))
            self.assert_one_error_line(err)
            self.assertTrue(err.startswith("ipupdater: no HTTP answer from 127.0.0.1 ("), err)
            self.assertEqual(fake.types(), ["ip"])

    def test_an_answer_over_64_kib_is_refused(self):
        fake = self.fake(lambda request: (200, [], "x" * 70000))
        self.assertEqual(self.run_against(fake), (
            5, "", "ipupdater: the answer from 127.0.0.1 is over 65536 bytes: not an "
                   "ipupdate server\n"))
        self.assertEqual(fake.types(), ["ip"])


# ---------------------------------------------------------------------------
# Against the real server.
# ---------------------------------------------------------------------------

class TestUpdates(support.RealServerCase):

    def test_first_run_records_the_address_and_the_next_raises_its_timestamp(self):
        before = int(time.time())
        self.assertEqual(self.home(), (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))
        support.wait_for_next_second()
        self.assertEqual(self.home(), (0, "home: 127.0.0.1 -> OK: Timestamp updated\n", ""))
        after = int(time.time())
        [(ip, name, first_seen, last_seen)] = support.rows(self.database)
        self.assertEqual((ip, name), ("127.0.0.1", "home"))
        self.assertTrue(before <= first_seen < last_seen <= after,
                        (before, first_seen, last_seen, after))

    def test_quiet_prints_a_new_address_and_nothing_when_unchanged(self):
        self.assertEqual(self.home("-q"), (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))
        support.wait_for_next_second()
        self.assertEqual(self.home("-q"), (0, "", ""))
        self.assertEqual(len(support.rows(self.database)), 1)

    def test_the_original_command_line_works(self):
        code, out, err = self.client("-w", "127.0.0.1:%d" % self.server.port, "-p",
                                     support.HOME_KEY, "-n", "home")
        self.assertEqual((code, out, err), (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))
        self.assertEqual([row[:2] for row in support.rows(self.database)],
                         [("127.0.0.1", "home")])

    def test_no_name_records_an_empty_name_with_the_shared_secret(self):
        code, out, err = self.client("-w", "127.0.0.1:%d" % self.server.port, "-u",
                                     "ipupdate.php", "-p", support.KEY)
        self.assertEqual((code, out, err), (0, "127.0.0.1 -> OK: New IP updated\n", ""))
        self.assertEqual([row[:2] for row in support.rows(self.database)], [("127.0.0.1", "")])

    def test_dry_run_checks_the_address_and_sends_nothing(self):
        code, out, err = self.home("--dry-run")
        self.assertEqual((code, err), (0, ""))
        prefix = "home: 127.0.0.1 -> dry run, would send: type=update&ip=127.0.0.1&name=home&ts="
        self.assertTrue(out.startswith(prefix), out)
        ts, _, mac = out[len(prefix):].strip().partition("&h=")
        mac, _, nonce = mac.partition("&nonce=")  # it asks for a signed outcome
        self.assertRegex(nonce, r"^[0-9a-f]{32}$")
        self.assertLessEqual(abs(int(ts) - time.time()), 2)
        self.assertEqual(mac, support.sign(
            support.HOME_KEY, "type=update&ip=127.0.0.1&name=home&ts=" + ts))
        self.assertEqual(support.rows(self.database), [])


class TestWrongPassword(support.RealServerCase):

    def test_a_wrong_password_fails_on_the_reply_and_sends_no_update(self):
        code, out, err = self.client("--url", self.url, "-n", "home", "-p", support.WRONG_KEY)
        self.assertEqual((code, out, err), (4, "", AUTH_FAILED))
        self.assertEqual(support.rows(self.database), [])
        self.assertNotIn("refused update", self.server.stderr())  # none was sent

    def test_the_shared_secret_is_not_homes_key(self):
        code, out, err = self.client("--url", self.url, "-n", "home", "-p", support.KEY)
        self.assertEqual((code, out, err), (4, "", AUTH_FAILED))
        self.assertEqual(support.rows(self.database), [])


class TestServerDown(support.ClientCase):

    def test_nothing_listening_is_a_network_failure(self):
        port = support.free_port()
        code, out, err = self.client("--url", "http://127.0.0.1:%d/x" % port, "-p",
                                     support.KEY, "--retries", "0")
        self.assertEqual((code, out), (3, ""))
        self.assertEqual(err, "ipupdater: cannot connect to 127.0.0.1 port %d: "
                              "Connection refused\n" % port)

    def test_an_unknown_host_is_a_network_failure(self):
        code, out, err = self.client("--url", "http://no-such-host.invalid/x", "-p",
                                     support.KEY, "--retries", "0")
        self.assertEqual((code, out), (3, ""))
        self.assert_one_error_line(err)
        self.assertIn("cannot resolve no-such-host.invalid", err)


class TestAddressFamilies(support.RealServerCase):

    def test_ipv4_and_ipv6_each_get_their_own_exchange(self):
        # The server listens on IPv4 only: -4 records, -6 fails, independently.
        for name, flags in (("a", ["-4", "-6"]), ("b", ["--both"]), ("c", ["-46"])):
            code, out, err = self.client("--url", self.url, "-n", name, "-p", support.KEY,
                                         "--retries", "0", *flags)
            self.assertEqual(code, 3)
            self.assertEqual(out, "%s: 127.0.0.1 -> OK: New IP updated\n" % name)
            self.assertTrue(err.startswith("ipupdater: IPv6: no IPv6 address for 127.0.0.1"),
                            err)
            self.assert_one_error_line(err)
        self.assertEqual([row[:2] for row in support.rows(self.database)],
                         [("127.0.0.1", "a"), ("127.0.0.1", "b"), ("127.0.0.1", "c")])
        self.assertEqual(support.rows(self.database, "log_ipv6"), [])


@unittest.skipUnless(support.ipv6_loopback_works(), "no IPv6 loopback (::1) on this machine")
class TestIPv6(support.RealServerCase):

    bind = "::1"

    def test_dash_6_reaches_the_server_over_ipv6_and_records_there(self):
        self.assertEqual(self.home("-6"), (0, "home: ::1 -> OK: New IP updated\n", ""))
        self.assertEqual([row[:2] for row in support.rows(self.database, "log_ipv6")],
                         [("::1", "home")])
        self.assertEqual(support.rows(self.database, "log_ipv4"), [])

    def test_dash_4_cannot_reach_an_ipv6_only_server(self):
        code, out, err = self.home("-4", "--retries", "0")
        self.assertEqual((code, out), (3, ""))
        self.assertTrue(err.startswith("ipupdater: IPv4: no IPv4 address for ::1"), err)


@unittest.skipUnless(shutil.which("openssl"), "no openssl command to make a test certificate")
class TestHttps(support.RealServerCase):
    """HTTPS is checked against the system's CA store: a TLS front (with a
    certificate for 'localhost' only) relays to the real server. The test
    trusts the certificate through SSL_CERT_FILE, which OpenSSL reads in
    place of the system store."""

    @classmethod
    def setUpClass(cls):
        cls.tls_directory = tempfile.TemporaryDirectory()
        cls.cert = os.path.join(cls.tls_directory.name, "cert.pem")
        cls.tls_key = os.path.join(cls.tls_directory.name, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                        "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                        "-keyout", cls.tls_key, "-out", cls.cert],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)

    @classmethod
    def tearDownClass(cls):
        cls.tls_directory.cleanup()

    def tls_front(self):
        def respond(request):
            status, _, body = support.http_request(self.server.host, self.server.port,
                                                   body=request.body)
            return status, [], body
        return self.fake(respond, tls_files=(self.cert, self.tls_key))

    def test_a_trusted_certificate_works(self):
        front = self.tls_front()
        url = front.url.replace("127.0.0.1", "localhost")
        self.assertEqual(self.client("--url", url, "-n", "home", "-p", support.HOME_KEY,
                                     SSL_CERT_FILE=self.cert),
                         (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))

    def test_an_untrusted_certificate_stops_before_anything_is_sent(self):
        front = self.tls_front()
        url = front.url.replace("127.0.0.1", "localhost")
        code, out, err = self.client("--url", url, "-n", "home", "-p", support.HOME_KEY,
                                     "--retries", "0")
        self.assertEqual((code, out), (4, ""))
        self.assert_one_error_line(err)
        self.assertTrue(err.startswith("ipupdater: the TLS certificate of localhost is not "
                                       "trusted ("), err)
        self.assertEqual(front.requests, [])

    def test_a_certificate_for_another_host_is_refused(self):
        front = self.tls_front()   # the URL says 127.0.0.1; the certificate, localhost
        code, out, err = self.client("--url", front.url, "-n", "home", "-p", support.HOME_KEY,
                                     "--retries", "0", SSL_CERT_FILE=self.cert)
        self.assertEqual((code, out), (4, ""))
        self.assertTrue(err.startswith("ipupdater: the TLS certificate of 127.0.0.1 is not "
                                       "trusted ("), err)
        self.assertEqual(front.requests, [])
        self.assertEqual(support.rows(self.database), [])


# ---------------------------------------------------------------------------
# A wrong local clock: the update is dated by the server's signed time.
# ---------------------------------------------------------------------------

class CgiFront(support.FakeServer):
    """An HTTP front that runs ipupdate_server.py as a CGI program per request,
    as a web server would (one process per request, config from the environment)."""

    def __init__(self, config_path):
        def respond(request):
            status, headers, body, _, _ = support.run_cgi(
                support.SERVER, config_path, body=request.body, remote_addr=request.peer)
            return status, [], body

        support.FakeServer.__init__(self, respond)


class TestWrongClock(support.RealServerCase):

    CASES = [(-THREE_YEARS_S, "1095 d 0 h behind"), (-7200, "2 h 0 min behind"),
             (7200, "2 h 0 min ahead of")]

    def check_shifted_clocks(self, url, database):
        for number, (offset_s, words) in enumerate(self.CASES):
            name = "clock%d" % number
            before = int(time.time())
            code, out, err = self.client("--url", url, "-n", name, "-p", support.KEY,
                                         IPUPDATE_TEST_CLOCK_OFFSET_S=str(offset_s))
            after = int(time.time())
            self.assertEqual((code, out, err), (
                0, "%s: 127.0.0.1 -> OK: New IP updated\n" % name,
                "ipupdater: local clock is %s the server; using the server's time\n" % words))
            [(ip, row_name, first_seen, _)] = [row for row in support.rows(database)
                                                if row[1] == name]
            self.assertTrue(before <= first_seen <= after, (before, first_seen, after))
        # Under -q a run that succeeds says nothing of it: cron would mail it every time.
        code, out, err = self.client("--url", url, "-n", "quiet", "-p", support.KEY, "-q",
                                     IPUPDATE_TEST_CLOCK_OFFSET_S=str(-THREE_YEARS_S))
        self.assertEqual((code, out, err), (0, "quiet: 127.0.0.1 -> OK: New IP updated\n", ""))

    def test_shifted_clocks_update_through_serve(self):
        self.check_shifted_clocks(self.url, self.database)

    def test_shifted_clocks_update_through_cgi(self):
        front = CgiFront(self.config)
        self.addCleanup(front.stop)
        self.check_shifted_clocks(front.url, self.database)

    def test_under_half_the_window_is_not_mentioned_over_it_is(self):
        code, out, err = self.home(IPUPDATE_TEST_CLOCK_OFFSET_S="-100")
        self.assertEqual((code, out, err), (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))
        code, out, err = self.client("--url", self.url, "-n", "laptop", "-p", support.KEY,
                                     IPUPDATE_TEST_CLOCK_OFFSET_S="-200")
        self.assertEqual((code, out, err), (0, "laptop: 127.0.0.1 -> OK: New IP updated\n",
                                            "ipupdater: local clock is 0 h 3 min behind the "
                                            "server; using the server's time\n"))




class TestTheWholeRunIsBounded(support.ClientCase):
    """--timeout bounds the whole run: a server that keeps answering, a byte at
    a time or with endless interim lines, cannot hold the client (and pile up
    cron runs). Bounded, not precise: `--timeout 2` must end well before 6 s."""

    def assert_stopped_in_time(self, respond, *args):
        fake = self.fake(respond)
        started = time.monotonic()
        code, out, err = self.run_against(fake, "--timeout", "2", *args)
        elapsed = time.monotonic() - started
        self.assertLess(elapsed, 6)
        self.assertGreater(elapsed, 1.9)
        self.assertEqual((code, out, err), (3, "", TIMED_OUT % "127.0.0.1"))
        return fake

    def test_a_server_trickling_one_byte_every_half_second_is_cut_off(self):
        fake = self.assert_stopped_in_time(
            lambda request: support.trickle(b"x"), "--retries", "0")
        self.assertEqual(fake.types(), ["ip"])

    def test_a_trickle_inside_the_status_line_is_cut_off(self):
        self.assert_stopped_in_time(lambda request: support.trickle(b"H", 0.3))

    def test_endless_100_continue_lines_are_cut_off(self):
        self.assert_stopped_in_time(
            lambda request: support.trickle(b"HTTP/1.1 100 Continue\r\n\r\n", 0.01),
            "--retries", "0")

    def test_retries_and_their_backoff_stay_inside_the_timeout(self):
        # 503 at once, every time: five retries would sleep 1+2+4+8+16 s.
        fake = self.fake(lambda request: (503, [], "Error: database unavailable"))
        started = time.monotonic()
        code, out, err = self.run_against(fake, "--timeout", "2", "--retries", "5")
        self.assertLess(time.monotonic() - started, 6)
        self.assertEqual((code, out, err), (3, "", UNAVAILABLE))
        self.assertIn(fake.types(), (["ip"], ["ip", "ip"]))

    def test_help_states_the_default_and_that_it_bounds_the_whole_run(self):
        code, out, err = self.client("--help")
        self.assertEqual((code, err), (0, ""))
        self.assertIn("--timeout S     the whole run, every retry included, ends after S\n"
                      "                  seconds at most (default 60), with exit code 3", out)
        self.assertIn("  3  network failure: no connection, timeout (--timeout),", out)


if __name__ == "__main__":
    unittest.main()
