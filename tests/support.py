"""Shared test helpers: real processes, real sockets, no mocks of our own code.

The scripts under test run with IPUPDATE_TEST_PYTHON (default: the interpreter
running the tests), so `make test-matrix` drives every Python 3 from 3.6 on
with one modern test runner.
"""

import hashlib
import hmac
import http.client
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.path.join(ROOT, "ipupdate_server.py")
CLIENT = os.path.join(ROOT, "ipupdater.py")
VIEWER = os.path.join(ROOT, "getip_cgi.py")
PYTHON = os.environ.get("IPUPDATE_TEST_PYTHON") or sys.executable
KEY = "test-key-5f1c0e2a9b7d4c36"           # the shared secret of write_config()
HOME_KEY = "home-key-8a31d0c4e6f29b75"      # the own key of name 'home'


def sign(key, message):
    """The reference MAC, computed independently of the scripts under test."""
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def write_config(directory, body=None, **settings):
    """Write ipupdate.conf into `directory` and return its path.

    With no `body`: secret = KEY, [names] home = HOME_KEY, plus `settings`.
    """
    if body is None:
        lines = ["[ipupdate]", "secret = " + KEY, "database = ipupdate.sqlite"]
        lines += ["%s = %s" % item for item in sorted(settings.items())]
        lines += ["", "[names]", "home = " + HOME_KEY, ""]
        body = "\n".join(lines)
    path = os.path.join(directory, "ipupdate.conf")
    with open(path, "w") as config_file:
        config_file.write(body)
    return path


