"""The client, ipupdater.py, run as a real process against real servers.

Against `ipupdate_server.py serve` (support.LocalServer) for what the server
decides, and against a fake server on loopback (FakeServer below) for replies
the real server never gives: forged, stale, legacy, broken. Every run also
checks that no password ever reaches stdout or stderr.
"""

import http.server
import importlib.util
import json
import os
import shutil
import signal
import socket
import stat
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

try:
    from tests import support
except ImportError:  # run from inside tests/ (unittest discover -s tests)
    import support

WRONG_KEY = "wrong-key-0d9e8f7a6b5c4d3e"
SECRETS = (support.KEY, support.HOME_KEY, WRONG_KEY)
THREE_YEARS_S = 3 * 365 * 86400
AUTH_FAILED = ("ipupdater: the address reply fails authentication: wrong password (for "
               "this name), or someone on the path altered the reply; nothing was sent\n")
REPLAYED = ("ipupdater: the address reply is signed but answers another request (its ts "
            "or nonce is not the one sent): a replayed reply; nothing was sent\n")
LEGACY_WARNING = ("ipupdater: the server answers in the original ipupdate.php form (no "
                  "nonce, no time): upgrade it to ipupdate_server.py, or pass --legacy to "
                  "accept this without a warning\n")


def load(path, name):
    """Import a script by path, for the pure protocol functions."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wait_for_next_second():
    """The server refuses an update whose ts is not newer than the last one
    (a replay); two runs in one second carry the same ts."""
    time.sleep(1.02 - time.time() % 1)


def ipv6_loopback_works():
    try:
        probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        probe.bind(("::1", 0))
        probe.close()
        return True
    except OSError:
        return False


def free_port():
    """A port with nothing listening on it (bound, then released)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


class ClientCase(unittest.TestCase):
    """Runs the client as cron would: a fresh process, a clean environment."""

    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()
        self.config = support.write_config(self.directory.name)
        self.database = os.path.join(self.directory.name, "ipupdate.sqlite")

    def tearDown(self):
        self.directory.cleanup()

    def client(self, *args, **env):
        """Run the client; returns (exit code, stdout, stderr)."""
        done = subprocess.run([support.PYTHON, support.CLIENT] + list(args),
                              env=support.clean_env(**env), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=60)
        out, err = done.stdout.decode(), done.stderr.decode()
        for secret in SECRETS:
            self.assertNotIn(secret, out + err)
        self.assertNotIn("Traceback", err)
        return done.returncode, out, err

    def assert_one_error_line(self, err):
        self.assertTrue(err.startswith("ipupdater: "), err)
        self.assertEqual(err.count("\n"), 1, err)
        self.assertTrue(err.endswith("\n"), err)


class RealServerCase(ClientCase):
    """With `ipupdate_server.py serve` on 127.0.0.1."""

    bind = "127.0.0.1"

    def setUp(self):
        ClientCase.setUp(self)
        self.server = support.LocalServer(self.config, bind=self.bind)
        self.addCleanup(self.server.stop)
        self.url = self.server.url + "cgi-bin/ipupdate_server.py"

    def home(self, *args, **env):
        """The client for name 'home', with home's key on the command line."""
        return self.client("--url", self.url, "-n", "home", "-p", support.HOME_KEY,
                           *args, **env)


# ---------------------------------------------------------------------------
# A fake server on loopback: answers as a test says, records every request.
# ---------------------------------------------------------------------------

class FakeServer(object):
    """`respond(request)` -> (status, [(header, value)], body text), or bytes
    sent as they are (a whole raw answer), where request has .fields (dict),
    .body (bytes), .peer (address text)."""

    def __init__(self, respond, bind="127.0.0.1", tls_files=None):
        self.requests = []
        fake = self

        class Request(object):
            pass

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                request = Request()
                request.body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                request.fields = dict(urllib.parse.parse_qsl(request.body.decode(),
                                                             keep_blank_values=True))
                request.peer = self.client_address[0]
                fake.requests.append(request.fields)
                answer = respond(request)
                if isinstance(answer, bytes):
                    self.wfile.write(answer)
                    return
                status, headers, body = answer
                data = body.encode()
                self.send_response(status)
                for header in headers:
                    self.send_header(*header)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        class Server(http.server.HTTPServer):
            address_family = socket.AF_INET6 if ":" in bind else socket.AF_INET

        self.server = Server((bind, 0), Handler)
        self.port = self.server.server_address[1]
        if tls_files:  # (certificate file, key file)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls_files)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        host = "[%s]" % bind if ":" in bind else bind
        self.url = "%s://%s:%d/cgi-bin/ipupdate_server.py" % (
            "https" if tls_files else "http", host, self.port)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def types(self):
        return [fields.get("type") for fields in self.requests]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def signed_reply(fields, key=support.KEY, ip="127.0.0.1", ts=None, nonce=None, now=None,
                 signed_now=None):
    """Our server's reply to a type=ip request, with any part replaced."""
    ts = fields["ts"] if ts is None else ts
    nonce = fields["nonce"] if nonce is None else nonce
    now = int(time.time()) if now is None else now
    signed_now = now if signed_now is None else signed_now
    mac = support.sign(key, "ip=%s&ts=%s&nonce=%s&now=%d" % (ip, ts, nonce, signed_now))
    return "ip=%s&ts=%s&nonce=%s&now=%d&h=%s" % (ip, ts, nonce, now, mac)


