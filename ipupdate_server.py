#!/usr/bin/env python3
"""ipupdate_server.py - record a home machine's public IP address, authenticated.

One file, standard library only, Python 3.6 to 3.13. It answers the two POST
requests of the ipupdate protocol (docs/PROTOCOL.md):

  type=ip      "what address do you see me from?"  -> a signed reply
  type=update  "record this address for NAME"       -> OK / Error line

and keeps the address history in SQLite, in the schema of the original PHP
ipupdate, so an existing ipupdate.sqlite is continued as it is.

Run it as a CGI program (copy it to a cgi-bin; configuration goes OUTSIDE the
document root, in ../ipupdate.conf by default), as a WSGI application
(`application`), or by itself for local use:

  python3 ipupdate_server.py serve --config ipupdate.conf --port 8080
  python3 ipupdate_server.py genkey

Every MAC is compared in constant time; a message is accepted only if it is
signed with the name's key, comes from the address it names, carries a time
within the window of the server clock, and is newer than the last one accepted
for that name. Read it: it is short on purpose.
"""

import os
import sys
import time

# Nothing else is imported at module level: a CGI program pays for every import
# on every request, so each request type imports only what it uses (see the
# lazy imports below, each marked "lazy").

VERSION = "1.0"
DEFAULT_WINDOW_S = 300            # as DNS TSIG's default fudge (RFC 8945)
DEFAULT_STALE_AFTER_S = 3 * 3600  # the viewer marks a name stale after this
MAX_BODY_BYTES = 4096
MIN_SECRET_CHARS = 16
BUSY_TIMEOUT_S = 10.0             # wait this long for a locked database
SOCKET_TIMEOUT_S = 10.0           # `serve`: a stalled client blocks no one longer
CONFIG_ENV = "IPUPDATE_CONFIG"
CONFIG_DEFAULT_RELATIVE = os.path.join("..", "ipupdate.conf")


# ---------------------------------------------------------------------------
# Protocol: the exact signed strings, built in one place.
# ---------------------------------------------------------------------------

def sign(key, message):
    """HMAC-SHA256 of `message` under `key`, as 64 lowercase hex digits."""
    import hashlib  # lazy: only requests that sign or verify pay for it
    import hmac
    return hmac.new(key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def mac_matches(key, message, received_mac):
    """True when `received_mac` is the MAC of `message`.

    Constant time (hmac.compare_digest): a plain == leaks, through its timing,
    how many leading characters of a forged MAC are right.
    """
    import hmac  # lazy, see sign()
    return hmac.compare_digest(sign(key, message), received_mac)


def ip_reply_message(address, ts, nonce=None, now=None):
    """The signed part of a type=ip reply.

    Legacy form (the original's, no nonce): ip=ADDR&ts=T
    Our form:                               ip=ADDR&ts=T&nonce=N&now=S
    """
    message = "ip=%s&ts=%s" % (address, ts)
    if nonce is not None:
        message += "&nonce=%s&now=%d" % (nonce, now)
    return message


def update_message(address, name, ts):
    """The signed part of a type=update request."""
    return "type=update&ip=%s&name=%s&ts=%s" % (address, name, ts)


# ---------------------------------------------------------------------------
# Validation of request fields. Pure functions; each raises Refused.
# ---------------------------------------------------------------------------

class Refused(Exception):
    """A request we answer with an error status and a one-line reason."""

    def __init__(self, status, reason):
        Exception.__init__(self, reason)
        self.status = status
        self.reason = reason


HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
NAME_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
NAME_REST = NAME_FIRST | frozenset("._-")
MAX_NAME_CHARS = 63
MAX_TS_DIGITS = 12                # Unix time in whole seconds until year 33658


def parse_form(body):
    """Decode an application/x-www-form-urlencoded body into [(field, value)].

    Strict on purpose (urllib.parse is lenient and slow to import): bad percent
    escapes and bytes that are not UTF-8 are refused, not guessed at.
    """
    fields = []
    if not body:
        return fields
    for pair in body.split(b"&"):
        field, separator, value = pair.partition(b"=")
        if not separator:
            raise Refused(400, "malformed form field (no '=')")
        fields.append((percent_decode(field), percent_decode(value)))
    return fields


def percent_decode(raw):
    raw = raw.replace(b"+", b" ")
    if b"%" in raw:
        pieces = raw.split(b"%")
        decoded = [pieces[0]]
        for piece in pieces[1:]:
            escape = piece[:2].decode("ascii", "replace")
            if len(escape) < 2 or not set(escape) <= HEX_DIGITS:
                raise Refused(400, "malformed percent escape in form data")
            decoded.append(bytes([int(escape, 16)]) + piece[2:])
        raw = b"".join(decoded)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "form data is not valid UTF-8")


