#!/usr/bin/env python3
"""ipupdater.py - tell an ipupdate server this machine's public IP address.

~NNN lines, standard library only, Python 3.6 to 3.13. It holds your password
and runs unattended from cron, so read it before you trust it: it is short on
purpose.

The promise: an update goes only to the URL you gave, only for an address the
server signed just now for this very request, and a run ends within --timeout
whatever the network does (cron runs never pile up).

One run, per address family:
  1. POST type=ip&ts=T&nonce=N[&name=NAME]: "which address do you see me from?"
     The server answers ip=ADDR&ts=T&nonce=N&now=S&h=MAC, signed with the key.
  2. Check that reply: its MAC (in constant time), and that T and N are the
     ones just sent. Anything else stops the run before an update is sent.
     The original ipupdate.php answers ip=ADDR&ts=T&h=MAC, without the nonce:
     accepted only with --legacy, as anyone on the path can strip a nonce.
  3. POST type=update&ip=ADDR&name=NAME&ts=S'&h=MAC, where S' is the server's
     time S plus the seconds since its reply: a wrong local clock does not
     matter. Print the server's one-line answer.

IPUPDATE_TEST_CLOCK_OFFSET_S (test use only): seconds added to every reading
of the local clock, so tests can give the client a wrong clock without
changing the machine's. It cannot weaken anything: the local clock is
untrusted input to the protocol anyway (anyone who can set this variable can
set the clock), and the server checks every message it receives.
"""

# All cheap: http.client itself imports socket, ssl, threading, urllib.parse.
import getopt
import hashlib
import hmac
import http.client
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse

VERSION = "1.1"
DEFAULT_PATH = "cgi-bin/ipupdate_server.py"
DEFAULT_TIMEOUT_S = 60.0          # the whole run; cron and systemd allow minutes
MAX_TIMEOUT_S = 600
WATCHDOG_GRACE_S = 1.0            # lets the sockets' own timeouts speak first
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
        self.code, self.message, self.retry = code, message, retry


# ---------------------------------------------------------------------------
# Protocol: the exact signed strings, built in one place, and the reply check.
# The same functions with the same names exist in ipupdate_server.py, and
# tests/test_vectors.py holds both to one table.
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
    """The signed part of a type=update request (NAME present even when empty)."""
    return "type=update&ip=%s&name=%s&ts=%s" % (address, name, ts)


def ip_request(ts, nonce, name):
    pairs = [("type", "ip"), ("ts", ts), ("nonce", nonce)]
    return urllib.parse.urlencode(pairs + ([("name", name)] if name else []))


def update_request(key, address, name, ts):
    mac = sign(key, update_message(address, name, ts))
    return urllib.parse.urlencode([("type", "update"), ("ip", address), ("name", name),
                                   ("ts", ts), ("h", mac)])


ADDRESS_CHARS = frozenset("0123456789abcdefABCDEF.:")
DIGITS = frozenset("0123456789")   # not str.isdigit(): it takes '\u00b2', int() does not