def legacy_reply(fields, key=support.KEY, ip="127.0.0.1"):
    """The original ipupdate.php's reply: no nonce, no time."""
    message = "ip=%s&ts=%s" % (ip, fields["ts"])
    return message + "&h=" + support.sign(key, message)


class FakeServerCase(ClientCase):

    def fake(self, respond, bind="127.0.0.1", tls_files=None):
        server = FakeServer(respond, bind, tls_files)
        self.addCleanup(server.stop)
        return server

    def run_against(self, fake, *args, **env):
        return self.client("--url", fake.url, "-p", support.KEY, *args, **env)


# ---------------------------------------------------------------------------
# The protocol strings: the same fixed vectors as the server's.
# ---------------------------------------------------------------------------

class TestProtocolVectors(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.client = load(support.CLIENT, "ipupdater_under_test")
        cls.server = load(support.SERVER, "ipupdate_server_under_test")

    def test_signed_strings_are_the_servers(self):
        nonce = "00112233445566778899aabbccddeeff"
        for args in [("203.0.113.7", "1700000000"),
                     ("2001:db8::1", "1700000000", nonce, 1700000003)]:
            self.assertEqual(self.client.ip_reply_message(*args),
                             self.server.ip_reply_message(*args))
        self.assertEqual(self.client.ip_reply_message("203.0.113.7", "17", "ab" * 8, 18),
                         "ip=203.0.113.7&ts=17&nonce=abababababababab&now=18")
        self.assertEqual(self.client.update_message("2001:db8::1", "", "1700000000"),
                         "type=update&ip=2001:db8::1&name=&ts=1700000000")
        self.assertEqual(self.client.update_message("203.0.113.7", "home", "17"),
                         self.server.update_message("203.0.113.7", "home", "17"))

    def test_mac_is_hmac_sha256_hex(self):
        message = "type=update&ip=203.0.113.7&name=home&ts=1700000000"
        self.assertEqual(self.client.sign("secret", message), support.sign("secret", message))
        self.assertEqual(self.client.sign("secret", "ip=192.0.2.1&ts=1"),
                         "ae1699e180fc7a8be82f64a0afef414c473c8ba3fe57bb7e2989d62201495e8b")

    def test_update_request_decodes_on_the_server_to_the_signed_fields(self):
        body = self.client.update_request("k" * 16, "2001:db8::1", "home-1", "1700000000")
        self.assertEqual(body.split("&h=")[0],
                         "type=update&ip=2001%3Adb8%3A%3A1&name=home-1&ts=1700000000")
        fields = self.server.single_fields(self.server.parse_form(body.encode()))
        self.assertEqual(fields, {
            "type": "update", "ip": "2001:db8::1", "name": "home-1", "ts": "1700000000",
            "h": "46acb3f3512282d46134574a350ef75d5f5a6ffb09e52ab9b241c991f4e5b462"})

    def test_a_server_reply_checks_out_and_gives_address_and_time(self):
        nonce = "0123456789abcdef" * 2
        message = self.server.ip_reply_message("198.51.100.4", "1700000000", nonce, 1700000009)
        reply = message + "&h=" + self.server.sign("k" * 16, message)
        self.assertEqual(self.client.check_ip_reply("k" * 16, reply, "1700000000", nonce),
                         ("198.51.100.4", 1700000009))
        with self.assertRaises(self.client.Failure) as caught:
            self.client.check_ip_reply("x" * 16, reply, "1700000000", nonce)
        self.assertEqual(caught.exception.code, self.client.EXIT_AUTH)


class TestHttpAnswers(FakeServerCase):
    """HTTP answers as servers and proxies send them, through the whole client."""

    def test_chunked_interim_and_close_delimited_answers_are_read(self):
        def respond(request):
            if request.fields["type"] == "ip":
                reply = signed_reply(request.fields).encode()
                return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + b"6;ext=1\r\n" + reply[:6] + b"\r\n"
                        + b"%x\r\n" % (len(reply) - 6) + reply[6:] + b"\r\n"
                        + b"0\r\nX-Trailer: 1\r\n\r\n")
            return (b"HTTP/1.1 100 Continue\r\n\r\n"
                    b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nOK: New IP updated")
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
            self.assertTrue(err.startswith("ipupdater: the answer from 127.0.0.1 is not HTTP, "
                                           "or was cut short ("), err)
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

class TestUpdates(RealServerCase):

    def test_first_run_records_the_address_and_the_next_raises_its_timestamp(self):
        before = int(time.time())
        self.assertEqual(self.home(), (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))
        wait_for_next_second()
        self.assertEqual(self.home(), (0, "home: 127.0.0.1 -> OK: Timestamp updated\n", ""))
        after = int(time.time())
        [(ip, name, first_seen, last_seen)] = support.rows(self.database)
        self.assertEqual((ip, name), ("127.0.0.1", "home"))
        self.assertTrue(before <= first_seen < last_seen <= after,
                        (before, first_seen, last_seen, after))

    def test_quiet_prints_a_new_address_and_nothing_when_unchanged(self):
        self.assertEqual(self.home("-q"), (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))
        wait_for_next_second()
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
        self.assertLessEqual(abs(int(ts) - time.time()), 2)
        self.assertEqual(mac, support.sign(
            support.HOME_KEY, "type=update&ip=127.0.0.1&name=home&ts=" + ts))
        self.assertEqual(support.rows(self.database), [])


class TestWrongPassword(RealServerCase):

    def test_a_wrong_password_fails_on_the_reply_and_sends_no_update(self):
        code, out, err = self.client("--url", self.url, "-n", "home", "-p", WRONG_KEY)
        self.assertEqual((code, out, err), (4, "", AUTH_FAILED))
        self.assertEqual(support.rows(self.database), [])
        self.assertNotIn("refused update", self.server.stderr())  # none was sent

    def test_the_shared_secret_is_not_homes_key(self):
        code, out, err = self.client("--url", self.url, "-n", "home", "-p", support.KEY)
        self.assertEqual((code, out, err), (4, "", AUTH_FAILED))
        self.assertEqual(support.rows(self.database), [])


class TestServerDown(ClientCase):

    def test_nothing_listening_is_a_network_failure(self):
        port = free_port()
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


class TestPasswordSources(RealServerCase):

    def write_key(self, text, mode):
        path = os.path.join(self.directory.name, "key")
        with open(path, "w") as key_file:
            key_file.write(text)
        os.chmod(path, mode)
        return path

    def test_password_file_with_trailing_newline(self):
        path = self.write_key(support.HOME_KEY + "\n", 0o600)
        self.assertEqual(self.client("--url", self.url, "-n", "home", "--password-file", path),
                         (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))

    def test_password_file_with_crlf(self):
        path = self.write_key(support.HOME_KEY + "\r\n", 0o400)
        self.assertEqual(self.client("--url", self.url, "-n", "home", "--password-file", path),
                         (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))

    def test_only_one_newline_is_stripped(self):
        path = self.write_key(support.HOME_KEY + "\n\n", 0o600)
        self.assertEqual(self.client("--url", self.url, "-n", "home", "--password-file", path),
                         (4, "", AUTH_FAILED))

    def test_password_file_readable_by_others_is_refused(self):
        path = self.write_key(support.HOME_KEY, 0o644)
        code, out, err = self.client("--url", self.url, "-n", "home", "--password-file", path)
        self.assertEqual((code, out), (2, ""))
        self.assertEqual(err, "ipupdater: password file %s may be read by group or others "
                              "(mode 644): chmod 600 it, or pass "
                              "--allow-readable-password-file (see --help)\n" % path)
        self.assertEqual(support.rows(self.database), [])

    def test_password_file_readable_by_group_is_refused(self):
        path = self.write_key(support.HOME_KEY, 0o640)
        code, out, err = self.client("--url", self.url, "-n", "home", "--password-file", path)
        self.assertEqual((code, out), (2, ""))
        self.assertIn("(mode 640)", err)

    def test_readable_password_file_when_allowed(self):
        path = self.write_key(support.HOME_KEY, 0o644)
        self.assertEqual(self.client("--url", self.url, "-n", "home", "--password-file", path,
                                     "--allow-readable-password-file"),
                         (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))

    def test_missing_password_file(self):
        path = os.path.join(self.directory.name, "absent")
        code, out, err = self.client("--url", self.url, "--password-file", path)
        self.assertEqual((code, out, err), (2, "", "ipupdater: cannot read password file %s: "
                                                   "No such file or directory (see --help)\n"
                                                   % path))

    def test_password_from_the_environment(self):
        self.assertEqual(self.client("--url", self.url, "-n", "home",
                                     IPUPDATE_PASSWORD=support.HOME_KEY),
                         (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))

    def test_an_option_wins_over_the_environment(self):
        path = self.write_key(support.HOME_KEY, 0o600)
        self.assertEqual(self.client("--url", self.url, "-n", "home", "--password-file", path,
                                     IPUPDATE_PASSWORD=WRONG_KEY),
                         (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))

    def test_no_password_at_all_is_a_usage_error(self):
        code, out, err = self.client("--url", self.url, "-n", "home")
        self.assertEqual((code, out), (2, ""))
        self.assertEqual(err, "ipupdater: no password: give --password-file FILE, set "
                              "IPUPDATE_PASSWORD, or give -p PASSWORD (see --help)\n")

    def test_two_password_options_are_a_usage_error(self):
        path = self.write_key(support.HOME_KEY, 0o600)
        code, out, err = self.client("--url", self.url, "-p", support.HOME_KEY,
                                     "--password-file", path)
        self.assertEqual((code, out), (2, ""))
        self.assert_one_error_line(err)
        self.assertEqual(support.rows(self.database), [])


class TestUsage(ClientCase):

    def test_help_documents_the_crontab_line_and_exit_codes(self):
        code, out, err = self.client("--help")
        self.assertEqual((code, err), (0, ""))
        self.assertIn("*/10 * * * * /usr/bin/python3 /home/pi/ipupdater.py -q --url "
                      "http://example.org/cgi-bin/ipupdate_server.py -n home --password-file "
                      "/home/pi/.ipupdate.key\n", out)
        self.assertIn("(default: cgi-bin/ipupdate_server.py)", out)
        for line in ("  0  success", "  2  usage", "  3  network failure",
                     "  4  the server's reply failed authentication", "  5  the server refused"):
            self.assertIn(line, out)

    def test_bad_command_lines_exit_2_with_one_line(self):
        for args in (["--frobnicate"], ["-p", "x"], ["-w", "h", "--url", "http://h/", "-p", "x"],
                     ["--url", "ftp://h/", "-p", "x"], ["--url", "http://u@h/", "-p", "x"],
                     ["--url", "http://h/", "-p", "x", "--timeout", "soon"],
                     ["--url", "http://h/", "-p", "x", "--retries", "99"],
                     ["--url", "http://h/", "-p"], ["--url", "http://h/", "-p", "x", "extra"],
                     ["--url", "http://h:99999/", "-p", "x"],
                     ["--url", "http://h/a b", "-p", "x"]):
            code, out, err = self.client(*args)
            self.assertEqual((code, out), (2, ""), args)
            self.assert_one_error_line(err)
            self.assertTrue(err.endswith(" (see --help)\n"), err)

    def test_bundled_flags_and_attached_values_parse(self):
        # -q46 with an invalid URL: parsing passed when the URL is what is refused.
        code, out, err = self.client("-q46", "-wh/x y", "-pSECRET")
        self.assertEqual((code, out), (2, ""))
        self.assertIn("spaces or control characters", err)


class TestAddressFamilies(RealServerCase):

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


@unittest.skipUnless(ipv6_loopback_works(), "no IPv6 loopback (::1) on this machine")
class TestIPv6(RealServerCase):

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
class TestHttps(FakeServerCase, RealServerCase):
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

class CgiFront(FakeServer):
    """An HTTP front that runs ipupdate_server.py as a CGI program per request,
    as a web server would (one process per request, config from the environment)."""

    def __init__(self, config_path):
        def respond(request):
            status, headers, body, _, _ = support.run_cgi(
                support.SERVER, config_path, body=request.body, remote_addr=request.peer)
            return status, [], body

        FakeServer.__init__(self, respond)


class TestWrongClock(RealServerCase):

    CASES = [(-THREE_YEARS_S, "1095 d 0 h behind"), (-7200, "2 h 0 min behind"),
             (7200, "2 h 0 min ahead of")]

    def check_shifted_clocks(self, url, database):
        for number, (offset_s, words) in enumerate(self.CASES):
            name = "clock%d" % number
            before = int(time.time())
            code, out, err = self.client("--url", url, "-n", name, "-p", support.KEY, "-q",
                                         IPUPDATE_TEST_CLOCK_OFFSET_S=str(offset_s))
            after = int(time.time())
            self.assertEqual((code, out, err), (
                0, "%s: 127.0.0.1 -> OK: New IP updated\n" % name,
                "ipupdater: local clock is %s the server; using the server's time\n" % words))
            [(ip, row_name, first_seen, _)] = [row for row in support.rows(database)
                                                if row[1] == name]
            self.assertTrue(before <= first_seen <= after, (before, first_seen, after))

    def test_shifted_clocks_update_through_serve(self):
        self.check_shifted_clocks(self.url, self.database)

    def test_shifted_clocks_update_through_cgi(self):
        front = CgiFront(self.config)
        self.addCleanup(front.stop)
        self.check_shifted_clocks(front.url, self.database)

    def test_a_small_offset_is_not_mentioned(self):
        code, out, err = self.home(IPUPDATE_TEST_CLOCK_OFFSET_S="-200")
        self.assertEqual((code, out, err), (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))


# ---------------------------------------------------------------------------
# Replies the real server never gives: nothing may be sent after them.
# ---------------------------------------------------------------------------

class TestBadReplies(FakeServerCase):

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
            lambda request: (200, [], signed_reply(request.fields, key=WRONG_KEY)),
            4, AUTH_FAILED)

    def test_reply_with_another_nonce(self):
        self.refused_before_update(
            lambda request: (200, [], signed_reply(request.fields, nonce="ab" * 16)),
            4, REPLAYED)

    def test_reply_with_another_ts(self):
        self.refused_before_update(
            lambda request: (200, [], signed_reply(
                request.fields, ts=str(int(request.fields["ts"]) - 1))),
            4, REPLAYED)

    def test_reply_whose_time_was_altered(self):
        now = int(time.time())
        self.refused_before_update(
            lambda request: (200, [], signed_reply(request.fields, now=now - 3600,
                                                   signed_now=now)),
            4, AUTH_FAILED)

    def test_reply_whose_address_was_altered(self):
        def respond(request):
            return 200, [], signed_reply(request.fields).replace("127.0.0.1", "203.0.113.9")
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
            "configured\n")

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