def single_fields(pairs):
    """Fields as a dict; a field given twice is refused (no guessing which counts)."""
    fields = {}
    for field, value in pairs:
        if field in fields:
            raise Refused(400, "field '%s' given more than once" % printable(field))
        fields[field] = value
    return fields


def printable(text, limit=40):
    """Text safe to put in a one-line error message or log line."""
    text = "".join(c if " " <= c <= "~" else "?" for c in text)
    return text if len(text) <= limit else text[:limit] + "..."


def required(fields, field):
    if field not in fields:
        raise Refused(400, "missing field '%s'" % field)
    return fields[field]


DIGITS = frozenset("0123456789")


def check_ts(text):
    """A Unix time in whole seconds, decimal digits only (no sign, no spaces)."""
    if not text or len(text) > MAX_TS_DIGITS or not set(text) <= DIGITS:
        raise Refused(400, "field 'ts' must be a Unix time in decimal digits")
    return int(text)


def check_nonce(text):
    if not 16 <= len(text) <= 64 or not set(text) <= HEX_DIGITS:
        raise Refused(400, "field 'nonce' must be 16 to 64 hex digits")
    return text


def check_name(text):
    """Empty, or hostname-like: [A-Za-z0-9] then up to 62 of [A-Za-z0-9._-]."""
    if text and (len(text) > MAX_NAME_CHARS or text[0] not in NAME_FIRST
                 or not set(text) <= NAME_REST):
        raise Refused(400, "field 'name' must be empty or a letter or digit followed by "
                           "up to 62 of letters, digits, '.', '_', '-'")
    return text


def check_mac(text):
    if len(text) != 64 or not set(text) <= LOWER_HEX_DIGITS:
        raise Refused(400, "field 'h' must be 64 lowercase hex digits")
    return text


LOWER_HEX_DIGITS = frozenset("0123456789abcdef")


def check_address(text):
    """The address `text` names; it must be written canonically (as ipaddress prints it)."""
    import ipaddress  # lazy: only requests that carry an address pay for it
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise Refused(400, "field 'ip' is not an IPv4 or IPv6 address")
    if str(address) != text:
        raise Refused(400, "field 'ip' must be written canonically (%s)" % address)
    return address


def check_window(ts, now, window_s):
    """The message's time must be within window_s of ours: old captures go stale."""
    if ts > now + window_s:
        raise Refused(403, "timestamp %d s ahead of server clock (window %d s): "
                           "check the client's clock" % (ts - now, window_s))
    if ts < now - window_s:
        raise Refused(403, "timestamp %d s behind server clock (window %d s): "
                           "check the client's clock, or this is an old message"
                           % (now - ts, window_s))


def parse_peer(text):
    """An address as a web server reports it; an IPv4-mapped IPv6 address counts as IPv4."""
    import ipaddress  # lazy, see check_address()
    address = ipaddress.ip_address(text.strip().split("%", 1)[0])
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address


def peer_address(remote_addr, forwarded_for, trusted_proxies):
    """The address the request comes from.

    X-Forwarded-For is believed only hop by hop from the right, and only while
    the hop that added it is one of our trusted proxies: anyone can send that
    header, so from anyone else it is ignored.
    """
    try:
        peer = parse_peer(remote_addr)
    except ValueError:
        raise Refused(500, "the web server gave no usable REMOTE_ADDR")
    hops = [hop for hop in forwarded_for.split(",") if hop.strip()] if trusted_proxies else []
    while hops and any(peer in network for network in trusted_proxies):
        try:
            peer = parse_peer(hops.pop())
        except ValueError:
            raise Refused(400, "malformed X-Forwarded-For header")
    return peer


