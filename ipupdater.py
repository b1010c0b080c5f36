#!/usr/bin/env python3
"""ipupdater.py - tell an ipupdate server this machine's public IP address.

~880 lines (a sixth of them --help), standard library only, Python 3.6
to 3.13. It holds your password and runs unattended from cron, so read it
before you trust it: it is short on purpose.

One run, per address family:
  1. POST type=ip&ts=T&nonce=N[&name=NAME]: "which address do you see me from?"
     The server answers ip=ADDR&ts=T&nonce=N&now=S&h=MAC, signed with the key.
  2. Check that reply: its MAC (in constant time), and that T and N are the
     ones just sent. Anything else stops the run before an update is sent.
  3. POST type=update&ip=ADDR&name=NAME&ts=S'&h=MAC, where S' is the server's
     time S plus the seconds since its reply: a wrong local clock does not
     matter. Print the server's one-line answer.
  4. With --on-change PROGRAM, if that answer is "OK: New IP updated", run
     PROGRAM NAME FAMILY "" NEW_IP as the server runs its on_change hook (the
     server does not say which address it replaced, so OLD_IP is empty). It
     can fail or hang: it is killed after --hook-timeout, reported on stderr,
     and the exit code stays the update's.

It also works with the original ipupdate.php, whose reply has no nonce and no
time (ip=ADDR&ts=T&h=MAC): accepted with a warning, or silently with --legacy.

HTTP is urllib's, set up to do only what this client must: no redirects, no
proxies, TLS checked against the system CA store; options are argparse's.
That costs start-up time. Measured (medians of 30 to 40 interleaved runs
against a local server, Python 3.6, 3.11 and 3.13 without flags), one whole
run takes 4.9 to 5.4 times as long as `python3 -c pass` (/usr/bin/python3
3.11: 44 ms against 8 ms); importing urllib.request alone takes 3.7 to 4
times, over the 3.5 we aimed at for a whole run, and argparse adds about 0.2.
The hand-written HTTP client this replaced ran in 2.3 times: on a cron job
every few minutes, 25 ms buys the standard library's HTTP in place of ours.

IPUPDATE_TEST_CLOCK_OFFSET_S (test use only): seconds added to every reading
of the local clock, so tests can give the client a wrong clock without
changing the machine's. It cannot weaken anything: the local clock is
untrusted input to the protocol anyway (anyone who can set this variable can
set the clock), and the server checks every message it receives.
"""

# All imported up front: every run needs urllib.request, which itself imports
# socket, ssl, hashlib and urllib.parse, so importing any of these later would
# save nothing (only --help and usage errors would come back sooner).
import argparse
import hashlib
import hmac
import http.client
import os
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

VERSION = "1.0"
DEFAULT_PATH = "cgi-bin/ipupdate_server.py"
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_RETRIES = 2
MAX_RETRIES = 10
RETRY_BACKOFF_S = 1.0             # then 2 s, 4 s, ...: a retry always gets a newer ts
CLOCK_WARNING_S = 300             # the server's default window for message times
MAX_RESPONSE_BYTES = 65536        # our answers are under 200 bytes; an error page more
MAX_PASSWORD_FILE_BYTES = 4096
PASSWORD_ENV = "IPUPDATE_PASSWORD"
CLOCK_OFFSET_ENV = "IPUPDATE_TEST_CLOCK_OFFSET_S"

# Exit codes (the table is in --help).
EXIT_OK = 0
EXIT_INTERNAL = 1                 # a bug: please report it
EXIT_USAGE = 2
EXIT_NETWORK = 3
EXIT_AUTH = 4
EXIT_REFUSED = 5


class Failure(Exception):
    """Stops the run: `code` is the exit status, `message` one line for stderr.

    `retry` is set only for network trouble; a refusal or a reply that fails
    its checks is never retried (asking again would not make it true).
    """

    def __init__(self, code, message, retry=False):
        Exception.__init__(self, message)
        self.code = code
        self.message = message
        self.retry = retry


# ---------------------------------------------------------------------------
# Protocol: the exact signed strings, built in one place, and the reply check.
# The same functions with the same names exist in ipupdate_server.py.
# ---------------------------------------------------------------------------