class TestUpdateAnswers(FakeServerCase):
    """The address reply is fine; what the server says to the update counts."""

    def answering(self, status, body):
        def respond(request):
            if request.fields["type"] == "ip":
                return 200, [], signed_reply(request.fields)
            return status, [], body
        return self.fake(respond)

    def test_refusal_is_reported_and_never_retried(self):
        fake = self.answering(409, "Error: replayed or out-of-order message")
        code, out, err = self.run_against(fake, "--retries", "2")
        self.assertEqual((code, out, err), (5, "", "ipupdater: the server refused the update "
                                                   "(HTTP 409): Error: replayed or "
                                                   "out-of-order message\n"))
        self.assertEqual(fake.types(), ["ip", "update"])

    def test_error_in_a_200_as_the_original_answers_is_a_refusal(self):
        fake = self.answering(200, "Error: Invalid hash")
        self.assertEqual(self.run_against(fake), (
            5, "", "ipupdater: the server refused the update: Error: Invalid hash\n"))

    def test_update_carries_the_signed_fields(self):
        fake = self.answering(200, "OK: New IP updated")
        self.assertEqual(self.run_against(fake, "-n", "box"),
                         (0, "box: 127.0.0.1 -> OK: New IP updated\n", ""))
        update = fake.requests[1]
        self.assertEqual(sorted(update), ["h", "ip", "name", "ts", "type"])
        self.assertEqual(update["h"], support.sign(
            support.KEY, "type=update&ip=127.0.0.1&name=box&ts=" + update["ts"]))
        self.assertEqual(sorted(fake.requests[0]), ["name", "nonce", "ts", "type"])
        self.assertEqual(len(fake.requests[0]["nonce"]), 32)

    def test_update_is_dated_by_the_servers_time(self):
        server_now = int(time.time()) + 5000
        fake = self.fake(lambda request: (
            (200, [], signed_reply(request.fields, now=server_now))
            if request.fields["type"] == "ip" else (200, [], "OK: Timestamp updated")))
        code, out, err = self.run_against(fake, "-q")
        self.assertEqual((code, out), (0, ""))
        self.assertEqual(err, "ipupdater: local clock is 1 h 23 min behind the server; "
                              "using the server's time\n")
        self.assertIn(int(fake.requests[1]["ts"]), (server_now, server_now + 1))


