#!/usr/bin/env python3
"""ipupdater.py - tell an ipupdate server this machine's public IP address.

~750 lines (a seventh of them --help), standard library only, Python 3.6 to
3.13. It holds your password and runs unattended from cron, so read it before
you trust it: it is short on purpose.

One run, per address family:
  1. POST type=ip&ts=T&nonce=N[&name=NAME]: "which address do you see me from?"
     The server answers ip=ADDR&ts=T&nonce=N&now=S&h=MAC, signed with the key.
  2. Check that reply: its MAC (in constant time), and that T and N are the
     ones just sent. Anything else stops the run before an update is sent.
  3. POST type=update&ip=ADDR&name=NAME&ts=S'&h=MAC, where S' is the server's
     time S plus the seconds since its reply: a wrong local clock does not
     matter. Print the server's one-line answer.

It also works with the original ipupdate.php, whose reply has no nonce and no
time (ip=ADDR&ts=T&h=MAC): accepted with a warning, or silently with --legacy.

HTTP is spoken directly over a socket (one short section below) rather than
with urllib or http.client: importing those takes longer than all the rest of
a run, on every cron run of a small machine, and what they add (redirects,
proxies, cookies, keep-alive) is what this client must not do anyway.

IPUPDATE_TEST_CLOCK_OFFSET_S (test use only): seconds added to every reading
of the local clock, so tests can give the client a wrong clock without
changing the machine's. It cannot weaken anything: the local clock is
untrusted input to the protocol anyway (anyone who can set this variable can
set the clock), and the server checks every message it receives.
"""

import os
import sys
import time

# Nothing else at module level: a cron job pays for every import on every run.
# `socket`, `hmac` and `ssl` are imported where they are first needed, each
# marked "lazy"; urllib, http.client and argparse are not used at all, because
# importing any of them costs more than everything else a run does.

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
    import hashlib  # lazy: with hmac, only loaded once there is something to sign
    import hmac
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


def form_encode(pairs):
    """application/x-www-form-urlencoded, as urllib.parse.urlencode does it
    (without importing urllib.parse, which costs more than a whole run)."""
    return "&".join(quote(field) + "=" + quote(value) for field, value in pairs)


UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def quote(text):
    return "".join(chr(byte) if byte in UNRESERVED else "%%%02X" % byte
                   for byte in text.encode("utf-8"))


def ip_request(ts, nonce, name):
    pairs = [("type", "ip"), ("ts", ts), ("nonce", nonce)]
    return form_encode(pairs + ([("name", name)] if name else []))


def update_request(key, address, name, ts):
    """The update, with NAME always present (the original signs it even when empty)."""
    mac = sign(key, update_message(address, name, ts))
    return form_encode([("type", "update"), ("ip", address), ("name", name), ("ts", ts),
                        ("h", mac)])


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
    import hmac  # lazy, see sign()
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
# HTTP/1.1 over a socket: one POST per connection, nothing followed, no proxy.
# ---------------------------------------------------------------------------

class Target(object):
    """Where the server script is: parsed once from --url or -w/-u."""

    def __init__(self, url):
        scheme, separator, rest = url.partition("://")
        self.scheme = scheme.lower()
        if not separator or self.scheme not in ("http", "https"):
            raise Failure(EXIT_USAGE, "the URL must start with http:// or https://")
        authority, _, path = rest.partition("/")
        self.path = "/" + path.partition("#")[0]
        if "@" in authority:
            # It would not be used, and a password does not belong in a URL.
            raise Failure(EXIT_USAGE, "no user@ in the URL, please: the password goes in "
                                      "--password-file")
        if authority.startswith("["):
            self.host, _, port_text = authority[1:].partition("]")
            if port_text and not port_text.startswith(":"):
                raise Failure(EXIT_USAGE, "bad host in URL: %s" % printable(authority))
            port_text = port_text[1:]
        else:
            self.host, _, port_text = authority.partition(":")
        if port_text and not (is_digits(port_text) and 0 < int(port_text) < 65536):
            raise Failure(EXIT_USAGE, "bad port in URL: %s" % printable(port_text))
        self.port = int(port_text) if port_text else (443 if self.scheme == "https" else 80)
        # Anything else could end the request line or header early (header injection).
        if not self.host or not set(self.host) <= HOST_CHARS:
            raise Failure(EXIT_USAGE, "bad host in URL: %s" % printable(authority))
        if not all("!" <= c <= "~" for c in self.path):
            raise Failure(EXIT_USAGE, "the URL path has spaces or control characters; "
                                      "percent-encode them")
        self.authority = authority   # the Host header, as the user wrote it
        self.url = "%s://%s%s" % (self.scheme, authority, self.path)


HOST_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_:%")
FAMILY_NAMES = {4: "IPv4", 6: "IPv6", None: "any"}


