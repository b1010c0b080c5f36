#!/usr/bin/env python3
"""ipupdater.py - tell an ipupdate server this machine's public IP address.

About 445 lines, standard library only, Python 3.6 to 3.13. It holds your
password and runs from cron: read it before you trust it. Its promise: an update
goes only to the URL given, only for an address the server signed for this very
request; exit 0 only when the server signed that it recorded it; a run ends
within --timeout, whatever the network does. See HELP and docs/PROTOCOL.md.
"""

import getopt, hashlib, hmac, http.client, os, socket, ssl, sys, threading, time, types
import urllib.parse

VERSION = "1.1"
DEFAULT_PATH = "cgi-bin/ipupdate_server.py"
DEFAULT_TIMEOUT_S, MAX_TIMEOUT_S = 60.0, 600   # the whole run; cron and systemd allow minutes
DEFAULT_RETRIES, MAX_RETRIES = 2, 10
RETRY_BACKOFF_S = 1.0             # then 2 s, 4 s, ...: a retry always gets a newer ts
CLOCK_WARNING_S = 150             # half the server's default window for message times
MAX_RESPONSE_BYTES = 65536        # our answers are under 200 bytes; an error page more
MAX_PASSWORD_FILE_BYTES = 4096
PASSWORD_ENV = "IPUPDATE_PASSWORD"
CLOCK_OFFSET_ENV = "IPUPDATE_TEST_CLOCK_OFFSET_S"   # tests: seconds added to the local clock
ADDRESS_CHARS = frozenset("0123456789abcdefABCDEF.:")
DIGITS = frozenset("0123456789")   # not str.isdigit(): it takes '\u00b2', int() does not
FAMILIES = {None: socket.AF_UNSPEC, 4: socket.AF_INET, 6: socket.AF_INET6}   # -4, -6
IPV6_ADDR_PREFERENCES, IPV6_PREFER_SRC_PUBLIC = 72, 0x0002   # Linux: stable, not temporary source
RECORDED = {"new": "OK: New IP updated", "unchanged": "OK: Timestamp updated"}   # outcome: line
EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_NETWORK, EXIT_AUTH, EXIT_REFUSED = range(6)

class Failure(Exception):
    """Ends the run (EXIT_NETWORK: the attempt), exit status `code`; `answer`: a refusal's body."""
    def __init__(self, code, message, sent=False, answer=None):
        if code == EXIT_AUTH and not sent:   # a check before the update: say so
            message += "; nothing was sent"
        Exception.__init__(self, message)
        self.code, self.answer = code, answer

# === Protocol ================================================================
# The signed strings, built here only; ipupdate_server.py's twins meet tests/test_vectors.py.