def check_ip_reply(key, text, ts, nonce, legacy=False):
    """Check the reply to `type=ip&ts=ts&nonce=nonce`.

    Returns (address, server_now), server_now None for the legacy form (only
    with `legacy`). Raises Failure(EXIT_AUTH) for anything that is not a reply
    the server signed for exactly this request. The MAC is checked before the
    ts and nonce, so the message says whether the reply was altered or stale.
    """
    pairs = [pair.partition("=") for pair in text.rstrip("\r\n").split("&")]
    fields = [field for field, _, _ in pairs]
    values = dict((field, value) for field, _, value in pairs)
    if fields == ["ip", "ts", "nonce", "now", "h"]:
        message = ip_reply_message(values["ip"], values["ts"], values["nonce"], values["now"])
    elif fields == ["ip", "ts", "h"] and legacy:
        message = ip_reply_message(values["ip"], values["ts"])
    elif fields == ["ip", "ts", "h"]:
        # Anyone may ask a server for such a reply, for his own address and a
        # ts of his choosing, and put it in place of ours: accepting it would
        # let whoever strips the nonce choose the address we record.
        raise Failure(EXIT_AUTH, "the address reply is in the original ipupdate.php's "
                                 "form, without the nonce sent: pass --legacy if the server "
                                 "really is the original ipupdate.php; nothing was sent")
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
    # A genuine reply to another request (an old one replayed, or one asked
    # for with a chosen ts) must not be used: only our ts and nonce prove
    # that this address was seen just now, for us.
    if values["ts"] != ts or values.get("nonce", nonce) != nonce:
        raise Failure(EXIT_AUTH, "the address reply is signed but answers another request "
                                 "(its ts or nonce is not the one sent): a replayed "
                                 "reply; nothing was sent")
    address, now = values["ip"], values.get("now")
    if not address or not set(address) <= ADDRESS_CHARS or (
            now is not None and not (now and set(now) <= DIGITS)):
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
# HTTP: http.client, one POST per connection. It follows no redirect and
# reads no proxy setting, which is what we need: the server must see this
# machine's own address, and the signed update must go only where we were told.
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
            self.port = parts.port   # ValueError unless digits from 0 to 65535
        except ValueError:
            raise Failure(EXIT_USAGE, "bad host or port in URL: %s" % printable(url))
        if parts.scheme not in ("http", "https"):
            raise Failure(EXIT_USAGE, "the URL must start with http:// or https://")
        if "@" in parts.netloc:
            # It would not be used, and a password does not belong in a URL.
            raise Failure(EXIT_USAGE, "no user@ in the URL, please: the password goes in "
                                      "--password-file")
        if not parts.hostname or self.port == 0:
            raise Failure(EXIT_USAGE, "bad host or port in URL: %s" % printable(url))
        self.host, self.https = parts.hostname, parts.scheme == "https"
        self.path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        self.tls = None

    def tls_context(self):
        # Made once, and only for https: loading the CA store costs as much as
        # starting Python. It checks the certificate against the system CA
        # store and the URL's host name against the certificate.
        if self.tls is None:
            self.tls = ssl.create_default_context()
        return self.tls


FAMILY_NAMES = {4: "IPv4", 6: "IPv6", None: "any"}
SOCKET_FAMILIES = {4: socket.AF_INET, 6: socket.AF_INET6, None: socket.AF_UNSPEC}