def connect(target, family, deadline):
    """A connected socket to the target, over `family` (4, 6 or None for any)."""
    if target.scheme == "https":
        import socket  # lazy; ssl wraps only socket.socket, and imports socket anyway
    else:
        # lazy, and the C core of `socket`: the same calls, without the imports
        # of socket.py (enum, selectors), which cost a quarter of a whole run.
        import _socket as socket
    address_family = {4: socket.AF_INET, 6: socket.AF_INET6, None: socket.AF_UNSPEC}[family]
    where = "%s port %d" % (target.host, target.port)
    try:
        # The host as bytes: as str it goes through the IDNA codec, whose imports
        # cost more than the lookup (HOST_CHARS keeps it ASCII anyway).
        addresses = socket.getaddrinfo(target.host.encode("ascii"), target.port,
                                       address_family, socket.SOCK_STREAM)
    except socket.gaierror as error:
        what = "no %s address for" % FAMILY_NAMES[family] if family else "cannot resolve"
        raise Failure(EXIT_NETWORK, "%s %s (%s)" % (what, target.host, error.strerror),
                      retry=True)
    error = None
    for address_family, kind, protocol, _, address in addresses:
        sock = socket.socket(address_family, kind, protocol)
        try:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            sock.connect(address)
        except OSError as failed:
            sock.close()
            error = failed
            continue
        if target.scheme == "https":
            sock = start_tls(sock, target.host)
        return sock
    raise Failure(EXIT_NETWORK, "cannot connect to %s: %s" % (where, reason(error)), retry=True)


def start_tls(sock, host):
    """TLS with the certificate checked against the system CA store, and the
    host name checked against the certificate (the default context does both;
    SNI and the check use the URL's host, whatever address we connected to)."""
    import ssl  # lazy: the biggest import of all, needed only for https
    try:
        return ssl.create_default_context().wrap_socket(sock, server_hostname=host)
    except (ssl.CertificateError, ssl.SSLError) as error:
        sock.close()
        if isinstance(error, ssl.CertificateError) or "CERTIFICATE_VERIFY" in str(error):
            # Not retried: someone may be in the middle, or the server is broken.
            raise Failure(EXIT_AUTH, "the TLS certificate of %s is not trusted (%s): "
                                     "someone may be in the middle; nothing was sent"
                                     % (host, printable(str(error))))
        raise Failure(EXIT_NETWORK, "TLS with %s failed: %s" % (host, printable(str(error))),
                      retry=True)
    except OSError as error:
        sock.close()
        raise Failure(EXIT_NETWORK, "TLS with %s failed: %s" % (host, reason(error)),
                      retry=True)


def reason(error):
    if error is None:
        return "no address to connect to"
    if "timed out" in str(error):
        return "timed out"
    return printable(error.strerror or str(error))


def post(target, body, family, timeout_s):
    """POST a form; returns (status, headers dict, body bytes). Raises Failure
    (retry=True) when the whole exchange does not finish within timeout_s."""
    deadline = time.monotonic() + timeout_s
    data = body.encode("ascii")
    request = ("POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ipupdater/%s\r\n"
               "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n"
               "Accept-Encoding: identity\r\nConnection: close\r\n\r\n"
               % (target.path, target.authority, VERSION, len(data))).encode("ascii") + data
    sock = connect(target, family, deadline)
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        sock.sendall(request)
        received = b""
        while True:
            response = parse_response(received, closed=False)
            if response is not None:
                return response
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = sock.recv(MAX_RESPONSE_BYTES)
            if not chunk:
                response = parse_response(received, closed=True)
                if response is None:
                    raise Failure(EXIT_NETWORK, "the connection to %s closed before the "
                                                "whole answer came" % target.host, retry=True)
                return response
            received += chunk
            if len(received) > MAX_RESPONSE_BYTES:
                raise Failure(EXIT_REFUSED, "the answer from %s is over %d bytes: not an "
                                            "ipupdate server" % (target.host,
                                                                 MAX_RESPONSE_BYTES))
    except OSError as error:
        raise Failure(EXIT_NETWORK, "no answer from %s: %s" % (target.host, reason(error)),
                      retry=True)
    finally:
        sock.close()


def parse_response(data, closed):
    """(status, headers, body) from the bytes so far, or None if more must come."""
    head, separator, rest = data.partition(b"\r\n\r\n")
    if not separator:
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not is_digits(parts[1]):
        raise Failure(EXIT_NETWORK, "the server did not answer in HTTP: '%s'"
                      % printable(lines[0], 60))
    status = int(parts[1])
    if 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
        return parse_response(rest, closed)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = dechunk(rest)
    elif is_digits(headers.get("content-length", "")):
        length = int(headers["content-length"])
        body = rest[:length] if len(rest) >= length else None
    else:
        body = rest if closed else None  # the body ends when the server closes
    if body is None:
        return None
    return status, headers, body