def sign(key, message):
    """HMAC-SHA256 of `message` under `key`, as 64 lowercase hex digits."""
    return hmac.new(key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()

def ip_reply_message(address, ts, nonce=None, now=None):
    """The signed part of a type=ip reply; without a nonce, the original's form."""
    original = "ip=%s&ts=%s" % (address, ts)
    return original if nonce is None else original + "&nonce=%s&now=%s" % (nonce, now)

def update_message(address, name, ts):
    """The signed part of a type=update request (NAME present even when empty)."""
    return "type=update&ip=%s&name=%s&ts=%s" % (address, name, ts)

def outcome_message(outcome, address, name, ts, nonce, now):
    """The signed part of the answer to an update sent with a nonce."""
    return "type=outcome&outcome=%s&ip=%s&name=%s&ts=%s&nonce=%s&now=%s" % (
        outcome, address, name, ts, nonce, now)

def form(line):
    """The field names of a line FIELD=VALUE&..., in order, and a dict of the values."""
    pairs = [pair.partition("=") for pair in line.split("&")]
    return [field for field, _, _ in pairs], dict((field, value) for field, _, value in pairs)

def check_outcome(key, text, update, nonce):
    """The outcome signed in `text`, the answer to `update` (address, name, ts) sent
    with `nonce`; None if none is; Failure(EXIT_AUTH) if not signed for this update."""
    lines = text.rstrip("\r\n").split("\n")
    fields, values = form(lines[-1])
    if len(lines) != 2 or fields != ["outcome", "now", "h"]:
        return None
    message = outcome_message(values["outcome"], *(update + (nonce, values["now"])))
    if not (values["now"] and set(values["now"]) <= DIGITS) or not hmac.compare_digest(
            sign(key, message).encode(), values["h"].encode("utf-8")):
        raise Failure(EXIT_AUTH, "the answer to the update is not signed by the server for this "
                      "update (forged, or for another one): it may not be recorded", sent=True)
    return values["outcome"]

def check_ip_reply(key, text, ts, nonce, legacy=False):
    """(address, server_now) from the reply to type=ip&ts=ts&nonce=nonce, server_now
    None in the legacy form; Failure(EXIT_AUTH) unless signed for this request."""
    fields, values = form(text.rstrip("\r\n"))
    if fields == ["ip", "ts", "h"] and not legacy:
        # Anyone may get one signed for his own address and our ts, and swap it in.
        raise Failure(EXIT_AUTH, "the address reply is in the original ipupdate.php's form, "
                      "without the nonce sent: pass --legacy if the server really is the "
                      "original ipupdate.php")
    address, now = values.get("ip", ""), values.get("now", "0")   # the legacy form has no now
    if (fields not in (["ip", "ts", "nonce", "now", "h"], ["ip", "ts", "h"]) or not address
            or set(address) - ADDRESS_CHARS or not now or set(now) - DIGITS):
        raise Failure(EXIT_AUTH, "the answer to the address request is not an ipupdate reply "
                      "(%s): wrong URL, or something else answered" % describe(text))
    message = ip_reply_message(*(values[field] for field in fields if field != "h"))
    # Not ==: its time tells a forger how much of his MAC is right. Bytes: non-ASCII str raises.
    if not hmac.compare_digest(sign(key, message).encode(), values["h"].encode("utf-8")):
        raise Failure(EXIT_AUTH, "the address reply fails authentication: wrong password (for "
                      "this name), or someone on the path altered the reply")
    if values["ts"] != ts or values.get("nonce", nonce) != nonce:
        raise Failure(EXIT_AUTH, "the address reply is signed but answers another request "
                      "(its ts or nonce is not the one sent): a replayed reply")
    return address, (int(now) if "now" in values else None)

def printable(text, limit=160):
    """Text from the network, safe for one line of a terminal or a cron mail."""
    text = "".join(c if " " <= c <= "~" else "?" for c in text)
    return text if len(text) <= limit else text[:limit] + "..."

def describe(text):
    """A short description of a body that is not what it should be."""
    text = text.strip()
    if text.startswith("<"):
        return "an HTML page"
    return "'%s'" % printable(text.splitlines()[0], 60) if text else "empty"

# === HTTP ====================================================================
# http.client follows no redirect and no proxy: the server sees us, the update goes to --url.

HINTS = {404: ": no such script there, check --url",   # what to fix, after a refusal's line
         405: ": that URL takes no POST; if it is the viewer (getip_cgi.py), that is not the "
              "update handler: give ipupdate_server.py's URL",
         500: ": look at the server's error log, or run 'ipupdate_server.py check' there"}

def target(url):
    """(host, port, path, TLS context or None) of the server script's URL."""
    # Spaces or control characters could end a header early (injection); urlsplit() drops some.
    if not all("!" <= c <= "~" for c in url):
        raise Failure(EXIT_USAGE, "the URL has spaces or control characters; percent-encode them")
    if not url.lower().startswith(("http://", "https://")):
        raise Failure(EXIT_USAGE, "the URL must start with http:// or https://")
    try:
        parts = urllib.parse.urlsplit(url)
        if "@" in parts.netloc:   # it would not be used, and a password is no part of a URL
            raise Failure(EXIT_USAGE, "no user@ in the URL: the password goes in --password-file")
        if not parts.hostname or parts.port == 0:   # .port: ValueError unless 0 to 65535
            raise ValueError
    except ValueError:
        raise Failure(EXIT_USAGE, "bad host or port in URL: %s" % printable(url))
    https = parts.scheme == "https"   # the TLS context once: the CA store is slow to load
    return (parts.hostname, parts.port or (443 if https else 80),
            (parts.path or "/") + ("?" + parts.query if parts.query else ""),
            ssl.create_default_context() if https else None)

def open_socket(settings, family):
    """A socket to the server, TLS for https; -4/-6 pick a family, as create_connection() can't."""
    host, port = settings.host, settings.port
    try:
        addresses = socket.getaddrinfo(host, port, FAMILIES[family], socket.SOCK_STREAM)
    except socket.gaierror as error:
        what = "no IPv%d address for" % family if family else "cannot resolve"
        raise Failure(EXIT_NETWORK, "%s %s (%s)" % (what, host, error.strerror))
    error = OSError("no address to connect to")
    for address_family, kind, protocol, _, address in addresses:   # as create_connection()
        try:   # a family this host cannot open (IPv6 disabled): try the next address
            sock = socket.socket(address_family, kind, protocol)
        except OSError as failed:
            error = failed
            continue
        if address_family == socket.AF_INET6 and sys.platform.startswith("linux"):
            try:
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_ADDR_PREFERENCES, IPV6_PREFER_SRC_PUBLIC)
            except OSError:
                pass   # an older kernel: its choice, as before
        if settings.source:
            try:
                sock.bind((settings.source, 0))
            except OSError as failed:
                sock.close()
                raise Failure(EXIT_USAGE, "--source %s: %s (it must be an address of this "
                              "machine)" % (printable(settings.source), failed.strerror or failed))
        try:
            sock.connect(address)
            break
        except OSError as failed:
            sock.close()
            error = failed
    else:
        raise Failure(EXIT_NETWORK, "cannot connect to %s port %d: %s"
                      % (host, port, printable(error.strerror or str(error))))
    # The certificate is checked for the URL's host, whatever address answered.
    return settings.tls.wrap_socket(sock, server_hostname=host) if settings.tls else sock