def clean_env(**extra):
    """The environment for a child: ours, minus anything that could leak in."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("IPUPDATE_", "HTTP_", "GATEWAY_"))
           and key.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    env.update(extra)
    return env


class LocalServer(object):
    """`ipupdate_server.py serve` on an ephemeral port, as a real subprocess."""

    def __init__(self, config_path, bind="127.0.0.1", python=None, python_flags=(),
                 serve_args=()):
        self.config_path = config_path
        self.stderr_file = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [python or PYTHON] + list(python_flags) + [
                SERVER, "serve", "--config", config_path, "--bind", bind, "--port", "0"]
            + list(serve_args), stdout=subprocess.PIPE, stderr=self.stderr_file, env=clean_env())
        line = self.process.stdout.readline().decode()
        match = re.search(r"http://(\S+):(\d+)/", line)
        if not match:
            self.stop()
            raise RuntimeError("server did not start: %r %r" % (line, self.stderr()))
        self.host = match.group(1).strip("[]")
        self.port = int(match.group(2))
        self.url = "http://%s:%d/" % (match.group(1), self.port)

    def stderr(self):
        """What the server wrote to its error log so far (all of it, once stopped)."""
        if self.stderr_file.closed:
            return self.stderr_text
        self.stderr_file.seek(0)
        return self.stderr_file.read().decode("utf-8", "replace")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        if not self.stderr_file.closed:
            self.stderr_text = self.stderr()
            self.stderr_file.close()
            self.process.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def http_request(host, port, method="POST", path="/", body=b"", headers=None,
                 content_type="application/x-www-form-urlencoded"):
    """One request on a new connection; returns (status, headers dict, body text)."""
    connection = http.client.HTTPConnection(host, port, timeout=10)
    all_headers = {"Content-Type": content_type} if content_type else {}
    all_headers.update(headers or {})
    if isinstance(body, str):
        body = body.encode()
    connection.request(method, path, body=body, headers=all_headers)
    response = connection.getresponse()
    data = response.read().decode("utf-8", "replace")
    result = (response.status, dict((k.lower(), v) for k, v in response.getheaders()), data)
    connection.close()
    return result


def run_cgi(script, config_path, body=b"", method="POST",
            content_type="application/x-www-form-urlencoded", remote_addr="127.0.0.1",
            query="", extra_env=None, python=None, timeout=30, flags=()):
    """Execute `script` as a CGI program (RFC 3875), as a web server would;
    `flags` go to the interpreter, as on a shebang line.

    Returns (status, headers dict, body text, stderr text, exit code).
    """
    if isinstance(body, str):
        body = body.encode()
    env = clean_env(
        GATEWAY_INTERFACE="CGI/1.1", SERVER_PROTOCOL="HTTP/1.1", REQUEST_METHOD=method,
        SCRIPT_NAME="/cgi-bin/" + os.path.basename(script), PATH_INFO="",
        QUERY_STRING=query, REMOTE_ADDR=remote_addr, SERVER_NAME="localhost",
        SERVER_PORT="80", SERVER_SOFTWARE="test")
    if config_path:
        env["IPUPDATE_CONFIG"] = config_path
    if method == "POST" or body:
        env["CONTENT_LENGTH"] = str(len(body))
    if content_type:
        env["CONTENT_TYPE"] = content_type
    env.update(extra_env or {})
    done = subprocess.run([python or PYTHON] + list(flags) + [script], input=body, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    status, headers, text = parse_cgi_output(done.stdout)
    return status, headers, text, done.stderr.decode("utf-8", "replace"), done.returncode


def parse_cgi_output(output):
    """(status, headers dict, body text) of a CGI program's output (RFC 3875);
    status 0 when it wrote no header."""
    head, _, payload = output.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode("latin-1").split("\r\n"):
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    status = int(headers.get("status", "200").split()[0]) if head else 0
    return status, headers, payload.decode("utf-8", "replace")


def rows(database, table="log_ipv4"):
    """All rows of a history table as (ip, name, first_seen, timestamp), oldest first."""
    if not os.path.exists(database):
        return []
    connection = sqlite3.connect(database)
    try:
        return connection.execute(
            "SELECT ip, name, first_seen, timestamp FROM %s ORDER BY id" % table).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        connection.close()


def update_body(address, name, ts, key, mac=None):
    """A type=update body signed with `key` (or carrying `mac` as given)."""
    message = "type=update&ip=%s&name=%s&ts=%s" % (address, name, ts)
    return message + "&h=" + (mac if mac is not None else sign(key, message))


def kill_writer_mid_transaction(database):
    """What a crash leaves: a writer killed (-9) in mid-transaction, after SQLite
    had to write pages of it into the database file, so a hot journal remains."""
    crash = ("import os, sqlite3, sys\n"
             "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
             "c.execute('PRAGMA cache_size = 1')\n"
             "c.execute('BEGIN IMMEDIATE')\n"
             "for i in range(3000):\n"
             "    c.execute(\"INSERT INTO log_ipv4 (ip, name, first_seen, timestamp) \"\n"
             "              \"VALUES ('192.0.2.66', 'ghost', ?, ?)\", (i, i))\n"
             "os.kill(os.getpid(), 9)\n")
    subprocess.run([PYTHON, "-c", crash, database])


def now():
    return int(time.time())


# ---------------------------------------------------------------------------
# The client's harness: the client run as cron runs it, and a fake server on
# loopback that answers as a test says (forged, stale, legacy, slow, broken).
# ---------------------------------------------------------------------------

import http.server  # noqa: E402 (appended section)
import socket  # noqa: E402
import ssl  # noqa: E402
import threading  # noqa: E402
import unittest  # noqa: E402
import urllib.parse  # noqa: E402

WRONG_KEY = "wrong-key-0d9e8f7a6b5c4d3e"
SECRETS = (KEY, HOME_KEY, WRONG_KEY)


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


class FakeServer(object):
    """`respond(request)` -> (status, [(header, value)], body text); or bytes,
    sent as they are (a whole raw answer); or a function given the socket's
    write file, which writes what it likes (slowly, say) until the client
    goes away. `request` has .fields (dict), .body (bytes), .peer (text)."""

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
                try:
                    if callable(answer):
                        answer(self.wfile)
                    elif isinstance(answer, bytes):
                        self.wfile.write(answer)
                    else:
                        status, headers, body = answer
                        data = body.encode()
                        self.send_response(status)
                        for header in headers:
                            self.send_header(*header)
                        self.send_header("Content-Type", "text/plain")
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                except OSError:
                    pass  # the client went away: what the slow answers wait for

            def log_message(self, *args):
                pass

        class Server(http.server.HTTPServer):
            address_family = socket.AF_INET6 if ":" in bind else socket.AF_INET
            daemon_threads = True

            def process_request(self, request, client_address):   # one thread each
                threading.Thread(target=self.process_request_thread, daemon=True,
                                 args=(request, client_address)).start()

            def process_request_thread(self, request, client_address):
                try:
                    self.finish_request(request, client_address)
                except Exception:
                    pass
                finally:
                    self.shutdown_request(request)

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


def trickle(chunk, every_s=0.5, for_s=30):
    """A write function for FakeServer: `chunk` (bytes) every `every_s`, for at
    most `for_s`, or until the client has gone."""
    def write(wfile):
        end = time.monotonic() + for_s
        while time.monotonic() < end:
            wfile.write(chunk)
            wfile.flush()
            time.sleep(every_s)
    return write


def signed_reply(fields, key=KEY, ip="127.0.0.1", ts=None, nonce=None, now=None,
                 signed_now=None):
    """Our server's reply to a type=ip request, with any part replaced."""
    ts = fields["ts"] if ts is None else ts
    nonce = fields["nonce"] if nonce is None else nonce
    now = int(time.time()) if now is None else now
    signed_now = now if signed_now is None else signed_now
    mac = sign(key, "ip=%s&ts=%s&nonce=%s&now=%d" % (ip, ts, nonce, signed_now))
    return "ip=%s&ts=%s&nonce=%s&now=%d&h=%s" % (ip, ts, nonce, now, mac)