# ---------------------------------------------------------------------------
# Configuration: one INI file, read once per process into a Config.
# ---------------------------------------------------------------------------

class ConfigError(Exception):
    """The configuration is missing or wrong. The message never holds a secret."""


class Config(object):
    """Settings from the [ipupdate] and [names] sections of the config file."""

    SETTINGS = ("secret", "database", "window", "timezone", "trusted_proxies",
                "allow_short_secrets", "stale_after", "view_key")

    def __init__(self, path, settings, name_keys):
        self.path = path
        self.secret = settings.get("secret") or None
        self.name_keys = name_keys
        directory = os.path.dirname(os.path.abspath(path))
        self.database = os.path.join(directory, settings.get("database", "ipupdate.sqlite"))
        self.window_s = parse_seconds("window", settings.get("window", str(DEFAULT_WINDOW_S)))
        self.stale_after_s = parse_seconds("stale_after", settings.get(
            "stale_after", str(DEFAULT_STALE_AFTER_S)))
        self.timezone = settings.get("timezone", "UTC").strip() or "UTC"
        self.trusted_proxies = parse_networks(settings.get("trusted_proxies", ""))
        self.view_key = settings.get("view_key") or None
        if settings.get("allow_short_secrets", "no").strip().lower() not in (
                "yes", "true", "on", "1"):
            short = [label for label, key in [("secret", self.secret)] + [
                ("key of name '%s'" % name, key) for name, key in sorted(name_keys.items())]
                if key is not None and len(key) < MIN_SECRET_CHARS]
            if short:
                raise ConfigError("%s shorter than %d characters (make one with "
                                  "'ipupdate_server.py genkey', or set allow_short_secrets "
                                  "= yes)" % (short[0], MIN_SECRET_CHARS))

    def key_for(self, name):
        """The key that signs messages of `name`: its own if listed, else the shared secret."""
        return self.name_keys.get(name, self.secret)


def parse_seconds(setting, text):
    """'300', '300s', '90m', '3h', '2d' -> seconds."""
    text = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    scale = units.get(text[-1:], None)
    digits = text[:-1] if scale else text
    if not digits.isdigit() or int(digits) == 0:
        raise ConfigError("%s must be a positive number of seconds (or with s, m, h, d)"
                          % setting)
    return int(digits) * (scale or 1)


def parse_networks(text):
    if not text.strip():
        return ()
    import ipaddress  # lazy: only configs with trusted proxies pay for it
    networks = []
    for item in text.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError("trusted_proxies: '%s' is not an address or network"
                              % printable(item))
    return tuple(networks)


def find_config_path(environ=None):
    """IPUPDATE_CONFIG if set, else ../ipupdate.conf beside the script's directory
    (outside a cgi-bin, so the web server never serves it)."""
    path = (environ or os.environ).get(CONFIG_ENV) or os.environ.get(CONFIG_ENV)
    if path:
        return path
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, CONFIG_DEFAULT_RELATIVE))


def load_config(path):
    import configparser  # lazy: `genkey` and --help need no config
    # Raw: keys may contain '%'. Case-preserving: names are matched exactly.
    parser = configparser.RawConfigParser(strict=True, empty_lines_in_values=False)
    parser.optionxform = str
    try:
        with open(path, encoding="utf-8") as config_file:
            parser.read_file(config_file)
    except OSError as error:
        raise ConfigError("cannot read config file %s: %s" % (path, error.strerror))
    except UnicodeDecodeError:
        raise ConfigError("config file %s is not UTF-8" % path)
    except configparser.MissingSectionHeaderError as error:
        raise ConfigError("config file %s: line %d comes before any [section]"
                          % (path, error.lineno))
    except configparser.ParsingError as error:
        # Its message quotes the line, which may hold a key.
        lines = ", ".join(str(line) for line, _ in getattr(error, "errors", ()))
        raise ConfigError("config file %s: cannot parse line %s" % (path, lines or "?"))
    except configparser.Error as error:  # duplicates: the message names, never values
        raise ConfigError("config file %s: %s" % (path, str(error).splitlines()[0]))
    if not parser.has_section("ipupdate"):
        raise ConfigError("config file %s has no [ipupdate] section" % path)
    for section in parser.sections():
        if section not in ("ipupdate", "names"):
            raise ConfigError("config file %s: unknown section [%s]" % (path, section))
    settings = dict(parser.items("ipupdate"))
    for setting in settings:
        if setting not in Config.SETTINGS:
            raise ConfigError("config file %s: unknown setting '%s' in [ipupdate]"
                              % (path, setting))
    name_keys = dict(parser.items("names")) if parser.has_section("names") else {}
    for name, key in name_keys.items():
        try:
            check_name(name)
        except Refused:
            raise ConfigError("config file %s: [names] entry '%s' is not a valid name"
                              % (path, printable(name)))
        if not key:
            raise ConfigError("config file %s: name '%s' has an empty key" % (path, name))
    if not settings.get("secret") and not name_keys:
        raise ConfigError("config file %s: set 'secret' in [ipupdate] or a key per name "
                          "in [names]" % path)
    return Config(path, settings, name_keys)