class Connection(http.client.HTTPConnection):
    """http.client's connection, over one address family if asked (-4, -6):
    socket.create_connection() cannot be told one. Raises Failure, naming the
    step that failed. The Host header is still the URL's host."""

    family = None

    def connect(self):
        try:
            addresses = socket.getaddrinfo(self.host, self.port, SOCKET_FAMILIES[self.family],
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


class TLSConnection(http.client.HTTPSConnection, Connection):
    """The same, then TLS: HTTPSConnection.connect() wraps our socket, with
    SNI and the name check on the URL's host, whatever address answered."""


def post(target, family, body, deadline):
    """POST a form; returns (status, headers, body bytes) whatever the status.

    Every socket operation may take only the time left until `deadline`.
    Raises Failure: EXIT_NETWORK (retry=True) when the server cannot be
    reached or stops answering, EXIT_AUTH for an untrusted certificate,
    EXIT_REFUSED for an answer over MAX_RESPONSE_BYTES.
    """
    left = max(deadline - time.monotonic(), 0.01)
    if target.https:
        connection = TLSConnection(target.host, target.port, timeout=left,
                                   context=target.tls_context())
    else:
        connection = Connection(target.host, target.port, timeout=left)
    connection.family = family
    try:
        try:
            connection.connect()
        except (ssl.CertificateError, ssl.SSLError) as error:
            # CertificateError: any bad certificate (3.7+) or a wrong host name
            # (3.6, which reports an untrusted one as CERTIFICATE_VERIFY_FAILED).
            # Not retried: someone may be in the middle, or the server is broken.
            if isinstance(error, ssl.CertificateError) or "CERTIFICATE_VERIFY" in str(error):
                raise Failure(EXIT_AUTH, "the TLS certificate of %s is not trusted (%s): "
                                         "someone may be in the middle; nothing was sent"
                                         % (target.host, printable(str(error))))
            raise Failure(EXIT_NETWORK, "TLS with %s failed: %s"
                          % (target.host, printable(str(error))), retry=True)
        except OSError as error:
            raise Failure(EXIT_NETWORK, "TLS with %s failed: %s" % (target.host, reason(error)),
                          retry=True)
        connection.sock.settimeout(max(deadline - time.monotonic(), 0.01))
        connection.request("POST", target.path, body.encode("ascii"), {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "ipupdater/%s" % VERSION, "Connection": "close"})
        response = connection.getresponse()
        data = response.read(MAX_RESPONSE_BYTES + 1)
    except OSError as error:   # timed out, connection reset or closed
        raise Failure(EXIT_NETWORK, "no answer from %s: %s" % (target.host, reason(error)),
                      retry=True)
    except http.client.HTTPException as error:
        raise Failure(EXIT_NETWORK, "the answer from %s is not HTTP, or was cut short (%s)"
                      % (target.host, printable(str(error).strip() or type(error).__name__,
                                                60)), retry=True)
    finally:
        connection.close()
    if len(data) > MAX_RESPONSE_BYTES:
        raise Failure(EXIT_REFUSED, "the answer from %s is over %d bytes: not an ipupdate "
                                    "server" % (target.host, MAX_RESPONSE_BYTES))
    return response.status, response.msg, data


def reason(error):
    """Why a connection failed, in a few words."""
    if error is None:
        return "no address to connect to"
    if "timed out" in str(error):
        return "timed out"
    return printable(getattr(error, "strerror", None) or str(error))


def start_watchdog(settings):
    """End the process, with exit code 3, once the run is over its --timeout.

    The sockets' timeouts cannot do it alone: a server that sends a byte every
    half second, or endless '100 Continue' lines, never leaves a socket idle
    long enough, and a DNS lookup cannot be interrupted at all; a thread can
    still end the process. Cron runs then never pile up.
    """
    def expire():
        time.sleep(max(settings.deadline - time.monotonic(), 0) + WATCHDOG_GRACE_S)
        os.write(2, ("ipupdater: no complete answer from %s within --timeout %g s: stopped\n"
                     % (settings.target.host, settings.timeout_s)).encode())
        os._exit(EXIT_NETWORK)   # our lines on stdout are flushed as they are written
    threading.Thread(target=expire, daemon=True).start()


# ---------------------------------------------------------------------------
# The run: ask, check, update; per address family, with retries.
# ---------------------------------------------------------------------------

class Settings(object):
    """Everything a run needs, read once from the command line and environment."""

    def __init__(self, target, key, name, families, quiet, dry_run, legacy, timeout_s,
                 retries, clock_offset_s):
        self.target, self.key, self.name, self.families = target, key, name, families
        self.quiet, self.dry_run, self.legacy = quiet, dry_run, legacy
        self.timeout_s, self.retries, self.clock_offset_s = timeout_s, retries, clock_offset_s
        self.deadline = time.monotonic() + timeout_s   # of the whole run
        self.warned = set()   # each warning once per run, whatever the retries

    def clock(self):
        return time.time() + self.clock_offset_s

    def warn(self, message):
        """Warnings go to stderr even with -q: each one needs a person's attention."""
        if message not in self.warned:
            self.warned.add(message)
            sys.stderr.write("ipupdater: %s\n" % message)


def exchange(settings, family):
    """One address request and one update. Returns the line to print (None
    under -q when nothing changed). Raises Failure."""
    target, key, name = settings.target, settings.key, settings.name
    ts = str(int(settings.clock()))
    # The nonce makes the reply ours alone: a reply recorded earlier, or one
    # asked for by someone else, carries another nonce. 128 random bits.
    nonce = os.urandom(16).hex()
    status, headers, body = post(target, family, ip_request(ts, nonce, name), settings.deadline)
    received = time.monotonic()
    local_now = settings.clock()
    text = body.decode("utf-8", "replace")
    if status != 200:
        raise status_failure("address request", status, headers, text)
    if text.startswith("Error"):  # the original answers its errors with 200
        raise Failure(EXIT_REFUSED, "the server refused the address request: %s"
                      % printable(text.splitlines()[0]))
    address, server_now = check_ip_reply(key, text, ts, nonce, settings.legacy)
    if server_now is None:   # --legacy: the original ipupdate.php tells no time
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
        return "%s -> dry run, would send: %s" % (label, update)
    status, headers, body = post(target, family, update, settings.deadline)
    text = body.decode("utf-8", "replace")
    line = printable(text.splitlines()[0]) if text.strip() else ""
    if status != 200:
        raise status_failure("update", status, headers, text)
    if line.startswith("OK"):
        unchanged = line == "OK: Timestamp updated"
        return None if unchanged and settings.quiet else "%s -> %s" % (label, line)
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
    """Every family in turn, each independent of the others, all within the
    one deadline. Returns the exit code: 0, or the code of the first failure."""
    start_watchdog(settings)
    code = EXIT_OK
    for family in settings.families:
        prefix = "%s: " % FAMILY_NAMES[family] if family else ""
        for attempt in range(settings.retries + 1):
            try:
                line = exchange(settings, family)
            except Failure as failure:
                pause_s = RETRY_BACKOFF_S * 2 ** attempt
                if (failure.retry and attempt < settings.retries
                        and time.monotonic() + pause_s < settings.deadline):
                    time.sleep(pause_s)
                    continue
                sys.stderr.write("ipupdater: %s%s\n" % (prefix, failure.message))
                code = code or failure.code
                break
            if line:
                sys.stdout.write(line + "\n")
                sys.stdout.flush()   # before the watchdog may end the process
            break
    return code


# ---------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------

HELP = """\
usage: ipupdater.py (--url URL | -w HOST[:PORT] [-u PATH]) [-n NAME]
                    (--password-file FILE | -p PASSWORD)  [-4] [-6] [--both]
                    [-q] [--dry-run] [--legacy] [--timeout S] [--retries N]

Tell an ipupdate server which public IP address this machine has. It asks the
server which address it sees (a reply signed with the password and made fresh
by a random nonce), checks that reply, and only then sends a signed update for
that address. The server's clock, not this machine's, dates the update.

The server (redirects are not followed and proxy settings are ignored: the
server must see this machine's own address, and the update must go where you
said):
  --url URL       the server script, e.g.
                  https://example.org/cgi-bin/ipupdate_server.py
                  (https: certificate checked against the system CA store)
  -w HOST[:PORT]  the original client's form: http://HOST[:PORT]/PATH
  -u PATH         the script's path on HOST, without the leading slash
                  (default: %(path)s)

The password (the server's key for NAME, or its shared secret); %(env)s,
an environment variable, is used when neither -p nor --password-file is given:
  --password-file FILE
                  read from FILE (one trailing newline is ignored); refused
                  if group or others may read FILE (chmod 600 it)
  --allow-readable-password-file
                  skip that check
  -p, --password PASSWORD
                  works, but any user of the machine can see it with ps, and
                  it stays in the crontab and shell history: prefer the above

What to send:
  -n, --name NAME record the address under NAME (default: no name)
  -4              reach the server over IPv4 only
  -6              reach the server over IPv6 only; -4 -6 (or --both) records
                  both addresses of a dual-stack home, one exchange each
  --both          the same as -4 -6
  --dry-run       ask for and check the address, print the update that would
                  be sent, send nothing
  --legacy        the server is the original ipupdate.php: accept its replies,
                  which have no nonce and no time (without --legacy they are
                  refused: anyone on the path could strip the nonce)

Running:
  -q, --quiet     print nothing when the address is unchanged (for cron);
                  errors and warnings still go to stderr, one line each
  --timeout S     the whole run, every retry included, ends after S
                  seconds at most (default %(timeout)g), with exit code 3
  --retries N     retries after a network failure or HTTP 502/503/504, 1 s,
                  2 s, 4 s... apart, within --timeout (default %(retries)d); a
                  refusal or a reply that fails its checks is never retried
  -h, --help      show this help and exit
  --version       show the version and exit

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
To act on a new address (mail it, update DNS), use the server's on_change
hook: it knows the address that was replaced too.

Exit codes:
  0  success (or --dry-run checked everything)
  1  internal error: a bug, please report it
  2  usage or configuration error (options, password file)
  3  network failure: no connection, timeout (--timeout), server temporarily
     unavailable
  4  the server's reply failed authentication: wrong password, wrong URL, or
     someone on the path altering, replaying or stripping replies (or an
     untrusted TLS certificate, or a reply without the nonce and no --legacy);
     nothing was sent
  5  the server refused the request (its Error line is shown), redirected
     it, or answered something else than OK
With -4 -6, each family runs even if the other fails; the code is that of
the first failure.
""" % {"path": DEFAULT_PATH, "env": PASSWORD_ENV, "timeout": DEFAULT_TIMEOUT_S,
       "retries": DEFAULT_RETRIES}

LONG_OPTIONS = ["url=", "password-file=", "allow-readable-password-file", "password=",
                "name=", "both", "dry-run", "legacy", "quiet", "timeout=", "retries=",
                "help", "version"]
SAME_AS = {"--password": "-p", "--name": "-n", "--quiet": "-q", "--help": "-h"}


def parse_options(argv):
    """The options given, as {'-p': value, '--both': '', ...}; a usage Failure
    for anything else. getopt, as the original: bundled flags (-q46) and
    attached values (-pSECRET) work, and so do unique prefixes (--pass...)."""
    try:
        options, rest = getopt.gnu_getopt(argv, "w:u:p:n:46qh", LONG_OPTIONS)
    except getopt.GetoptError as error:
        raise Failure(EXIT_USAGE, printable(str(error)))
    if rest:
        raise Failure(EXIT_USAGE, "unexpected argument: %s" % printable(rest[0]))
    return dict((SAME_AS.get(option, option), value) for option, value in options)


def number(given, option, default, kind, low, high):
    """The value of a numeric option, within [low, high] (a usage Failure else)."""
    try:
        value = kind(given.get(option, default))
        if low <= value <= high:   # also refuses nan
            return value
    except ValueError:
        pass
    raise Failure(EXIT_USAGE, "%s must be a number from %s to %s" % (option, low, high))


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


def settings_from(given, environ):
    """Check the options as a whole and read the password; raises Failure(EXIT_USAGE)."""
    if "--url" in given and ("-w" in given or "-u" in given):
        raise Failure(EXIT_USAGE, "give either --url or -w/-u, not both")
    if given.get("--url"):
        target = Target(given["--url"])
    elif given.get("-w"):
        target = Target("http://%s/%s" % (given["-w"], given.get("-u", DEFAULT_PATH).lstrip("/")))
    else:
        raise Failure(EXIT_USAGE, "where is the server? give --url URL or -w HOST")

    if "-p" in given and "--password-file" in given:
        raise Failure(EXIT_USAGE, "give either -p or --password-file, not both")
    if "--password-file" in given:
        key = read_password_file(given["--password-file"],
                                 "--allow-readable-password-file" in given)
    elif "-p" in given:
        key = given["-p"]
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

    if "--both" in given or ("-4" in given and "-6" in given):
        families = [4, 6]
    else:
        families = [4] if "-4" in given else [6] if "-6" in given else [None]
    timeout_s = number(given, "--timeout", DEFAULT_TIMEOUT_S, float, 0.1, MAX_TIMEOUT_S)
    retries = number(given, "--retries", DEFAULT_RETRIES, int, 0, MAX_RETRIES)
    try:
        clock_offset_s = float(environ.get(CLOCK_OFFSET_ENV) or 0)
        if not abs(clock_offset_s) < 1e10:   # also refuses nan and inf
            raise ValueError
    except ValueError:
        raise Failure(EXIT_USAGE, "%s must be a number of seconds" % CLOCK_OFFSET_ENV)
    return Settings(target, key, given.get("-n", ""), families, "-q" in given,
                    "--dry-run" in given, "--legacy" in given, timeout_s, retries,
                    clock_offset_s)


def main(argv):
    """Runs the client; returns the exit code."""
    try:
        given = parse_options(argv)
        if "-h" in given or "--version" in given:
            sys.stdout.write(HELP if "-h" in given else "ipupdater.py %s\n" % VERSION)
            return EXIT_OK
        return run(settings_from(given, os.environ))
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