class TestReplayedReply(FakeServerCase, RealServerCase):
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
        wait_for_next_second()
        code, out, err = self.client("--url", proxy.url, "-n", "home", "-p", support.HOME_KEY)
        self.assertEqual((code, out, err), (4, "", REPLAYED))
        self.assertEqual(proxy.types(), ["ip", "update", "ip"])
        self.assertEqual(support.rows(self.database), rows_before)


class TestLegacyServer(FakeServerCase, RealServerCase):
    """A server that answers as the original ipupdate.php: the address reply
    without nonce or time (faked here), the update checked by the real server."""

    def legacy_proxy(self, key=support.HOME_KEY):
        def respond(request):
            if request.fields["type"] == "ip":
                return 200, [], legacy_reply(request.fields, key=key)
            status, _, body = support.http_request(self.server.host, self.server.port,
                                                   body=request.body)
            return status, [], body
        return self.fake(respond)

    def test_accepted_with_a_warning_on_every_run_even_quiet(self):
        proxy = self.legacy_proxy()
        args = ("--url", proxy.url, "-n", "home", "-p", support.HOME_KEY, "-q")
        self.assertEqual(self.client(*args),
                         (0, "home: 127.0.0.1 -> OK: New IP updated\n", LEGACY_WARNING))
        wait_for_next_second()
        self.assertEqual(self.client(*args), (0, "", LEGACY_WARNING))
        self.assertEqual(len(support.rows(self.database)), 1)

    def test_accepted_silently_with_dash_dash_legacy(self):
        proxy = self.legacy_proxy()
        self.assertEqual(self.client("--url", proxy.url, "-n", "home", "-p", support.HOME_KEY,
                                     "--legacy"),
                         (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))

    def test_a_legacy_reply_with_a_bad_mac_is_refused(self):
        proxy = self.legacy_proxy(key=WRONG_KEY)
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