OUTCOME_LINES = {"new": "OK: New IP updated", "unchanged": "OK: Timestamp updated"}


def outcome_answer(fields, outcome="new", key=KEY, line=None, now=None, **signed):
    """Our server's answer to an update (its request `fields`): the line, then
    the signed outcome (docs/PROTOCOL.md); `signed` replaces a part of what is
    signed (ip, name, ts, nonce), `line` the first line."""
    now = int(time.time()) if now is None else now
    parts = dict(ip=fields["ip"], name=fields["name"], ts=fields["ts"],
                 nonce=fields.get("nonce", ""))
    parts.update(signed)
    message = "type=outcome&outcome=%s&ip=%s&name=%s&ts=%s&nonce=%s&now=%d" % (
        outcome, parts["ip"], parts["name"], parts["ts"], parts["nonce"], now)
    return "%s\noutcome=%s&now=%d&h=%s" % (
        OUTCOME_LINES.get(outcome, "Error: refused") if line is None else line, outcome, now,
        sign(key, message))


def legacy_reply(fields, key=KEY, ip="127.0.0.1"):
    """The original ipupdate.php's reply: no nonce, no time."""
    message = "ip=%s&ts=%s" % (ip, fields["ts"])
    return message + "&h=" + sign(key, message)


class ClientCase(unittest.TestCase):
    """Runs the client as cron would: a fresh process, a clean environment;
    every run checks that no secret reaches stdout or stderr."""

    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()
        self.addCleanup(self.directory.cleanup)
        self.config = write_config(self.directory.name)
        self.database = os.path.join(self.directory.name, "ipupdate.sqlite")

    def client(self, *args, **env):
        """Run the client; returns (exit code, stdout, stderr)."""
        done = subprocess.run([PYTHON, CLIENT] + list(args), env=clean_env(**env),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        out, err = done.stdout.decode(), done.stderr.decode()
        for secret in SECRETS:
            self.assertNotIn(secret, out + err)
        self.assertNotIn("Traceback", err)
        return done.returncode, out, err

    def assert_one_error_line(self, err):
        self.assertTrue(err.startswith("ipupdater: "), err)
        self.assertEqual(err.count("\n"), 1, err)
        self.assertTrue(err.endswith("\n"), err)

    def fake(self, respond, bind="127.0.0.1", tls_files=None):
        server = FakeServer(respond, bind, tls_files)
        self.addCleanup(server.stop)
        return server

    def run_against(self, fake, *args, **env):
        return self.client("--url", fake.url, "-p", KEY, *args, **env)


class RealServerCase(ClientCase):
    """With `ipupdate_server.py serve` on 127.0.0.1 (or `bind`)."""

    bind = "127.0.0.1"

    def setUp(self):
        ClientCase.setUp(self)
        self.server = LocalServer(self.config, bind=self.bind)
        self.addCleanup(self.server.stop)
        self.url = self.server.url + "cgi-bin/ipupdate_server.py"

    def home(self, *args, **env):
        """The client for name 'home', with home's key on the command line."""
        return self.client("--url", self.url, "-n", "home", "-p", HOME_KEY, *args, **env)

    def proxy(self, answer_ip=None):
        """A fake server that relays to the real one; `answer_ip(request)`, if
        given, answers the type=ip requests instead."""
        def respond(request):
            if answer_ip and request.fields["type"] == "ip":
                return 200, [], answer_ip(request)
            status, _, body = http_request(self.server.host, self.server.port,
                                           body=request.body)
            return status, [], body
        return self.fake(respond)


# ---------------------------------------------------------------------------
# The viewer's harness: fixed times, databases in the server's or the
# original's schema, and one CGI GET of the viewer (tests/test_viewer_*.py).
# ---------------------------------------------------------------------------

import shutil  # noqa: E402 (appended section)

T0 = 1700000000                     # 2023-11-14T22:13:20Z, a Tuesday in November
T_SUMMER = 1690000000               # 2023-07-22T04:26:40Z, daylight saving time in Europe
FOREVER = "36500d"                  # stale_after for fixed old times: nothing goes stale
TEXT = "text/plain; charset=utf-8"
ORIGINAL_TABLE = ("CREATE TABLE {table} (id INTEGER PRIMARY KEY AUTOINCREMENT, ip VARCHAR, "
                  "name VARCHAR, first_seen UNSIGNED INT, timestamp UNSIGNED INT)")


def utc(ts):
    """Reference formatting, independent of the viewer's."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(ts))


def tokyo(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%S+09:00", time.gmtime(ts + 9 * 3600))


def fill_database(path, rows, original_schema=False):
    """rows: (family, name, ip, first_seen, last_seen), inserted in this order."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    import ipupdate_server  # for SCHEMA
    connection = sqlite3.connect(path)
    for table in ("log_ipv4", "log_ipv6"):
        if original_schema:
            connection.execute(ORIGINAL_TABLE.format(table=table))
        else:
            connection.executescript(ipupdate_server.SCHEMA.format(table=table))
    for family, name, ip, first_seen, last_seen in rows:
        connection.execute(
            "INSERT INTO log_ipv%d (ip, name, first_seen, timestamp) VALUES (?, ?, ?, ?)"
            % family, (ip, name, first_seen, last_seen))
    connection.commit()
    connection.close()


class ViewerTestCase(unittest.TestCase):
    settings = {}
    rows = None

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="viewer-test-")
        self.addCleanup(shutil.rmtree, self.directory)
        self.config = write_config(self.directory, **self.settings)
        self.database = os.path.join(self.directory, "ipupdate.sqlite")
        if self.rows is not None:
            fill_database(self.database, self.rows)

    def view(self, query="", config=None, **options):
        """(status, headers, body, stderr) of one CGI GET of the viewer."""
        options.setdefault("method", "GET")
        status, headers, body, stderr, code = run_cgi(
            VIEWER, config or self.config, query=query, content_type=None, **options)
        self.assertEqual(code, 0, stderr)
        self.assertEqual(headers.get("cache-control"), "no-store")
        return status, headers, body, stderr

    def assertAnswer(self, query, status, body, content_type=TEXT, **options):
        got_status, headers, got_body, stderr = self.view(query, **options)
        self.assertEqual((got_status, got_body), (status, body), stderr)
        self.assertEqual(headers["content-type"], content_type)
        return headers