def post(settings, family, what, fields):
    """POST the form `fields`: the text of a 200 answer that is no Error line, else a Failure."""
    host = settings.host
    connection = (http.client.HTTPSConnection(host, settings.port, context=settings.tls)
                  if settings.tls else http.client.HTTPConnection(host, settings.port))
    body = urllib.parse.urlencode(fields)
    if settings.verbose:   # the fields hold no key: a MAC, a nonce, a time
        sys.stderr.write("ipupdater: > POST %s %s\n" % (settings.url, body))
    try:
        connection.sock = open_socket(settings, family)   # so connect() is never called
        connection.request("POST", settings.path, body.encode(), {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "ipupdater/%s" % VERSION, "Connection": "close"})
        response = connection.getresponse()
        data = response.read(MAX_RESPONSE_BYTES + 1)
    except (OSError, ssl.CertificateError, http.client.HTTPException) as error:
        # CertificateError: any bad certificate (3.7+), a wrong host name (3.6).
        if (isinstance(error, ssl.CertificateError)
                or getattr(error, "reason", None) == "CERTIFICATE_VERIFY_FAILED"):
            raise Failure(EXIT_AUTH, "the TLS certificate of %s is not trusted (%s): someone "
                          "may be in the middle" % (host, printable(str(error))))
        why = getattr(error, "strerror", None) or str(error).strip() or type(error).__name__
        raise Failure(EXIT_NETWORK, "no HTTP answer from %s (%s)" % (host, printable(why, 80)))
    finally:
        connection.close()
    if len(data) > MAX_RESPONSE_BYTES:
        raise Failure(EXIT_REFUSED, "the answer from %s is over %d bytes: not an ipupdate "
                      "server" % (host, MAX_RESPONSE_BYTES))
    status, text = response.status, data.decode("utf-8", "replace")
    if settings.verbose:
        for line in ["%d %s" % (status, response.reason)] + text.splitlines()[:4]:
            sys.stderr.write("ipupdater: < %s\n" % printable(line))
    if 300 <= status < 400:
        raise Failure(EXIT_REFUSED, "the server redirects the %s (HTTP %d) to %s; not followed: "
                      "if that is the right place, give it with --url"
                      % (what, status, printable(response.getheader("location", "?"))))
    error_line = printable(text.splitlines()[0]) if text.startswith("Error") else ""
    if status == 200 and not error_line:   # the original ipupdate.php says Error with a 200
        return text
    if status in (502, 503, 504):  # a proxy or the database is busy: try again later
        raise Failure(EXIT_NETWORK, "the server is unavailable for the %s (HTTP %d): %s"
                      % (what, status, error_line or describe(text)))
    raise Failure(EXIT_REFUSED, "the server refused the %s%s: %s%s" % (
        what, " (HTTP %d)" % status if status != 200 else "", error_line or describe(text),
        HINTS.get(status, "")), answer=text)