# ---------------------------------------------------------------------------
# --on-change PROGRAM: the server's on_change hook contract, on the client.
# ---------------------------------------------------------------------------

# Records its arguments, the environment it was started with (as execve passed
# it: /proc/self/environ, before Python adds anything of its own), and its
# working directory, one JSON line per run.
RECORDING_HOOK = """#!%(python)s
import json, os, sys
try:
    with open("/proc/self/environ", "rb") as started_with:
        env = dict(item.decode().split("=", 1)
                   for item in started_with.read().split(b"\\0") if item)
except OSError:
    env = dict(os.environ)
with open(%(record)r, "a") as record:
    record.write(json.dumps({"argv": sys.argv[1:], "env": env, "cwd": os.getcwd()}) + "\\n")
"""
HOOK_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PROXY_SETTINGS = {"HTTP_PROXY": "http://192.0.2.66:3128", "http_proxy": "http://192.0.2.66:3128",
                  "HTTPS_PROXY": "http://192.0.2.66:3128", "ALL_PROXY": "socks5://192.0.2.66",
                  "no_proxy": "example.org"}


def hook_env(client_env, name, family, new):
    """The whole environment the client gives its hook: PATH and the locale
    from the client's (PATH: a default), plus the change, OLD_IP empty."""
    env = dict((key, value) for key, value in client_env.items()
               if key in ("PATH", "LANG", "LC_ALL", "TZ"))
    env.setdefault("PATH", HOOK_DEFAULT_PATH)
    env.update({"IPUPDATE_NAME": name, "IPUPDATE_FAMILY": family, "IPUPDATE_OLD_IP": "",
                "IPUPDATE_NEW_IP": new})
    return env