def sign(key, message):
    """HMAC-SHA256 of `message` under `key`, as 64 lowercase hex digits."""
    return hmac.new(key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def ip_reply_message(address, ts, nonce=None, now=None):
    """The signed part of a type=ip reply.

    Legacy form (the original's, no nonce): ip=ADDR&ts=T
    Our form:                               ip=ADDR&ts=T&nonce=N&now=S
    """
    message = "ip=%s&ts=%s" % (address, ts)
    if nonce is not None:
        message += "&nonce=%s&now=%s" % (nonce, now)
    return message


def update_message(address, name, ts):
    """The signed part of a type=update request."""
    return "type=update&ip=%s&name=%s&ts=%s" % (address, name, ts)


def ip_request(ts, nonce, name):
    pairs = [("type", "ip"), ("ts", ts), ("nonce", nonce)]
    return urllib.parse.urlencode(pairs + ([("name", name)] if name else []))


def update_request(key, address, name, ts):
    """The update, with NAME always present (the original signs it even when empty)."""
    mac = sign(key, update_message(address, name, ts))
    return urllib.parse.urlencode([("type", "update"), ("ip", address), ("name", name),
                                   ("ts", ts), ("h", mac)])


ADDRESS_CHARS = frozenset("0123456789abcdefABCDEF.:")
DIGITS = frozenset("0123456789")


def is_digits(text):
    """ASCII digits only: str.isdigit() also takes '\u00b2', which int() refuses."""
    return bool(text) and set(text) <= DIGITS


def check_ip_reply(key, text, ts, nonce):
    """Check the reply to `type=ip&ts=ts&nonce=nonce`.

    Returns (address, server_now), with server_now None for the legacy form.
    Raises Failure(EXIT_AUTH) for anything that is not a reply the server
    signed for exactly this request. The MAC is checked first, so the message
    says whether the reply was forged/altered or genuine but stale.
    """
    pairs = [pair.partition("=") for pair in text.rstrip("\r\n").split("&")]
    fields = [field for field, _, _ in pairs]
    values = dict((field, value) for field, _, value in pairs)
    if fields == ["ip", "ts", "nonce", "now", "h"]:
        message = ip_reply_message(values["ip"], values["ts"], values["nonce"], values["now"])
    elif fields == ["ip", "ts", "h"]:
        message = ip_reply_message(values["ip"], values["ts"])
    else:
        raise Failure(EXIT_AUTH, "the answer to the address request is not an ipupdate "
                                 "reply (%s): wrong URL, or something else answered; "
                                 "nothing was sent" % describe(text))
    # compare_digest, not ==: == returns sooner the sooner the strings differ,
    # which tells a forger, by timing, how much of a guessed MAC is right.
    # Bytes, because compare_digest refuses non-ASCII str (a forger's choice).
    if not hmac.compare_digest(sign(key, message).encode(), values["h"].encode("utf-8")):
        raise Failure(EXIT_AUTH, "the address reply fails authentication: wrong password "
                                 "(for this name), or someone on the path altered the "
                                 "reply; nothing was sent")
    # A genuine reply to another request (an old one replayed, or one someone
    # asked for with a chosen ts) must not be used: only our ts and nonce
    # prove that this address was seen just now, for us.
    if values["ts"] != ts or values.get("nonce", nonce) != nonce:
        raise Failure(EXIT_AUTH, "the address reply is signed but answers another request "
                                 "(its ts or nonce is not the one sent): a replayed "
                                 "reply; nothing was sent")
    address, now = values["ip"], values.get("now")
    if not address or not set(address) <= ADDRESS_CHARS or (
            now is not None and not is_digits(now)):
        raise Failure(EXIT_AUTH, "the address reply is signed but malformed (%s); "
                                 "nothing was sent" % describe(text))
    return address, (int(now) if now is not None else None)


def printable(text, limit=160):
    """Text from the network, safe for one line of a terminal or a cron mail."""
    text = "".join(c if " " <= c <= "~" else "?" for c in text)
    return text if len(text) <= limit else text[:limit] + "..."


def describe(text):
    """A short description of a body that is not what it should be."""
    if not text.strip():
        return "empty"
    if text.lstrip()[:1] == "<":
        return "an HTML page"
    return "'%s'" % printable(text.strip().splitlines()[0], 60)


def format_duration(seconds):
    """'1095 d 0 h', '3 h 12 min', '6 min 40 s': rounded to the last unit shown
    (the offset is only known to a second or so)."""
    seconds = int(abs(seconds))
    if seconds >= 86400:
        hours = (seconds + 1800) // 3600
        return "%d d %d h" % (hours // 24, hours % 24)
    if seconds >= 3600:
        minutes = (seconds + 30) // 60
        return "%d h %d min" % (minutes // 60, minutes % 60)
    return "%d min %d s" % (seconds // 60, seconds % 60)


# ---------------------------------------------------------------------------
# HTTP with urllib: one POST per connection, no redirect followed, no proxy.
# ---------------------------------------------------------------------------

class Target(object):
    """The server script's URL (--url, or -w/-u), checked once."""

    def __init__(self, url):
        # Spaces and control characters could end the request line or a header
        # early (header injection); urlsplit() would also drop tabs and
        # newlines silently. Percent-encoded, they are harmless.
        if not all("!" <= c <= "~" for c in url):
            raise Failure(EXIT_USAGE, "the URL has spaces or control characters; "
                                      "percent-encode them")
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port   # ValueError unless digits from 0 to 65535
        except ValueError:
            raise Failure(EXIT_USAGE, "bad host or port in URL: %s" % printable(url))
        if parts.scheme not in ("http", "https"):
            raise Failure(EXIT_USAGE, "the URL must start with http:// or https://")
        if "@" in parts.netloc:
            # It would not be used, and a password does not belong in a URL.
            raise Failure(EXIT_USAGE, "no user@ in the URL, please: the password goes in "
                                      "--password-file")
        if not parts.hostname or port == 0:
            raise Failure(EXIT_USAGE, "bad host or port in URL: %s" % printable(url))
        self.url = url
        self.host = parts.hostname   # for messages


FAMILY_NAMES = {4: "IPv4", 6: "IPv6", None: "any"}


class Connection(http.client.HTTPConnection):
    """http.client's connection, over one address family if asked (-4, -6).

    Only the socket is ours: socket.create_connection() cannot be told a
    family. The Host header is still the URL's host. Raises Failure, naming
    the step that failed.
    """

    def __init__(self, host, family=None, **kwargs):
        http.client.HTTPConnection.__init__(self, host, **kwargs)
        self.family = family

    def connect(self):
        address_family = {4: socket.AF_INET, 6: socket.AF_INET6, None: socket.AF_UNSPEC}
        try:
            addresses = socket.getaddrinfo(self.host, self.port, address_family[self.family],
                                           socket.SOCK_STREAM)
        except socket.gaierror as error:
            what = ("no %s address for" % FAMILY_NAMES[self.family] if self.family
                    else "cannot resolve")
            raise Failure(EXIT_NETWORK, "%s %s (%s)" % (what, self.host, error.strerror),
                          retry=True)
        error = None
        for family, kind, protocol, _, address in addresses:   # as create_connection()
            sock = socket.socket(family, kind, protocol)
            try:
                sock.settimeout(self.timeout)
                sock.connect(address)
            except OSError as failed:
                sock.close()
                error = failed
                continue
            self.sock = sock
            return
        raise Failure(EXIT_NETWORK, "cannot connect to %s port %d: %s"
                      % (self.host, self.port, reason(error)), retry=True)


class TLSConnection(Connection):
    """The same, then TLS with `tls`, a default context: the certificate is
    checked against the system CA store and the URL's host name against the
    certificate (SNI and the check use that name, whatever address answered)."""

    default_port = http.client.HTTPS_PORT

    def __init__(self, host, tls, **kwargs):
        Connection.__init__(self, host, **kwargs)
        self.tls = tls

    def connect(self):
        Connection.connect(self)
        try:
            self.sock = self.tls.wrap_socket(self.sock, server_hostname=self.host)
        except (ssl.CertificateError, ssl.SSLError) as error:
            # CertificateError: any bad certificate (3.7+) or a wrong host name
            # (3.6, which reports an untrusted one as CERTIFICATE_VERIFY_FAILED).
            if isinstance(error, ssl.CertificateError) or "CERTIFICATE_VERIFY" in str(error):
                # Not retried: someone may be in the middle, or the server is broken.
                raise Failure(EXIT_AUTH, "the TLS certificate of %s is not trusted (%s): "
                                         "someone may be in the middle; nothing was sent"
                                         % (self.host, printable(str(error))))
            raise Failure(EXIT_NETWORK, "TLS with %s failed: %s"
                          % (self.host, printable(str(error))), retry=True)
        except OSError as error:
            raise Failure(EXIT_NETWORK, "TLS with %s failed: %s" % (self.host, reason(error)),
                          retry=True)


class Handler(urllib.request.HTTPHandler):
    """urllib's HTTP handler for http and https, over our connections."""

    https_request = urllib.request.HTTPHandler.http_request   # same headers as http

    def __init__(self, family):
        urllib.request.HTTPHandler.__init__(self)
        self.family = family
        self.tls = None

    def http_open(self, request):
        return self.do_open(Connection, request, family=self.family)

    def https_open(self, request):
        if self.tls is None:
            # Made here, once: loading the CA store takes as long as starting
            # Python, so a run over http never does it, and one over https
            # once per address family.
            self.tls = ssl.create_default_context()
        return self.do_open(TLSConnection, request, family=self.family, tls=self.tls)


def make_opener(family):
    """A urllib opener with only the handlers this client needs.

    Not build_opener(): its defaults add a ProxyHandler, which would send the
    requests through any http_proxy/https_proxy set in the environment, where
    the server would see (and sign) the proxy's address instead of ours; and
    an HTTPRedirectHandler, which would follow a redirect and send the signed
    update to a server we were not told about. Without them a proxy setting
    is ignored and a redirect ends as an HTTPError, reported with its
    Location. (build_opener() also loads the CA store on 3.12+, even for http.)
    """
    opener = urllib.request.OpenerDirector()
    for handler in (Handler(family),
                    urllib.request.HTTPDefaultErrorHandler(),   # not 2xx -> HTTPError
                    urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


def post(opener, target, body, timeout_s):
    """POST a form; returns (status, headers, body bytes) whatever the status.

    Raises Failure: EXIT_NETWORK (retry=True) when the server cannot be
    reached or stops answering for timeout_s at any step (connecting, sending,
    each read), EXIT_REFUSED for an answer over MAX_RESPONSE_BYTES.
    """
    request = urllib.request.Request(target.url, data=body.encode("ascii"), headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "ipupdater/%s" % VERSION})
    try:
        try:
            response = opener.open(request, timeout=timeout_s)
            status = response.status
        except urllib.error.HTTPError as error:   # 3xx, 4xx, 5xx: read the answer too
            response, status = error, error.code
        with response:
            data = response.read(MAX_RESPONSE_BYTES + 1)
            headers = response.headers
    except urllib.error.URLError as error:   # sending failed (connecting raises Failure)
        raise Failure(EXIT_NETWORK, "cannot send to %s: %s" % (target.host,
                                                             reason(error.reason)), retry=True)
    except OSError as error:   # timed out, connection reset or closed
        raise Failure(EXIT_NETWORK, "no answer from %s: %s" % (target.host, reason(error)),
                      retry=True)
    except http.client.HTTPException as error:
        raise Failure(EXIT_NETWORK, "the answer from %s is not HTTP, or was cut short (%s)"
                      % (target.host, printable(str(error).strip() or type(error).__name__,
                                                60)), retry=True)
    if len(data) > MAX_RESPONSE_BYTES:
        raise Failure(EXIT_REFUSED, "the answer from %s is over %d bytes: not an ipupdate "
                                    "server" % (target.host, MAX_RESPONSE_BYTES))
    return status, headers, data


def reason(error):
    """Why a connection failed, in a few words."""
    if error is None:
        return "no address to connect to"
    if "timed out" in str(error):
        return "timed out"
    return printable(getattr(error, "strerror", None) or str(error))


# ---------------------------------------------------------------------------
# The on_change hook: the owner's program, run after the server stored a new
# address. The contract is the server's on_change hook's (docs/DNS.md), but
# OLD_IP is always empty: the server does not tell the client what it replaced.
# ---------------------------------------------------------------------------

NEW_ADDRESS_ANSWER = "OK: New IP updated"   # the one answer that runs the hook
DEFAULT_HOOK_TIMEOUT_S = 10.0
MAX_HOOK_TIMEOUT_S = 600
HOOK_ENV_KEPT = ("PATH", "LANG", "LC_ALL", "TZ")  # from our environment, if set
HOOK_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOOK_OUTPUT_LINES = 20            # of a hook's output, at most this many go to stderr
HOOK_OUTPUT_BYTES = 16384


def hook_family(address):
    """'ipv4' or 'ipv6', as the server names them to its hook."""
    return "ipv6" if ":" in address else "ipv4"


def hook_environment(kept, name, family, old, new):
    """The hook's whole environment: `kept` (PATH and the locale, see
    HOOK_ENV_KEPT; a default PATH), plus the change.

    Built up, never copied from ours: ours may hold IPUPDATE_PASSWORD, and
    proxy settings that this client ignores on purpose and that would steer
    the hook's own web requests.
    """
    env = dict(kept)
    env.setdefault("PATH", HOOK_DEFAULT_PATH)
    env.update({"IPUPDATE_NAME": name, "IPUPDATE_FAMILY": family,
                "IPUPDATE_OLD_IP": old, "IPUPDATE_NEW_IP": new})
    return env


def run_hook(program, timeout_s, kept, name, family, old, new, write_line):
    """Run `program NAME FAMILY OLD_IP NEW_IP`, as the server runs its hook.

    Never through a shell: the arguments are data, not a command line. It runs
    in our working directory, in a session of its own, with no input, and we
    wait at most timeout_s; then the whole session is killed, so a hook that
    hangs in a child of its own does not hold the run (and the next cron run)
    either. Its output (stdout and stderr) and any failure go to `write_line`,
    one call per line. It returns nothing and raises nothing (but
    KeyboardInterrupt, after killing the hook): the server stored the update
    before it runs, and the exit code does not depend on it.
    """
    # lazy: only a run that stored a new address, with --on-change, pays for
    # subprocess and signal (about 1 ms); urllib.request has loaded tempfile.
    import signal
    import subprocess
    import tempfile
    prefix = "on_change hook for %s (%s): " % (printable(name) or "(unnamed)", family)
    try:
        # A file, not a pipe: a child the hook leaves running in the background
        # may keep a pipe open long after the hook itself is done.
        with tempfile.TemporaryFile() as output:
            try:
                process = subprocess.Popen(
                    [program, name, family, old, new],
                    env=hook_environment(kept, name, family, old, new),
                    stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                    start_new_session=True)
            except OSError as error:
                # os.strerror: Python 3.6 appends the file name to error.strerror.
                why = os.strerror(error.errno) if error.errno else str(error)
                write_line(prefix + "cannot run %s: %s" % (printable(program), why))
                return
            try:
                status = process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                status = None
            finally:
                if process.returncode is None:   # timed out, or Ctrl-C meanwhile
                    try:
                        if hasattr(os, "killpg"):
                            os.killpg(process.pid, signal.SIGKILL)   # its whole session
                        else:
                            process.kill()   # Windows: no sessions, the program alone
                    except OSError:
                        pass  # already gone
                    process.wait()
            output.seek(0)
            lines = output.read(HOOK_OUTPUT_BYTES).decode("utf-8", "replace").splitlines()
        lines = [line for line in lines if line.strip()]
        for line in lines[:HOOK_OUTPUT_LINES]:
            write_line(prefix + printable(line, 200))
        if len(lines) > HOOK_OUTPUT_LINES:
            write_line(prefix + "(%d more lines of output not shown)"
                       % (len(lines) - HOOK_OUTPUT_LINES))
        if status is None:
            write_line(prefix + "%s timed out after %g s (--hook-timeout) and was killed"
                       % (printable(program), timeout_s))
        elif status < 0:
            write_line(prefix + "%s was killed by signal %d" % (printable(program), -status))
        elif status > 0:
            write_line(prefix + "%s exited with status %d" % (printable(program), status))
    except Exception as error:  # the update is stored: report, never fail the run
        write_line(prefix + "internal error running %s: %s: %s"
                   % (printable(program), type(error).__name__, printable(str(error))))


# ---------------------------------------------------------------------------
# The run: ask, check, update; per address family, with retries.
# ---------------------------------------------------------------------------

class Settings(object):
    """Everything a run needs, read once from the command line and environment."""

    def __init__(self, target, key, name, families, quiet, dry_run, legacy, timeout_s,
                 retries, clock_offset_s, on_change, hook_timeout_s, hook_env_kept):
        self.target, self.key, self.name, self.families = target, key, name, families
        self.quiet, self.dry_run, self.legacy = quiet, dry_run, legacy
        self.timeout_s, self.retries, self.clock_offset_s = timeout_s, retries, clock_offset_s
        self.on_change, self.hook_timeout_s = on_change, hook_timeout_s
        self.hook_env_kept = hook_env_kept   # the HOOK_ENV_KEPT part of our environment
        self.warned = set()   # each warning once per run, whatever the retries

    def clock(self):
        return time.time() + self.clock_offset_s

    def warn(self, message):
        """Warnings go to stderr even with -q: each one needs a person's attention."""
        if message not in self.warned:
            self.warned.add(message)
            sys.stderr.write("ipupdater: %s\n" % message)


def exchange(settings, family):
    """One address request and one update. Returns (line, new_address): the
    line to print (None under -q when nothing changed), and the address if the
    server answered that it stored it as new (else None). Raises Failure."""
    target, key, name = settings.target, settings.key, settings.name
    ts = str(int(settings.clock()))
    # The nonce makes the reply ours alone: a reply recorded earlier, or one
    # asked for by someone else, carries another nonce. 128 random bits.
    nonce = os.urandom(16).hex()
    opener = make_opener(family)
    status, headers, body = post(opener, target, ip_request(ts, nonce, name),
                                 settings.timeout_s)
    received = time.monotonic()
    local_now = settings.clock()
    text = body.decode("utf-8", "replace")
    if status != 200:
        raise status_failure("address request", status, headers, text)
    if text.startswith("Error"):  # the original answers its errors with 200
        raise Failure(EXIT_REFUSED, "the server refused the address request: %s"
                      % printable(text.splitlines()[0]))
    address, server_now = check_ip_reply(key, text, ts, nonce)

    if server_now is None:
        # The original ipupdate.php: no nonce, no time. Its reply is fresh only
        # by our ts, which it echoes, and anyone may ask a server for such a
        # reply for a ts of their choosing: a man in the middle could keep one
        # for his own address ready for us. He could as well relay both our
        # requests from that address, which no signature prevents (https does),
        # so this is accepted; but loudly, unless the user asked for it.
        if not settings.legacy:
            settings.warn("the server answers in the original ipupdate.php form (no "
                          "nonce, no time): upgrade it to ipupdate_server.py, or pass "
                          "--legacy to accept this without a warning")
        update_ts = int(settings.clock())
    else:
        # The server judges every message by its own clock, and told us its time
        # in a signed reply: sign the update with that, plus the time since.
        offset_s = int(local_now) - server_now
        if abs(offset_s) > CLOCK_WARNING_S:
            settings.warn("local clock is %s %s the server; using the server's time"
                          % (format_duration(offset_s), "ahead of" if offset_s > 0
                             else "behind"))
        update_ts = server_now + int(time.monotonic() - received)

    label = "%s: %s" % (printable(name), address) if name else address
    update = update_request(key, address, name, str(update_ts))
    if settings.dry_run:
        return "%s -> dry run, would send: %s" % (label, update), None
    status, headers, body = post(opener, target, update, settings.timeout_s)
    text = body.decode("utf-8", "replace")
    line = printable(text.splitlines()[0]) if text.strip() else ""
    if status != 200:
        raise status_failure("update", status, headers, text)
    if line.startswith("OK"):
        changed = line != "OK: Timestamp updated"
        return ("%s -> %s" % (label, line) if changed or not settings.quiet else None,
                address if line == NEW_ADDRESS_ANSWER else None)
    if line.startswith("Error"):  # the original answers its errors with 200
        raise Failure(EXIT_REFUSED, "the server refused the update: %s" % line)
    raise Failure(EXIT_REFUSED, "the answer to the update is neither OK nor Error (%s): "
                                "check the URL" % describe(text))


def status_failure(what, status, headers, text):
    """The Failure for an HTTP status other than 200."""
    if 300 <= status < 400:
        # Never followed: a redirect could send the signed update to a server
        # we were not told about, and it is not what the user configured.
        return Failure(EXIT_REFUSED, "the server redirects the %s (HTTP %d) to %s; not "
                                     "followed: if that is the right place, give it "
                                     "with --url" % (what, status, printable(
                                         headers.get("location", "?"))))
    detail = printable(text.splitlines()[0]) if text.startswith("Error") else describe(text)
    if status in (502, 503, 504):  # a proxy or the database is busy: try again later
        return Failure(EXIT_NETWORK, "the server is unavailable for the %s (HTTP %d): %s"
                       % (what, status, detail), retry=True)
    return Failure(EXIT_REFUSED, "the server refused the %s (HTTP %d): %s"
                   % (what, status, detail))


def run(settings):
    """Every family in turn, each independent of the others. Returns the exit
    code: 0, or the code of the first failure (never the hook's)."""
    code = EXIT_OK
    for family in settings.families:
        prefix = "%s: " % FAMILY_NAMES[family] if family else ""
        for attempt in range(settings.retries + 1):
            try:
                line, new_address = exchange(settings, family)
            except Failure as failure:
                if failure.retry and attempt < settings.retries:
                    time.sleep(RETRY_BACKOFF_S * 2 ** attempt)
                    continue
                sys.stderr.write("ipupdater: %s%s\n" % (prefix, failure.message))
                code = code or failure.code
                break
            if line:
                sys.stdout.write(line + "\n")
            if new_address and settings.on_change:
                # Outside the retries: the update is stored, and a hook that
                # fails is reported, never run again, never our exit code.
                sys.stdout.flush()   # our line before the hook's, in a cron mail
                run_hook(settings.on_change, settings.hook_timeout_s, settings.hook_env_kept,
                         settings.name, hook_family(new_address), "", new_address,
                         lambda text: sys.stderr.write("ipupdater: %s\n" % text))
            break
    return code


# ---------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------

USAGE = """\
ipupdater.py (--url URL | -w HOST[:PORT] [-u PATH]) [-n NAME]
                    (--password-file FILE | -p PASSWORD)  [-4] [-6] [--both]
                    [-q] [--dry-run] [--legacy] [--timeout S] [--retries N]
                    [--on-change PROGRAM [--hook-timeout S]]"""

DESCRIPTION = """\
Tell an ipupdate server which public IP address this machine has. It asks the
server which address it sees (a reply signed with the password and made fresh
by a random nonce), checks that reply, and only then sends a signed update for
that address. The server's clock, not this machine's, dates the update."""

EPILOG = """\
Output: one line per address family, "NAME: ADDRESS -> SERVER'S ANSWER", e.g.
  home: 203.0.113.7 -> OK: New IP updated
Two runs for one name less than a second apart: the second is refused as a
replay (same timestamp), which is harmless; cron runs are minutes apart.

Example:
  umask 077; python3 -c 'import secrets; print(secrets.token_hex(32))' \\
      > /home/pi/.ipupdate.key  # the server's config: [names] home = that key
  python3 ipupdater.py --dry-run --url http://example.org/cgi-bin/ipupdate_server.py \\
      -n home --password-file /home/pi/.ipupdate.key
  crontab -e, and add:
  */10 * * * * /usr/bin/python3 /home/pi/ipupdater.py -q --url http://example.org/cgi-bin/ipupdate_server.py -n home --password-file /home/pi/.ipupdate.key

Mail yourself each new address: write /home/pi/mail-new-address,
  #!/bin/sh
  echo "The $2 address of $1 is now $4." | mail -s "ipupdate: $1 is at $4" you@example.org
chmod 755 it, try it (/home/pi/mail-new-address home ipv4 "" 192.0.2.1), and add
  --on-change /home/pi/mail-new-address
to the crontab line. (mail-on-change in the ipupdate source's examples/hooks/
works here too: the server's on_change hooks take the same arguments.)

Exit codes:
  0  success (or --dry-run checked everything)
  1  internal error: a bug, please report it
  2  usage or configuration error (options, password file)
  3  network failure: no connection, timeout, server temporarily unavailable
  4  the server's reply failed authentication: wrong password, wrong URL, or
     someone on the path altering or replaying replies (or an untrusted TLS
     certificate); nothing was sent
  5  the server refused the request (its Error line is shown), redirected
     it, or answered something else than OK
With -4 -6, each family runs even if the other fails; the code is that of
the first failure. The --on-change program never changes the exit code: when
it runs, the server has stored the update; its failure goes to stderr.
"""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, whose errors end the run as any other usage error: one line."""

    def error(self, message):
        raise Failure(EXIT_USAGE, message)


def command_line():
    parser = ArgumentParser(prog="ipupdater.py", usage=USAGE, description=DESCRIPTION,
                            epilog=EPILOG, add_help=False,
                            formatter_class=argparse.RawTextHelpFormatter)
    server = parser.add_argument_group(
        "The server", "Redirects are not followed and proxy settings are ignored: the server\n"
                      "must see this machine's own address, and the update must go where\n"
                      "you said.")
    server.add_argument("--url", help="the server script, e.g.\n"
                        "https://example.org/cgi-bin/ipupdate_server.py\n"
                        "(https: certificate checked against the system CA store)")
    server.add_argument("-w", dest="host", metavar="HOST[:PORT]",
                        help="the original client's form: http://HOST[:PORT]/PATH")
    server.add_argument("-u", dest="path", metavar="PATH",
                        help="the script's path on HOST, without the leading slash\n"
                             "(default: %s)" % DEFAULT_PATH)

    password = parser.add_argument_group(
        "The password (the server's key for NAME, or its shared secret)",
        "%s, an environment variable, is used when neither -p nor\n"
        "--password-file is given." % PASSWORD_ENV)
    password.add_argument("--password-file", metavar="FILE",
                          help="read from FILE (one trailing newline is ignored);\n"
                               "refused if group or others may read FILE (chmod 600 it)")
    password.add_argument("--allow-readable-password-file", dest="allow_readable",
                          action="store_true", help="skip that check")
    password.add_argument("-p", "--password",
                          help="works, but any user of the machine can see it with ps,\n"
                               "and it stays in the crontab and shell history: prefer\n"
                               "one of the two above")

    send = parser.add_argument_group("What to send")
    send.add_argument("-n", "--name", default="",
                      help="record the address under NAME (default: no name)")
    send.add_argument("-4", dest="ipv4", action="store_true",
                      help="reach the server over IPv4 only")
    send.add_argument("-6", dest="ipv6", action="store_true",
                      help="reach the server over IPv6 only; -4 -6 (or --both)\n"
                           "records both addresses of a dual-stack home, one\n"
                           "exchange each")
    send.add_argument("--both", action="store_true", help="the same as -4 -6")
    send.add_argument("--dry-run", action="store_true",
                      help="ask for and check the address, print the update that\n"
                           "would be sent, send nothing")
    send.add_argument("--legacy", action="store_true",
                      help="the server is the original ipupdate.php (its replies\n"
                           "have no nonce and no time): accept that without the\n"
                           "warning it otherwise gets on every run")

    hook = parser.add_argument_group(
        "When the server stores a new address",
        "The server's on_change hook contract, on this side. Only after the answer\n"
        "'%s' (not after 'OK: Timestamp updated', a refusal,\n"
        "or --dry-run), PROGRAM runs, never through a shell, as\n"
        "  PROGRAM NAME FAMILY OLD_IP NEW_IP\n"
        "FAMILY is ipv4 or ipv6; NAME is empty without -n; OLD_IP is always\n"
        "empty: the server does not tell the client which address it replaced.\n"
        "Its whole environment: PATH, LANG, LC_ALL and TZ if set (PATH has a\n"
        "default), and IPUPDATE_NAME, IPUPDATE_FAMILY, IPUPDATE_OLD_IP and\n"
        "IPUPDATE_NEW_IP; never the password, nor proxy settings. It runs in the\n"
        "current directory, with no input, in a session of its own. Its output\n"
        "goes to stderr (at most %d lines), each line prefixed\n"
        "'ipupdater: on_change hook for NAME (FAMILY): ', and so does a failure,\n"
        "which never changes the exit code: the update is stored either way.\n"
        "With -4 -6, it runs once for each family whose address is new."
        % (NEW_ADDRESS_ANSWER, HOOK_OUTPUT_LINES))
    hook.add_argument("--on-change", metavar="PROGRAM",
                      help="run PROGRAM (a path, or a name looked up in PATH)")
    hook.add_argument("--hook-timeout", metavar="S", type=float,
                      default=DEFAULT_HOOK_TIMEOUT_S,
                      help="kill PROGRAM, with all it started in its session,\n"
                           "after S seconds (default %g)" % DEFAULT_HOOK_TIMEOUT_S)

    running = parser.add_argument_group("Running")
    running.add_argument("-q", "--quiet", action="store_true",
                         help="print nothing when the address is unchanged (for cron);\n"
                              "errors and warnings still go to stderr, one line each")
    running.add_argument("--timeout", metavar="S", type=float, default=DEFAULT_TIMEOUT_S,
                         help="seconds to wait for the server at each step: connecting,\n"
                              "sending, each read (default %g)" % DEFAULT_TIMEOUT_S)
    running.add_argument("--retries", metavar="N", type=int, default=DEFAULT_RETRIES,
                         help="retries after a network failure or HTTP 502/503/504,\n"
                              "1 s, 2 s, 4 s... apart (default %d); a refusal or\n"
                              "a reply that fails its checks is never retried"
                              % DEFAULT_RETRIES)
    running.add_argument("-h", "--help", action="help", help="show this help and exit")
    running.add_argument("--version", action="version", version="ipupdater.py " + VERSION)
    return parser


def read_password_file(path, allow_readable):
    try:
        with open(path, "rb") as password_file:
            mode = os.fstat(password_file.fileno()).st_mode
            # A key others can read is a key others have. (Windows has no such bits.)
            if mode & 0o044 and not allow_readable and os.name == "posix":
                raise Failure(EXIT_USAGE, "password file %s may be read by group or others "
                                          "(mode %03o): chmod 600 it, or pass "
                                          "--allow-readable-password-file"
                              % (path, mode & 0o777))
            data = password_file.read(MAX_PASSWORD_FILE_BYTES + 1)
    except OSError as error:
        raise Failure(EXIT_USAGE, "cannot read password file %s: %s"
                      % (path, error.strerror or error))
    if len(data) > MAX_PASSWORD_FILE_BYTES:
        raise Failure(EXIT_USAGE, "password file %s is over %d bytes: is it the right file?"
                      % (path, MAX_PASSWORD_FILE_BYTES))
    if data.endswith(b"\n"):
        data = data[:-2] if data.endswith(b"\r\n") else data[:-1]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise Failure(EXIT_USAGE, "password file %s is not UTF-8 text" % path)


def settings_from(args, environ):
    """Check the options as a whole and read the password; raises Failure(EXIT_USAGE)."""
    if args.url and (args.host is not None or args.path is not None):
        raise Failure(EXIT_USAGE, "give either --url or -w/-u, not both")
    if args.url:
        target = Target(args.url)
    elif args.host:
        path = (DEFAULT_PATH if args.path is None else args.path).lstrip("/")
        target = Target("http://%s/%s" % (args.host, path))
    else:
        raise Failure(EXIT_USAGE, "where is the server? give --url URL or -w HOST")

    if args.password is not None and args.password_file:
        raise Failure(EXIT_USAGE, "give either -p or --password-file, not both")
    if args.password_file:
        key = read_password_file(args.password_file, args.allow_readable)
    elif args.password is not None:
        key = args.password
    elif environ.get(PASSWORD_ENV) is not None:
        key = environ[PASSWORD_ENV]
    else:
        raise Failure(EXIT_USAGE, "no password: give --password-file FILE, set %s, or "
                                  "give -p PASSWORD" % PASSWORD_ENV)
    if not key:
        raise Failure(EXIT_USAGE, "the password is empty")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:   # undecodable bytes in argv or the environment
        raise Failure(EXIT_USAGE, "the password is not valid UTF-8")

    if args.both or (args.ipv4 and args.ipv6):
        families = [4, 6]
    else:
        families = [4] if args.ipv4 else [6] if args.ipv6 else [None]
    if not 0 < args.timeout <= 600 or not 0 <= args.retries <= MAX_RETRIES:
        raise Failure(EXIT_USAGE, "--timeout must be over 0 and at most 600 s, --retries "
                                  "0 to %d" % MAX_RETRIES)
    try:
        clock_offset_s = float(environ.get(CLOCK_OFFSET_ENV) or 0)
        if not abs(clock_offset_s) < 1e10:   # also refuses nan and inf
            raise ValueError
    except ValueError:
        raise Failure(EXIT_USAGE, "%s must be a number of seconds" % CLOCK_OFFSET_ENV)
    if not 0 < args.hook_timeout <= MAX_HOOK_TIMEOUT_S:
        raise Failure(EXIT_USAGE, "--hook-timeout must be over 0 and at most %d s"
                      % MAX_HOOK_TIMEOUT_S)
    # Only these reach the hook: never IPUPDATE_PASSWORD, never a proxy setting.
    hook_env_kept = dict((key, environ[key]) for key in HOOK_ENV_KEPT if key in environ)
    return Settings(target, key, args.name, families, args.quiet, args.dry_run, args.legacy,
                    args.timeout, args.retries, clock_offset_s, args.on_change or None,
                    args.hook_timeout, hook_env_kept)


def main(argv):
    """Runs the client; returns the exit code (--help and --version exit 0 in argparse)."""
    try:
        return run(settings_from(command_line().parse_args(argv), os.environ))
    except Failure as failure:
        hint = " (see --help)" if failure.code == EXIT_USAGE else ""
        sys.stderr.write("ipupdater: %s%s\n" % (failure.message, hint))
        return failure.code
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # a bug: one line for the cron mail, never the password
        sys.stderr.write("ipupdater: internal error (%s: %s); please report it\n"
                         % (type(error).__name__, printable(str(error))))
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