# ---------------------------------------------------------------------------
# Storage: the original's SQLite schema, continued as it is.
# ---------------------------------------------------------------------------

FAMILY_TABLES = {4: "log_ipv4", 6: "log_ipv6"}
SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY AUTOINCREMENT, ip VARCHAR,
    name VARCHAR, first_seen UNSIGNED INT, timestamp UNSIGNED INT);
CREATE INDEX IF NOT EXISTS {table}_name_id ON {table} (name, id);
CREATE INDEX IF NOT EXISTS {table}_name_timestamp ON {table} (name, timestamp);
"""


class DatabaseUnavailable(Exception):
    """The database cannot be opened or written; the message is for the error log."""


def open_database(path, readonly=False):
    """A connection in autocommit mode (transactions are explicit).

    A new database file is created with mode 0600 before SQLite touches it: the
    history of someone's home address is nobody else's business. A read-only
    connection never creates anything; it returns None when there is no file yet.
    """
    import sqlite3  # lazy: type=ip and --help need no database
    try:
        if readonly:
            if not os.path.exists(path):
                return None
            uri = "file:%s?mode=ro" % path.replace("?", "%3f").replace("#", "%23")
            return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        if not os.path.exists(path):
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                pass  # another process created it first: fine
        return sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except (OSError, sqlite3.Error) as error:
        raise DatabaseUnavailable("cannot open database %s: %s" % (path, error))


def record_update(connection, family, name, address, ts):
    """Store an authenticated update; return the OK line, or refuse a replay.

    BEGIN IMMEDIATE takes the write lock before the replay check reads, so the
    check and the write are one step: of many copies of one message sent at
    once, exactly one is accepted.
    """
    import sqlite3  # lazy, see open_database()
    table = FAMILY_TABLES[family]
    try:
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in SCHEMA.format(table=table).split(";"):
                if statement.strip():
                    connection.execute(statement)
            # The largest timestamp, not the newest row's: the original accepted
            # older messages when the address changed, so its rows are not ordered.
            (last_ts,) = connection.execute(
                "SELECT MAX(timestamp) FROM %s WHERE name = ?" % table, (name,)).fetchone()
            if last_ts is not None and ts <= int(last_ts):
                raise Refused(409, "replayed or out-of-order message: ts %d is not newer "
                                   "than the last accepted ts %d for this name"
                                   % (ts, int(last_ts)))
            newest = connection.execute(
                "SELECT id, ip FROM %s WHERE name = ? ORDER BY id DESC LIMIT 1" % table,
                (name,)).fetchone()
            if newest is not None and newest[1] == address:
                connection.execute("UPDATE %s SET timestamp = ? WHERE id = ?" % table,
                                   (ts, newest[0]))
                outcome = "OK: Timestamp updated"
            else:
                connection.execute(
                    "INSERT INTO %s (ip, name, first_seen, timestamp) VALUES (?, ?, ?, ?)"
                    % table, (address, name, ts, ts))
                outcome = "OK: New IP updated"
            connection.execute("COMMIT")
            return outcome
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
    except sqlite3.Error as error:
        raise DatabaseUnavailable("database %s: %s" % (table, error))


# ---------------------------------------------------------------------------
# The request handler: fields, peer address, clock and config in; status and
# one line out. Everything above is what it checks, in the order it checks.
# ---------------------------------------------------------------------------

def answer(fields, peer, config, now):
    """Answer one decoded POST. Returns (status, body); raises Refused."""
    request_type = fields.get("type")
    if request_type == "ip":
        return answer_ip(fields, peer, config, now)
    if request_type == "update":
        return answer_update(fields, peer, config, now)
    if request_type is None:
        raise Refused(400, "missing field 'type'")
    raise Refused(400, "unknown request type (expected 'ip' or 'update')")


def key_of(config, name):
    key = config.key_for(name)
    if key is None:
        raise Refused(403, "no key is configured for name '%s'" % name)
    return key


def answer_ip(fields, peer, config, now):
    """Sign the address the request comes from.

    With a nonce (our client) the reply is fresh by the nonce and carries the
    server's time, so a client with a wrong clock can still sign its update.
    Without one (the original's form), ts must be within the window: otherwise
    anyone could collect signatures for future times and replay them later.
    """
    ts_text = required(fields, "ts")
    ts = check_ts(ts_text)
    nonce = fields.get("nonce")
    if nonce is not None:
        check_nonce(nonce)
    key = key_of(config, check_name(fields.get("name", "")))
    if nonce is None:
        check_window(ts, now, config.window_s)
    message = ip_reply_message(peer, ts_text, nonce, now)
    return 200, message + "&h=" + sign(key, message)


def answer_update(fields, peer, config, now):
    address_text = required(fields, "ip")
    name = check_name(required(fields, "name"))
    ts_text = required(fields, "ts")
    ts = check_ts(ts_text)
    received_mac = check_mac(required(fields, "h"))
    address = check_address(address_text)
    key = key_of(config, name)
    if not mac_matches(key, update_message(address_text, name, ts_text), received_mac):
        raise Refused(403, "authentication failed: wrong key for this name, "
                           "or the message was altered")
    check_window(ts, now, config.window_s)
    if address != peer:
        raise Refused(403, "the signed address %s is not the address this request "
                           "comes from (%s)" % (address, peer))
    connection = open_database(config.database)
    try:
        return 200, record_update(connection, address.version, name, address_text, ts)
    finally:
        connection.close()


# ---------------------------------------------------------------------------
# WSGI application: HTTP checks around answer(). The same code runs as CGI,
# under `serve`, and under any WSGI server (mod_wsgi, gunicorn).
# ---------------------------------------------------------------------------

STATUS_LINES = {
    200: "200 OK", 400: "400 Bad Request", 401: "401 Unauthorized", 403: "403 Forbidden",
    404: "404 Not Found", 405: "405 Method Not Allowed", 409: "409 Conflict",
    411: "411 Length Required", 413: "413 Payload Too Large",
    415: "415 Unsupported Media Type", 429: "429 Too Many Requests",
    500: "500 Internal Server Error", 503: "503 Service Unavailable",
}
FORM_TYPE = "application/x-www-form-urlencoded"


def log(environ, message):
    """One line to the error log (stderr under CGI and `serve`). Never a key."""
    stream = environ.get("wsgi.errors") or sys.stderr
    stream.write("ipupdate: %s\n" % message)
    stream.flush()


def send(start_response, status, body, extra_headers=()):
    data = body.encode("utf-8")
    start_response(STATUS_LINES[status], [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(data))),
        ("Cache-Control", "no-store"),
    ] + list(extra_headers))
    return [data]


def read_post(environ):
    """The decoded fields of a form POST; HTTP-level refusals raise Refused."""
    if environ.get("REQUEST_METHOD") != "POST":
        raise Refused(405, "only POST is accepted here")
    content_type = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
    if content_type != FORM_TYPE:
        raise Refused(415, "Content-Type must be %s" % FORM_TYPE)
    length_text = environ.get("CONTENT_LENGTH", "")
    if not length_text.isdigit():
        raise Refused(411, "a Content-Length header is required")
    length = int(length_text)
    if length > MAX_BODY_BYTES:
        raise Refused(413, "request body over %d bytes" % MAX_BODY_BYTES)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["ipupdate.body_read"] = True  # `serve` may keep the connection open
    if len(body) != length:
        raise Refused(400, "request body shorter than its Content-Length")
    return single_fields(parse_form(body))


def make_application(config=None, clock=time.time):
    """A WSGI application. With `config` it uses that; without, it reads the
    config file for each request (so a CGI or WSGI host picks up edits)."""

    def application(environ, start_response):
        peer = environ.get("REMOTE_ADDR", "?")
        fields = {}
        try:
            fields = read_post(environ)
            active = config or load_config(find_config_path(environ))
            peer = peer_address(peer, environ.get("HTTP_X_FORWARDED_FOR", ""),
                                active.trusted_proxies)
            status, body = answer(fields, peer, active, int(clock()))
            return send(start_response, status, body)
        except Refused as refusal:
            extra = [("Allow", "POST")] if refusal.status == 405 else []
            if refusal.status >= 500:
                log(environ, "error: %s" % refusal.reason)
            elif fields.get("type") == "update":
                log(environ, "refused update from %s for name '%s': %s" % (
                    peer, printable(fields.get("name", "")), refusal.reason))
            return send(start_response, refusal.status, "Error: " + refusal.reason, extra)
        except ConfigError as error:
            log(environ, "configuration error: %s" % error)
            return send(start_response, 500, "Error: server not configured")
        except DatabaseUnavailable as error:
            log(environ, "database error: %s" % error)
            return send(start_response, 503, "Error: database unavailable, try again later")

    return application


application = make_application()


# ---------------------------------------------------------------------------
# Transport adapters: CGI (one request per process) and a local HTTP server.
# ---------------------------------------------------------------------------

def run_cgi(app):
    """Serve the one request of a CGI execution (RFC 3875).

    Ten lines instead of wsgiref.handlers.CGIHandler, whose imports cost more
    than everything else a request does.
    """
    environ = dict(os.environ)
    environ.update({
        "wsgi.input": sys.stdin.buffer, "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0), "wsgi.multithread": False, "wsgi.multiprocess": True,
        "wsgi.run_once": True,
        "wsgi.url_scheme": "https" if environ.get("HTTPS", "off").lower() in (
            "on", "1") else "http",
    })
    response = []

    def start_response(status, headers, exc_info=None):
        response[:] = [status, headers]

    try:
        body = b"".join(app(environ, start_response))
    except Exception:
        import traceback  # lazy: only for the error log, never for the peer
        sys.stderr.write("ipupdate: internal error\n" + traceback.format_exc())
        body = send(start_response, 500, "Error: internal error")[0]
    status, headers = response
    head = "Status: %s\r\n" % status + "".join("%s: %s\r\n" % pair for pair in headers)
    sys.stdout.buffer.write(head.encode("latin-1") + b"\r\n" + body)
    sys.stdout.buffer.flush()


def serve(app, bind, port, announce):
    """A threaded HTTP/1.1 server for local use; not hardened for the open internet
    (put it behind a reverse proxy, see docs/DEPLOY.md)."""
    import http.server  # lazy: only `serve` needs an HTTP server
    import socket
    import socketserver

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = SOCKET_TIMEOUT_S      # a stalled client is dropped, not waited for
        server_version = "ipupdate/" + VERSION

        def setup(self):
            http.server.BaseHTTPRequestHandler.setup(self)
            # Each response is written at once, and small: no Nagle delay for it.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def run_application(self):
            path, _, query = self.path.partition("?")
            length = self.headers.get("Content-Length", "")
            environ = {
                "REQUEST_METHOD": self.command, "PATH_INFO": path, "QUERY_STRING": query,
                "SCRIPT_NAME": "", "SERVER_PROTOCOL": self.request_version,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": length.strip(),
                "REMOTE_ADDR": self.client_address[0],
                "SERVER_NAME": bind, "SERVER_PORT": str(self.server.server_address[1]),
                "wsgi.input": self.rfile, "wsgi.errors": sys.stderr,
                "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
                "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
            }
            for header, value in self.headers.items():
                key = "HTTP_" + header.upper().replace("-", "_")
                if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                    environ[key] = environ[key] + "," + value if key in environ else value
            response = []
            body = b"".join(app(environ, lambda status, headers, exc_info=None:
                                response.extend([status, headers])))
            status, headers = response
            # A refused request may leave its body unread: the connection cannot
            # be reused after that, so close it.
            consumed = environ.get("ipupdate.body_read", False)
            if self.headers.get("Transfer-Encoding") or (length.strip() not in ("", "0")
                                                        and not consumed):
                self.close_connection = True
                headers = headers + [("Connection", "close")]
            head = "HTTP/1.1 %s\r\n" % status + "".join("%s: %s\r\n" % h for h in headers)
            self.wfile.write(head.encode("latin-1") + b"\r\n" + body)
            self.wfile.flush()

        do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = \
            run_application

        def log_request(self, code="-", size="-"):
            pass  # refusals and errors are logged by the application; success is quiet

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        address_family = socket.AF_INET6 if ":" in bind else socket.AF_INET

        def server_bind(self):
            if self.address_family == socket.AF_INET6:
                # `--bind ::` answers IPv4 too (dual stack), whatever the OS default.
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            http.server.HTTPServer.server_bind(self)

    server = Server((bind, port), Handler)
    host = "[%s]" % bind if ":" in bind else bind
    announce("ipupdate: serving on http://%s:%d/" % (host, server.server_address[1]))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


# ---------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------

USAGE_EXAMPLES = """\
As a CGI program: copy this file to the cgi-bin, make it executable, and put
the config in ../ipupdate.conf (outside the document root) or name it in the
IPUPDATE_CONFIG environment variable. A minimal config:

  [ipupdate]
  secret = <output of: python3 ipupdate_server.py genkey>
  database = ipupdate.sqlite      ; relative to the config file

Local use:
  python3 ipupdate_server.py genkey
  python3 ipupdate_server.py serve --config ipupdate.conf --port 8080

Exit codes: 0 ok, 2 usage or configuration error.
"""


def main(argv):
    if "GATEWAY_INTERFACE" in os.environ:
        # Under CGI, argv may hold words of the query string (RFC 3875 4.4): ignore it.
        run_cgi(application)
        return 0
    import argparse  # lazy: a CGI request never parses a command line
    parser = argparse.ArgumentParser(
        prog="ipupdate_server.py", description=__doc__.split("\n")[0],
        epilog=USAGE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve_parser = commands.add_parser(
        "serve", help="run a local HTTP server (POST: updates; GET: the viewer)")
    serve_parser.add_argument("--config", help="config file (default: $%s, else %s)"
                              % (CONFIG_ENV, find_config_path({})))
    serve_parser.add_argument("--bind", default="127.0.0.1",
                              help="address to listen on (default 127.0.0.1; :: for "
                                   "IPv6 and IPv4)")
    serve_parser.add_argument("--port", type=int, default=8080,
                              help="TCP port (default 8080; 0 picks a free one)")
    commands.add_parser("genkey", help="print a new random 256-bit key for the config")
    args = parser.parse_args(argv)

    if args.command == "genkey":
        import secrets  # lazy: only genkey draws random numbers
        print(secrets.token_hex(32))
        return 0
    if args.command == "serve":
        try:
            config = load_config(args.config or find_config_path())
        except ConfigError as error:
            sys.stderr.write("ipupdate_server.py: %s\n" % error)
            return 2
        serve(serve_application(config), args.bind, args.port,
              lambda line: print(line, flush=True))
        return 0
    parser.print_help()
    return 2


def serve_application(config):
    """Updates on POST, the viewer (getip_cgi.py beside this file) on GET."""
    updates = make_application(config)

    def application(environ, start_response):
        if environ["REQUEST_METHOD"] in ("GET", "HEAD"):
            try:
                import getip_cgi  # lazy: only the viewer's requests need it
            except ImportError:
                return send(start_response, 404, "Error: the viewer getip_cgi.py is not "
                                                 "installed beside ipupdate_server.py")
            return getip_cgi.make_application(config)(environ, start_response)
        return updates(environ, start_response)

    return application


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