def dechunk(data):
    """The body of a chunked transfer (RFC 9112 7.1), or None if incomplete."""
    body = b""
    while True:
        size_line, separator, data = data.partition(b"\r\n")
        if not separator:
            return None
        size_text = size_line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise Failure(EXIT_NETWORK, "malformed chunked answer from the server")
        if size == 0:
            return body if b"\r\n\r\n" in b"\r\n" + data else None  # after any trailers
        if len(data) < size + 2:
            return None
        body, data = body + data[:size], data[size + 2:]


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
        self.warned = set()   # each warning once per run, whatever the retries

    def clock(self):
        return time.time() + self.clock_offset_s

    def warn(self, message):
        """Warnings go to stderr even with -q: each one needs a person's attention."""
        if message not in self.warned:
            self.warned.add(message)
            sys.stderr.write("ipupdater: %s\n" % message)


def exchange(settings, family):
    """One address request and one update. Returns the line to print (or None
    under -q when nothing changed); raises Failure."""
    target, key, name = settings.target, settings.key, settings.name
    ts = str(int(settings.clock()))
    # The nonce makes the reply ours alone: a reply recorded earlier, or one
    # asked for by someone else, carries another nonce. 128 random bits.
    nonce = os.urandom(16).hex()   # not `secrets`: same bits, a third of the import time
    status, headers, body = post(target, ip_request(ts, nonce, name), family,
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
        return "%s -> dry run, would send: %s" % (label, update)
    status, headers, body = post(target, update, family, settings.timeout_s)
    text = body.decode("utf-8", "replace")
    line = printable(text.splitlines()[0]) if text.strip() else ""
    if status != 200:
        raise status_failure("update", status, headers, text)
    if line.startswith("OK"):
        changed = line != "OK: Timestamp updated"
        return "%s -> %s" % (label, line) if changed or not settings.quiet else None
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
    code: 0, or the code of the first failure."""
    code = EXIT_OK
    for family in settings.families:
        prefix = "%s: " % FAMILY_NAMES[family] if family else ""
        for attempt in range(settings.retries + 1):
            try:
                line = exchange(settings, family)
                if line:
                    sys.stdout.write(line + "\n")
                break
            except Failure as failure:
                if failure.retry and attempt < settings.retries:
                    time.sleep(RETRY_BACKOFF_S * 2 ** attempt)
                    continue
                sys.stderr.write("ipupdater: %s%s\n" % (prefix, failure.message))
                code = code or failure.code
                break
    return code


# ---------------------------------------------------------------------------
# Command line (parsed by hand: argparse alone costs more than a whole run).
# ---------------------------------------------------------------------------

USAGE = """\
usage: ipupdater.py (--url URL | -w HOST[:PORT] [-u PATH]) [-n NAME]
                    (--password-file FILE | -p PASSWORD)  [-4] [-6] [--both]
                    [-q] [--dry-run] [--legacy] [--timeout S] [--retries N]
"""

HELP = USAGE + """
Tell an ipupdate server which public IP address this machine has. It asks the
server which address it sees (a reply signed with the password and made fresh
by a random nonce), checks that reply, and only then sends a signed update for
that address. The server's clock, not this machine's, dates the update.

The server:
  --url URL          the server script, e.g.
                     https://example.org/cgi-bin/ipupdate_server.py
                     (https: certificate checked against the system CA store)
  -w HOST[:PORT]     the original client's form: http://HOST[:PORT]/PATH
  -u PATH            the script's path on HOST, without the leading slash
                     (default: %(path)s)
  Redirects are not followed and proxy settings are ignored: the server must
  see this machine's own address, and the update must go where you said.

The password (the server's key for NAME, or its shared secret):
  --password-file FILE   read from FILE (one trailing newline is ignored);
                     refused if group or others may read FILE (chmod 600 it)
  --allow-readable-password-file   skip that check
  %(env)s      environment variable, used when neither -p nor
                     --password-file is given
  -p PASSWORD        works, but any user of the machine can see it with ps,
                     and it stays in the crontab and shell history: prefer
                     one of the two above

What to send:
  -n NAME            record the address under NAME (default: no name)
  -4, -6             reach the server over IPv4 (or IPv6) only; -4 -6 (or
                     --both) records both addresses of a dual-stack home,
                     one exchange each
  --dry-run          ask for and check the address, print the update that
                     would be sent, send nothing
  --legacy           the server is the original ipupdate.php (its replies
                     have no nonce and no time): accept that without the
                     warning it otherwise gets on every run

Running:
  -q, --quiet        print nothing when the address is unchanged (for cron);
                     errors and warnings still go to stderr, one line each
  --timeout S        seconds for each request (default %(timeout)g)
  --retries N        retries after a network failure or HTTP 502/503/504,
                     1 s, 2 s, 4 s... apart (default %(retries)d); a refusal or
                     a reply that fails its checks is never retried
  -h, --help, --version

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
the first failure.
""" % {"path": DEFAULT_PATH, "env": PASSWORD_ENV, "timeout": DEFAULT_TIMEOUT_S,
       "retries": DEFAULT_RETRIES}

# option -> (setting, takes a value)
OPTIONS = {
    "--url": ("url", True), "-w": ("host", True), "-u": ("path", True),
    "-p": ("password", True), "--password": ("password", True),
    "--password-file": ("password_file", True),
    "--allow-readable-password-file": ("allow_readable", False),
    "-n": ("name", True), "--name": ("name", True),
    "-4": ("ipv4", False), "-6": ("ipv6", False), "--both": ("both", False),
    "--dry-run": ("dry_run", False), "--legacy": ("legacy", False),
    "-q": ("quiet", False), "--quiet": ("quiet", False),
    "--timeout": ("timeout", True), "--retries": ("retries", True),
    "-h": ("help", False), "--help": ("help", False), "--version": ("version", False),
}


def parse_args(argv):
    """Options as {setting: value}: --opt VALUE, --opt=VALUE, -o VALUE, -oVALUE,
    bundled flags (-q46). A value is taken as is, even if it starts with '-'."""
    values = {}
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg.startswith("--"):
            option, equals, value = arg.partition("=")
            options = [(option, value if equals else None)]
        elif arg.startswith("-") and len(arg) > 1:
            options = []
            for index, letter in enumerate(arg[1:]):
                option = "-" + letter
                if OPTIONS.get(option, (None, False))[1]:
                    options.append((option, arg[index + 2:] or None))
                    break
                options.append((option, None))
        else:
            raise Failure(EXIT_USAGE, "unexpected argument '%s'" % printable(arg))
        for option, value in options:
            if option not in OPTIONS:
                raise Failure(EXIT_USAGE, "unknown option %s" % printable(option))
            setting, takes_value = OPTIONS[option]
            if takes_value and value is None:
                if not args:
                    raise Failure(EXIT_USAGE, "option %s needs a value" % option)
                value = args.pop(0)
            elif not takes_value and value is not None:
                raise Failure(EXIT_USAGE, "option %s takes no value" % option)
            values[setting] = value if takes_value else True
    return values


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


def settings_from(values, environ):
    """Check the options as a whole and read the password; raises Failure(EXIT_USAGE)."""
    if values.get("url") and ("host" in values or "path" in values):
        raise Failure(EXIT_USAGE, "give either --url or -w/-u, not both")
    if values.get("url"):
        target = Target(values["url"])
    elif values.get("host"):
        path = values.get("path", DEFAULT_PATH).lstrip("/")
        target = Target("http://%s/%s" % (values["host"], path))
    else:
        raise Failure(EXIT_USAGE, "where is the server? give --url URL or -w HOST")

    if values.get("password") is not None and values.get("password_file"):
        raise Failure(EXIT_USAGE, "give either -p or --password-file, not both")
    if values.get("password_file"):
        key = read_password_file(values["password_file"], values.get("allow_readable"))
    elif values.get("password") is not None:
        key = values["password"]
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

    if values.get("both") or (values.get("ipv4") and values.get("ipv6")):
        families = [4, 6]
    else:
        families = [4] if values.get("ipv4") else [6] if values.get("ipv6") else [None]
    try:
        timeout_s = float(values.get("timeout", DEFAULT_TIMEOUT_S))
        retries = int(values.get("retries", DEFAULT_RETRIES))
    except ValueError:
        raise Failure(EXIT_USAGE, "--timeout takes seconds, --retries a whole number")
    if not 0 < timeout_s <= 600 or not 0 <= retries <= MAX_RETRIES:
        raise Failure(EXIT_USAGE, "--timeout must be over 0 and at most 600 s, --retries "
                                  "0 to %d" % MAX_RETRIES)
    try:
        clock_offset_s = float(environ.get(CLOCK_OFFSET_ENV) or 0)
        if not abs(clock_offset_s) < 1e10:   # also refuses nan and inf
            raise ValueError
    except ValueError:
        raise Failure(EXIT_USAGE, "%s must be a number of seconds" % CLOCK_OFFSET_ENV)
    return Settings(target, key, values.get("name", ""), families,
                    values.get("quiet", False), values.get("dry_run", False),
                    values.get("legacy", False), timeout_s, retries, clock_offset_s)


def main(argv):
    try:
        values = parse_args(argv)
        if values.get("help"):
            sys.stdout.write(HELP)
            return EXIT_OK
        if values.get("version"):
            sys.stdout.write("ipupdater.py %s\n" % VERSION)
            return EXIT_OK
        return run(settings_from(values, os.environ))
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