# === The run: ask, check, update; per address family, with retries ===========

def exchange(settings, family):
    """Ask, check, update: the line to print (None under -q if unchanged)."""
    key, name = settings.key, settings.name
    ts = str(int(time.time() + settings.clock_offset_s))
    nonce = os.urandom(16).hex()   # 128 random bits: a reply to any other request has another
    text = post(settings, family, "address request", [("type", "ip"), ("ts", ts),
                ("nonce", nonce)] + ([("name", name)] if name else []))
    received, local_now = time.monotonic(), int(time.time() + settings.clock_offset_s)
    address, server_now = check_ip_reply(key, text, ts, nonce, settings.legacy)
    signed_now = local_now if server_now is None else server_now   # dated by the server's clock
    update_ts = str(signed_now + int(time.monotonic() - received))
    offset_s = local_now - signed_now
    if abs(offset_s) > CLOCK_WARNING_S:   # said once, by run(): a Pi has no real-time clock
        settings.clock_note = "local clock is %s %s the server; using the server's time" % (
            format_duration(offset_s), "ahead of" if offset_s > 0 else "behind")
    label = "%s: %s" % (printable(name), address) if name else address
    update = [("type", "update"), ("ip", address), ("name", name), ("ts", update_ts),
              ("h", sign(key, update_message(address, name, update_ts)))]
    # A fresh nonce asks for a signed outcome: else a man in the middle could fake "OK".
    nonce = os.urandom(16).hex()
    update += [] if settings.legacy else [("nonce", nonce)]
    if settings.dry_run:
        return "%s -> dry run, would send: %s" % (label, urllib.parse.urlencode(update))
    try:
        text = post(settings, family, "update", update)
    except Failure as failure:   # a refusal: a signed one says which check failed
        if failure.answer is None or settings.legacy:
            raise
        signed = check_outcome(key, failure.answer, (address, name, update_ts), nonce)
        raise Failure(failure.code, "%s (%s)" % (failure, "signed by the server: " + signed
                                                 if signed else "unsigned"))
    if not text.startswith("OK"):
        raise Failure(EXIT_REFUSED, "the answer to the update is neither OK nor Error (%s): "
                                    "check the URL" % describe(text))
    line = printable(text.splitlines()[0])
    if not settings.legacy:
        signed = check_outcome(key, text, (address, name, update_ts), nonce)
        if signed is None:
            raise Failure(EXIT_AUTH, "the answer to the update carries no signed outcome: it "
                          "may not be recorded (someone in the middle, or a server older than "
                          "this client; --legacy for the original ipupdate.php)", sent=True)
        if RECORDED.get(signed) != line:
            raise Failure(EXIT_AUTH, "the server signed '%s' for this update, but the answer "
                          "says '%s'" % (printable(signed, 20), line), sent=True)
    return None if settings.quiet and line == RECORDED["unchanged"] else label + " -> " + line