def is_running(pid):
    """True while `pid` exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as stat_file:
            return stat_file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True


def ends_soon(pid, within_s=3):
    """True once `pid` has stopped running: a SIGKILL is sent at once, but the
    kernel ends the process a moment later."""
    deadline = time.monotonic() + within_s
    while is_running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class TestOnChangeHook(FakeServerCase, RealServerCase):
    """--on-change PROGRAM runs `PROGRAM NAME FAMILY "" NEW_IP` after the server
    answered 'OK: New IP updated', and only then; whatever it does, the exit
    code is the update's, and it never sees the password."""

    NEW = "home: 127.0.0.1 -> OK: New IP updated\n"

    def setUp(self):
        RealServerCase.setUp(self)
        self.record = os.path.join(self.directory.name, "hook-runs.jsonl")
        self.hook = self.write_hook("hook", RECORDING_HOOK % {
            "python": support.PYTHON, "record": self.record})

    def write_hook(self, name, text):
        path = os.path.join(self.directory.name, name)
        with open(path, "w") as hook:
            hook.write(text)
        os.chmod(path, stat.S_IRWXU)
        return path

    def runs(self):
        """What the recording hook saw, oldest first."""
        if not os.path.exists(self.record):
            return []
        with open(self.record) as record:
            text = record.read()
        for secret in SECRETS:
            self.assertNotIn(secret, text)
        return [json.loads(line) for line in text.splitlines()]

    def test_a_new_address_runs_the_hook_with_the_servers_arguments_old_ip_empty(self):
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": "UTC"}
        self.assertEqual(self.home("--on-change", self.hook, **env), (0, self.NEW, ""))
        self.assertEqual(self.runs(), [{
            "argv": ["home", "ipv4", "", "127.0.0.1"],
            "env": hook_env(support.clean_env(**env), "home", "ipv4", "127.0.0.1"),
            "cwd": os.getcwd()}])
        self.assertEqual([row[:2] for row in support.rows(self.database)],
                         [("127.0.0.1", "home")])

    def test_the_password_and_proxy_settings_never_reach_the_hook(self):
        env = dict(PROXY_SETTINGS, IPUPDATE_PASSWORD=support.HOME_KEY,
                   IPUPDATE_TEST_CLOCK_OFFSET_S="0")
        self.assertEqual(self.client("--url", self.url, "-n", "home", "--on-change",
                                     self.hook, **env), (0, self.NEW, ""))
        [run] = self.runs()   # also checks that no secret is anywhere in the record
        self.assertEqual(run["env"], hook_env(support.clean_env(), "home", "ipv4",
                                              "127.0.0.1"))

    def test_no_name_gives_an_empty_name_and_a_password_option_stays_out(self):
        self.assertEqual(self.client("--url", self.url, "-p", support.KEY, "--on-change",
                                     self.hook), (0, "127.0.0.1 -> OK: New IP updated\n", ""))
        self.assertEqual([run["argv"] for run in self.runs()], [["", "ipv4", "", "127.0.0.1"]])

    @unittest.skipUnless(ipv6_loopback_works(), "no IPv6 loopback (::1) on this machine")
    def test_an_ipv6_address_is_family_ipv6(self):
        with support.LocalServer(self.config, bind="::1") as server:
            self.assertEqual(self.client("--url", server.url, "-n", "home", "-p",
                                         support.HOME_KEY, "-6", "--on-change", self.hook),
                             (0, "home: ::1 -> OK: New IP updated\n", ""))
        [run] = self.runs()
        self.assertEqual(run["argv"], ["home", "ipv6", "", "::1"])
        self.assertEqual((run["env"]["IPUPDATE_FAMILY"], run["env"]["IPUPDATE_NEW_IP"]),
                         ("ipv6", "::1"))

    def test_a_bare_program_name_is_looked_up_in_path(self):
        path = self.directory.name + os.pathsep + "/usr/bin:/bin"
        self.assertEqual(self.home("--on-change", "hook", PATH=path), (0, self.NEW, ""))
        self.assertEqual(self.runs()[0]["env"]["PATH"], path)

    def test_without_path_the_hook_gets_a_default_one(self):
        env = dict((key, value) for key, value in support.clean_env().items()
                   if key != "PATH")
        done = subprocess.run([support.PYTHON, support.CLIENT, "--url", self.url, "-n", "home",
                               "-p", support.HOME_KEY, "--on-change", self.hook], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual((done.returncode, done.stdout.decode(), done.stderr.decode()),
                         (0, self.NEW, ""))
        self.assertEqual(self.runs()[0]["env"], hook_env(env, "home", "ipv4", "127.0.0.1"))

    def test_an_unchanged_address_runs_no_hook(self):
        self.assertEqual(self.home("-q", "--on-change", self.hook), (0, self.NEW, ""))
        wait_for_next_second()
        self.assertEqual(self.home("-q", "--on-change", self.hook), (0, "", ""))
        self.assertEqual(len(self.runs()), 1)
        self.assertEqual(len(support.rows(self.database)), 1)

    def test_dry_run_runs_no_hook(self):
        code, out, err = self.home("--dry-run", "--on-change", self.hook)
        self.assertEqual((code, err), (0, ""))
        self.assertIn(" -> dry run, would send: ", out)
        self.assertEqual(self.runs(), [])
        self.assertEqual(support.rows(self.database), [])

    def test_only_the_answer_new_ip_updated_runs_the_hook(self):
        for status, answer, code in ((409, "Error: replayed or out-of-order message", 5),
                                     (200, "Error: Invalid hash", 5),
                                     (403, "Error: authentication failed", 5),
                                     (200, "OK: Timestamp updated", 0),
                                     (200, "OK: New IP updated", 0)):
            def respond(request, status=status, answer=answer):
                if request.fields["type"] == "ip":
                    return 200, [], signed_reply(request.fields)
                return status, [], answer
            fake = self.fake(respond)
            result = self.run_against(fake, "--on-change", self.hook, "--retries", "0")
            self.assertEqual(result[0], code, (answer, result))
            self.assertEqual(fake.types(), ["ip", "update"])
        self.assertEqual([run["argv"] for run in self.runs()], [["", "ipv4", "", "127.0.0.1"]])

    def test_a_failing_hook_is_reported_on_stderr_and_the_exit_code_stays_0(self):
        hook = self.write_hook("failing", "#!/bin/sh\necho 'cannot reach the mail server' >&2"
                                          "\nexit 3\n")
        self.assertEqual(self.home("--on-change", hook), (
            0, self.NEW,
            "ipupdater: on_change hook for home (ipv4): cannot reach the mail server\n"
            "ipupdater: on_change hook for home (ipv4): %s exited with status 3\n" % hook))
        self.assertEqual([row[:2] for row in support.rows(self.database)],
                         [("127.0.0.1", "home")])

    def test_a_hook_killed_by_a_signal_is_reported(self):
        hook = self.write_hook("crashing", "#!/bin/sh\nkill -TERM $$\n")
        self.assertEqual(self.home("--on-change", hook), (
            0, self.NEW, "ipupdater: on_change hook for home (ipv4): %s was killed by "
                         "signal 15\n" % hook))

    def test_a_hanging_hook_is_killed_with_its_children_after_hook_timeout(self):
        pid_file = os.path.join(self.directory.name, "sleeper.pid")
        hook = self.write_hook("hanging", "#!/bin/sh\necho started\nsleep 60 &\n"
                                          "echo $! > %s\nwait\n" % pid_file)
        started = time.monotonic()
        self.assertEqual(self.home("--on-change", hook, "--hook-timeout", "1"), (
            0, self.NEW,
            "ipupdater: on_change hook for home (ipv4): started\n"
            "ipupdater: on_change hook for home (ipv4): %s timed out after 1 s "
            "(--hook-timeout) and was killed\n" % hook))
        self.assertLess(time.monotonic() - started, 5)
        with open(pid_file) as pid:
            self.assertTrue(ends_soon(int(pid.read())))
        self.assertEqual(len(support.rows(self.database)), 1)

    def test_interrupting_the_client_kills_a_running_hook(self):
        pid_file = os.path.join(self.directory.name, "sleeper.pid")
        hook = self.write_hook("hanging", "#!/bin/sh\nsleep 60 &\necho $! > %s.new\n"
                                          "mv %s.new %s\nwait\n" % ((pid_file,) * 3))
        client = subprocess.Popen(
            [support.PYTHON, support.CLIENT, "--url", self.url, "-n", "home", "-p",
             support.HOME_KEY, "--on-change", hook, "--hook-timeout", "60"],
            env=support.clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: client.poll() is None and client.kill())
        deadline = time.monotonic() + 20
        while not os.path.exists(pid_file) and time.monotonic() < deadline:
            time.sleep(0.05)
        with open(pid_file) as pid:
            sleeper = int(pid.read())
        client.send_signal(signal.SIGINT)
        out, err = client.communicate(timeout=10)
        self.assertEqual((client.returncode, out.decode(), err.decode()), (130, self.NEW, ""))
        self.assertTrue(ends_soon(sleeper))

    def test_a_program_that_cannot_run_is_reported(self):
        missing = os.path.join(self.directory.name, "no-such-hook")
        self.assertEqual(self.home("--on-change", missing), (
            0, self.NEW, "ipupdater: on_change hook for home (ipv4): cannot run %s: No such "
                         "file or directory\n" % missing))
        os.chmod(self.hook, stat.S_IRUSR | stat.S_IWUSR)
        self.assertEqual(self.client("--url", self.url, "-n", "other", "-p", support.KEY,
                                     "--on-change", self.hook), (
            0, "other: 127.0.0.1 -> OK: New IP updated\n",
            "ipupdater: on_change hook for other (ipv4): cannot run %s: Permission "
            "denied\n" % self.hook))

    def test_hook_output_goes_to_stderr_line_by_line_and_is_capped(self):
        hook = self.write_hook("chatty", "#!/bin/sh\necho one\nprintf 'two\\033[2J\\n' >&2\n"
                                         "printf '\\n'\nprintf '%0300d\\n' 0\n"
                                         "i=0; while [ $i -lt 30 ]; do echo line $i; "
                                         "i=$((i+1)); done\n")
        code, out, err = self.home("-q", "--on-change", hook)
        prefix = "ipupdater: on_change hook for home (ipv4): "
        self.assertEqual((code, out), (0, self.NEW))
        self.assertEqual(err.splitlines(), [prefix + "one", prefix + "two?[2J",
                                            prefix + "0" * 200 + "..."] +
                         [prefix + "line %d" % i for i in range(17)] +
                         [prefix + "(13 more lines of output not shown)"])

    def test_subprocess_is_imported_only_when_the_hook_runs(self):
        def imports(*args):
            code, _, err = self.client("--url", self.url, "-p", support.KEY, *args,
                                       PYTHONVERBOSE="1")
            self.assertEqual(code, 0)
            return set(line.split()[1] for line in err.splitlines()
                       if line.startswith("import "))
        self.assertNotIn("'subprocess'", imports("-n", "a"))           # no --on-change
        wait_for_next_second()
        self.assertNotIn("'subprocess'", imports("-n", "a", "--on-change", self.hook))
        self.assertIn("'subprocess'", imports("-n", "b", "--on-change", self.hook))
        self.assertEqual([run["argv"][0] for run in self.runs()], ["b"])

    def test_help_documents_the_contract_with_an_example(self):
        code, out, err = self.client("--help")
        self.assertEqual((code, err), (0, ""))
        for text in ("[--on-change PROGRAM [--hook-timeout S]]",
                     "\n    PROGRAM NAME FAMILY OLD_IP NEW_IP\n",
                     "OLD_IP is always\n  empty", "never the password, nor proxy settings",
                     "\n  --on-change /home/pi/mail-new-address\n",
                     "The --on-change program never changes the exit code"):
            self.assertIn(text, out)

    def test_a_bad_hook_timeout_is_a_usage_error(self):
        for value in ("0", "-1", "601", "nan", "soon"):
            code, out, err = self.client("--url", self.url, "-p", support.KEY,
                                         "--on-change", self.hook, "--hook-timeout", value)
            self.assertEqual((code, out), (2, ""), value)
            self.assert_one_error_line(err)
            self.assertTrue(err.endswith(" (see --help)\n"), err)
        self.assertEqual(support.rows(self.database), [])


if __name__ == "__main__":
    unittest.main()