def format_duration(seconds):
    """'1095 d 0 h' or '3 h 12 min', rounded to the last unit shown."""
    seconds = int(abs(seconds))
    if seconds >= 86400:
        return "%d d %d h" % divmod((seconds + 1800) // 3600, 24)
    return "%d h %d min" % divmod((seconds + 30) // 60, 60)

def watchdog(settings):
    """Run in a thread: ends the process, exit code 3, once the run is past its --timeout."""
    # Not socket timeouts: a server that trickles bytes never lets one fire, nor can DNS be cut.
    time.sleep(max(settings.deadline - time.monotonic(), 0))
    os.write(2, ("ipupdater: no complete answer from %s within --timeout %g s: stopped\n"
                 % (settings.host, settings.timeout_s)).encode())
    os._exit(EXIT_NETWORK)   # our lines on stdout are flushed as they are written

def run(settings):
    """Each family in turn, within the one deadline: 0, or the first failure's code."""
    threading.Thread(target=watchdog, args=(settings,), daemon=True).start()
    code = EXIT_OK
    for family in settings.families:
        for attempt in range(settings.retries + 1):
            try:
                line = exchange(settings, family)
            except Failure as failure:
                # Only network trouble: asking again would not make a refusal true.
                pause_s = RETRY_BACKOFF_S * 2 ** attempt
                if (failure.code == EXIT_NETWORK and attempt < settings.retries
                        and time.monotonic() + pause_s < settings.deadline):
                    time.sleep(pause_s)
                    continue
                sys.stderr.write("ipupdater: %s%s\n" % ("IPv%d: " % family if family else "",
                                                        failure))
                code = code or failure.code
                break
            if line:
                print(line, flush=True)   # before the watchdog may end the process
            break
    if settings.clock_note and (code or not settings.quiet):
        sys.stderr.write("ipupdater: %s\n" % settings.clock_note)
    return code

# === Command line ============================================================

HELP = """\
usage: ipupdater.py --url URL [-n NAME] --password-file FILE [options below]
       ipupdater.py -w HOST[:PORT] [-u PATH] [-n NAME] -p PASSWORD [...]

Ask the server which address it sees, check its signed reply, send the update.

  --url URL       the server script (no redirect, no proxy); https: CA-checked
  -w HOST[:PORT]  the original's URL http://HOST[:PORT]/PATH (-w https://... too)
  -u PATH         PATH, no leading slash (default: %(path)s)
  --password-file FILE  the key for NAME (or the shared secret); one newline
                  ignored; chmod 600 it, or --allow-readable-password-file
  -p, --password PASSWORD  ps shows it; with neither, IPUPDATE_PASSWORD is read
  -n, --name NAME record the address under NAME (default: no name)
  -4, -6          IPv4 (IPv6, stable source) only; -4 -6, --both: each in turn
  --source ADDR   connect from this local address (so, over its family)
  -q, --quiet     print nothing when the address is unchanged (for cron)
  --dry-run       check the address, print the update instead of sending it
  --verbose       each request and answer line on stderr (never the key)
  --legacy        for the original ipupdate.php: no nonce, no signed outcome
  --timeout S     the whole run, every retry included, ends after S
                  seconds at most (default %(timeout)g), with exit code 3
  --retries N     after a network failure or HTTP 502/503/504, 1 s, 2 s,
                  4 s... apart (default %(retries)d); never after a refusal
  -h, --help; --version

Example for crontab -e, with the key in a file only you may read (chmod 600):
  */10 * * * * /usr/bin/python3 /home/pi/ipupdater.py -q --url http://example.org/cgi-bin/ipupdate_server.py -n home --password-file /home/pi/.ipupdate.key

Exit codes (with -4 -6, the first failure's):
  0  success: the server signed that it recorded it; or --dry-run checked all
  1  internal error: a bug, please report it
  2  usage or configuration error (options, password file)
  3  network failure: no connection, timeout (--timeout), server unavailable
  4  the server's reply failed authentication, or its TLS certificate: nothing
     was sent; or the update's answer is not signed for it: it may be lost
  5  the server refused the request, redirected it, or did not answer OK
""" % dict(path=DEFAULT_PATH, timeout=DEFAULT_TIMEOUT_S, retries=DEFAULT_RETRIES)

LONG_OPTIONS = ("url= password-file= allow-readable-password-file password= name= both dry-run "
                "legacy quiet timeout= retries= help version source= verbose").split()
SAME_AS = {"--password": "-p", "--name": "-n", "--quiet": "-q", "--help": "-h"}

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
    """The password in the file at `path`, one trailing newline stripped."""
    try:
        with open(path, "rb") as password_file:
            mode = os.fstat(password_file.fileno()).st_mode & 0o777
            data = password_file.read(MAX_PASSWORD_FILE_BYTES + 1)
    except OSError as error:
        raise Failure(EXIT_USAGE, "cannot read password file %s: %s" % (path, error.strerror))
    # A key others can read is a key others have. (Windows has no such bits.)
    if mode & 0o044 and not allow_readable and os.name == "posix":
        raise Failure(EXIT_USAGE, "password file %s may be read by group or others (mode %03o): "
                      "chmod 600 it, or pass --allow-readable-password-file" % (path, mode))
    if len(data) > MAX_PASSWORD_FILE_BYTES:
        raise Failure(EXIT_USAGE, "password file %s is over %d bytes: is it the right file?"
                      % (path, MAX_PASSWORD_FILE_BYTES))
    if data.endswith(b"\n"):   # one line ending, \n or \r\n, as printf and editors leave it
        data = data[:-2] if data.endswith(b"\r\n") else data[:-1]
    return data.decode("utf-8", "surrogateescape")   # settings_from() refuses non-UTF-8

def settings_from(given, environ):
    """Everything a run needs, checked, from the options and the environment."""
    for one, other in (("--url", "-w"), ("--url", "-u"), ("-p", "--password-file")):
        if one in given and other in given:
            raise Failure(EXIT_USAGE, "give either %s or %s, not both" % (one, other))
    if not (given.get("--url") or given.get("-w")):
        raise Failure(EXIT_USAGE, "where is the server? give --url URL or -w HOST")
    server = given.get("-w", "").rstrip("/")   # HOST[:PORT], or http(s)://HOST[:PORT]
    url = given.get("--url") or "%s/%s" % (server if "://" in server else "http://" + server,
                                           given.get("-u", DEFAULT_PATH).lstrip("/"))
    host, port, path, tls = target(url)
    key = (read_password_file(given["--password-file"], "--allow-readable-password-file" in given)
           if "--password-file" in given else given.get("-p", environ.get(PASSWORD_ENV)))
    if not key:
        raise Failure(EXIT_USAGE, "no password: give --password-file FILE, set %s, or give "
                      "-p PASSWORD" % PASSWORD_ENV)
    # Bytes that are not UTF-8, in argv, the environment or the file, arrive as surrogates.
    if any("\ud800" <= c <= "\udfff" for c in key):
        raise Failure(EXIT_USAGE, "the password is not valid UTF-8")
    timeout_s = number(given, "--timeout", DEFAULT_TIMEOUT_S, float, 0.1, MAX_TIMEOUT_S)
    families = [family for family in (4, 6) if "-%d" % family in given or "--both" in given]
    source = given.get("--source")
    if source:   # one local address: one family, its own
        family = 6 if ":" in source else 4
        if families not in ([], [family]) or not source.strip(":.") or set(source) - ADDRESS_CHARS:
            raise Failure(EXIT_USAGE, "--source takes one IPv4 or IPv6 address of this machine, "
                          "and only its own family's -4 or -6")
        families = [family]
    return types.SimpleNamespace(
        host=host, port=port, path=path, tls=tls, key=key, name=given.get("-n", ""),
        url=printable(url), source=source, verbose="--verbose" in given,
        families=families or [None], quiet="-q" in given, dry_run="--dry-run" in given,
        legacy="--legacy" in given, timeout_s=timeout_s, deadline=time.monotonic() + timeout_s,
        retries=number(given, "--retries", DEFAULT_RETRIES, int, 0, MAX_RETRIES),
        clock_offset_s=float(environ.get(CLOCK_OFFSET_ENV) or 0), clock_note=None)

def main(argv):
    """Parses the command line and runs the client; returns the exit code."""
    try:
        options, rest = getopt.gnu_getopt(argv, "w:u:p:n:46qh", LONG_OPTIONS)   # -q46, --dry
        if rest:
            raise Failure(EXIT_USAGE, "unexpected argument: %s" % printable(rest[0]))
        given = dict((SAME_AS.get(option, option), value) for option, value in options)
        if "-h" in given or "--version" in given:
            sys.stdout.write(HELP if "-h" in given else "ipupdater.py %s\n" % VERSION)
            return EXIT_OK
        return run(settings_from(given, os.environ))
    except (getopt.GetoptError, Failure) as error:   # usage errors: run() reports the others
        message = error if isinstance(error, Failure) else printable(str(error))
        sys.stderr.write("ipupdater: %s (see --help)\n" % message)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # a bug: one line for the cron mail, never the password
        sys.stderr.write("ipupdater: internal error (%s: %s); please report it\n"
                         % (type(error).__name__, printable(str(error))))
        return EXIT_INTERNAL

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
