#!/usr/bin/env python3
"""ipupdate_server.py - record a home machine's public IP address, authenticated.

About 1690 lines, standard library only, Python 3.6 to 3.13: read it before you
trust it with a key. It answers the two POSTs of the ipupdate protocol
(docs/PROTOCOL.md) and keeps the history in SQLite, in the original PHP
ipupdate's schema, so an existing ipupdate.sqlite is continued as it is:

  type=ip      "what address do you see me from?"  -> a signed reply
  type=update  "record this address for NAME"       -> OK / Error line

It runs as a CGI program (the config goes OUTSIDE the document root:
../ipupdate.conf, or $IPUPDATE_CONFIG), as a WSGI `application`, or by itself:
`serve`, `genkey`, `check` (see --help). After an update that changed an
address it runs the owner's on_change program, if set (docs/DNS.md). Routers'
dyndns2 lives in ipupdate_dyndns2.py, loaded only for a [dyndns2] section.

The security path is one block, in the order of its checks, from the decoded
fields to the COMMIT: answer_update() -> check_window() -> record_update().
An update is accepted only if its MAC, compared in constant time, is that of
the name's key; its time is within the window of the server's clock; it comes
from the address it names; and it is newer than the last one accepted for the
name. Sections: protocol, request fields, addresses, configuration, storage,
the security path, hooks, shared with getip_cgi.py, WSGI, CGI and `serve`,
`check`, command line.
"""

import os
import sys
import time

# Nothing else at module level: a CGI program pays for every import on every
# request, so each request imports only what it uses (marked "lazy").

VERSION = "1.1"
DEFAULT_WINDOW_S = 300            # as DNS TSIG's default fudge (RFC 8945)
DEFAULT_STALE_AFTER_S = 3 * 3600  # `check` and the viewer call a name stale after this
DEFAULT_HOOK_TIMEOUT_S = 10       # an on_change hook is killed after this
MIN_SECRET_CHARS = 16
MAX_BODY_BYTES = 4096
MAX_NAME_CHARS = 63
MAX_TS_DIGITS = 12                # Unix time in whole seconds until year 33658
BUSY_TIMEOUT_S = 10.0             # wait this long for a locked database
REQUEST_TIMEOUT_S = 10.0          # `serve`: a whole request must arrive within this
MAX_REQUEST_BYTES = 65536         # `serve`: request line, headers and body, in all
DEFAULT_REFUSED_LOG_ROWS = 1000   # the refused-attempt log keeps the newest this many
DEFAULT_MAX_REFUSALS_PER_MINUTE = 30  # more from one source: 429 until it slows down
REFUSAL_WINDOW_S = 60             # ... counted over this many seconds
REFUSAL_LOG_ROWS_PER_MINUTE = 120  # the log's share of disk writes, from all sources
REFUSAL_BUSY_TIMEOUT_S = 1.0      # logging a refusal waits no longer for the lock
DYNDNS2_PATH = "/nic/update"
CHECKIP_PATH = "/checkip"         # routers' "which address am I?", as checkip.dyndns.org
DYNDNS2_MISSING = ("the config has a [dyndns2] section, but ipupdate_dyndns2.py is not "
                   "beside ipupdate_server.py: copy it there, or remove the section")
CONFIG_ENV = "IPUPDATE_CONFIG"
CONFIG_DEFAULT_RELATIVE = os.path.join("..", "ipupdate.conf")


# ---------------------------------------------------------------------------
# Protocol: the exact signed strings, built in one place.
# ---------------------------------------------------------------------------

def sign(key, message):
    """HMAC-SHA256 of `message` under `key`, as 64 lowercase hex digits."""
    import hashlib  # lazy: only requests that sign or verify pay for these
    import hmac
    return hmac.new(key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def mac_matches(key, message, received_mac):
    """Constant time (hmac.compare_digest): a plain == leaks, through its timing,
    how many leading characters of a forged MAC are right."""
    import hmac
    return hmac.compare_digest(sign(key, message), received_mac)


def passwords_match(offered, expected):
    """Constant time, as mac_matches(), for dyndns2 passwords and the view key;
    bytes, as compare_digest refuses str that is not ASCII."""
    import hmac
    return hmac.compare_digest(offered.encode("utf-8"), expected.encode("utf-8"))


def ip_reply_message(address, ts, nonce=None, now=None):
    """The signed part of a type=ip reply: the original's ip=ADDR&ts=T, or
    ours, ip=ADDR&ts=T&nonce=N&now=S."""
    message = "ip=%s&ts=%s" % (address, ts)
    return message if nonce is None else message + "&nonce=%s&now=%d" % (nonce, now)


def update_message(address, name, ts):
    """The signed part of a type=update request."""
    return "type=update&ip=%s&name=%s&ts=%s" % (address, name, ts)


def outcome_message(outcome, address, name, ts, nonce, now):
    """The signed part of the outcome line that answers an update sent with a
    nonce. Its own prefix: no signed answer reads as a request or another answer."""
    return "type=outcome&outcome=%s&ip=%s&name=%s&ts=%s&nonce=%s&now=%d" % (
        outcome, address, name, ts, nonce, now)


def basic_auth_password(authorization):
    """The password of an `Authorization: Basic ...` header (any user), or None."""
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    import binascii  # lazy: only basic auth decodes base64 (cheaper than `base64`)
    try:
        decoded = binascii.a2b_base64(credentials.strip().encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError):
        return None
    _, separator, password = decoded.partition(":")
    return password if separator else None


# ---------------------------------------------------------------------------
# Request fields: strict decoding and checks. Pure functions; each raises Refused.
# ---------------------------------------------------------------------------

class Refused(Exception):
    """Answered with `status` and a one-line reason; `detail` is for the log only.
    `outcome`: a refusal of a correctly signed update, which the answer signs
    (`proof`, the outcome line) for a client that sent a nonce."""

    def __init__(self, status, reason, detail="", outcome=None):
        Exception.__init__(self, reason)
        self.status, self.reason, self.detail, self.outcome = status, reason, detail, outcome
        self.proof = ""


DIGITS = frozenset("0123456789")
HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
NAME_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
NAME_REST = NAME_FIRST | frozenset("._-")


def parse_form(body):
    """Form-encoded bytes -> [(field, value)]. Strict on purpose (urllib.parse is
    lenient, and slow to import): bad escapes and non-UTF-8 are refused."""
    fields = []
    for pair in body.split(b"&") if body else ():
        field, separator, value = pair.partition(b"=")
        if not separator:
            raise Refused(400, "malformed form field (no '=')")
        fields.append((percent_decode(field), percent_decode(value)))
    return fields


def percent_decode(raw):
    pieces = raw.replace(b"+", b" ").split(b"%")
    for index in range(1, len(pieces)):
        if len(pieces[index]) < 2 or not set(pieces[index][:2].decode("latin-1")) <= HEX_DIGITS:
            raise Refused(400, "malformed percent escape in form data")
        pieces[index] = bytes([int(pieces[index][:2], 16)]) + pieces[index][2:]
    try:
        return b"".join(pieces).decode("utf-8")
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


def printable(text, limit=60):
    """Text from a request or a database, safe for one line of a log or a message."""
    text = "".join(c if " " <= c <= "~" else "?" for c in text)
    return text if len(text) <= limit else text[:limit] + "..."


def required(fields, field):
    if field not in fields:
        raise Refused(400, "missing field '%s'" % field)
    return fields[field]


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
    if len(text) != 64 or not set(text) <= frozenset("0123456789abcdef"):
        raise Refused(400, "field 'h' must be 64 lowercase hex digits")
    return text


def check_address(text):
    """`text`, if it is an address written canonically (RFC 5952, as ipaddress
    prints it): the signed text and the stored text are then one."""
    try:
        canonical = canonical_address(text)
    except ValueError:
        raise Refused(400, "field 'ip' is not an IPv4 or IPv6 address")
    if canonical != text:
        raise Refused(400, "field 'ip' must be written canonically (%s)" % canonical)
    return text


# ---------------------------------------------------------------------------
# Addresses, as canonical text: IPv4 by its four-line rule, IPv6 by ipaddress
# (RFC 5952's rule is not short), so that an IPv4 request does not pay for
# importing ipaddress (docs/PERFORMANCE.md has the figure).
# ---------------------------------------------------------------------------

def canonical_address(text):
    """The canonical text of the IPv4 or IPv6 address `text`; ValueError if none."""
    if ":" not in text:
        octets = text.split(".")
        if len(octets) != 4 or not all(1 <= len(octet) <= 3 and set(octet) <= DIGITS and (
                octet == "0" or octet[0] != "0") and int(octet) <= 255 for octet in octets):
            raise ValueError("not an IPv4 address")
        return text
    if "%" in text:
        raise ValueError("an IPv6 zone index is no address of the internet")
    import ipaddress  # lazy: only IPv6 pays for it
    if "." in text:
        canonical_address(text.rsplit(":", 1)[1])  # a dotted tail by our IPv4 rule
    address = ipaddress.IPv6Address(text)
    if address.ipv4_mapped is None:
        return str(address)
    return "::ffff:%x:%x" % (int(address) >> 16 & 0xFFFF, int(address) & 0xFFFF)  # as 3.12


def ip_version(address):
    return 6 if ":" in address else 4


def parse_peer(text):
    """A peer address as a web server gives it, canonical; an IPv4-mapped one
    (how a dual-stack socket shows an IPv4 peer) as the IPv4 address it is."""
    address = canonical_address(text.strip().split("%", 1)[0])
    if address.startswith("::ffff:"):
        import ipaddress
        return str(ipaddress.IPv6Address(address).ipv4_mapped or address)
    return address


def in_networks(address, networks):
    """True when `address` is in one of `networks` (ipaddress networks: a config
    with trusted proxies has imported ipaddress already)."""
    import ipaddress
    return bool(networks) and any(ipaddress.ip_address(address) in network
                                  for network in networks)


def peer_address(remote_addr, forwarded_for, trusted_proxies):
    """The address the request comes from. X-Forwarded-For is believed only hop
    by hop from the right, and only while the hop that added it is one of our
    trusted proxies: anyone can send that header."""
    try:
        peer = parse_peer(remote_addr)
    except ValueError:
        raise Refused(500, "the web server gave no usable REMOTE_ADDR")
    hops = [hop for hop in forwarded_for.split(",") if hop.strip()] if trusted_proxies else []
    while hops and in_networks(peer, trusted_proxies):
        try:
            peer = parse_peer(hops.pop())
        except ValueError:
            raise Refused(400, "malformed X-Forwarded-For header")
    return peer


# ---------------------------------------------------------------------------
# Configuration: one INI file, read for each request under CGI, once by
# `serve`. Errors name file, line and section, never a value: a line may hold
# a pasted key, so a setting is quoted only when it looks like one of ours.
# ---------------------------------------------------------------------------

class ConfigError(Exception):
    """The configuration is missing or wrong. The message never holds a secret."""


SETTINGS = ("secret", "database", "window", "timezone", "trusted_proxies",
            "allow_short_secrets", "stale_after", "view_key", "on_change", "hook_timeout",
            "refused_log_rows", "max_refusals_per_minute",
            "dyndns2_allow_plain_http", "dyndns2_trust_myip", "proxy_sets_forwarded_proto")
NAME_SETTINGS = ("on_change", "hook_timeout")  # what a [name:NAME] section may set
NOT_SHOWN = "(not shown: it does not look like a setting name)"
NOT_A_NAME = ("not a valid name (a letter or digit followed by up to 62 of letters, digits, "
              "'.', '_', '-')")
FLAGS = {"yes": True, "true": True, "on": True, "1": True,
         "no": False, "false": False, "off": False, "0": False}
SHORT_SECRET = "shorter than %d characters (make one with 'ipupdate_server.py genkey'" % (
    MIN_SECRET_CHARS)


def quoted_setting(setting):
    """'setting' in quotes when it is a short word of a-z and '_', else None
    ('KEY=' alone on a line reads as a setting named KEY)."""
    if len(setting) <= 32 and set(setting) <= frozenset("abcdefghijklmnopqrstuvwxyz_"):
        return "'%s'" % setting
    return None


def config_line(lines, section, entry=None):
    """'line N in [S]' for an entry of a section, 'line N' for its header
    (from read_ini()'s line numbers); '[S]' when the number is not known."""
    number = (lines or {}).get((section, entry))
    if number is None:
        return "[%s]" % printable(section)
    return "line %d" % number if entry is None else "line %d in [%s]" % (
        number, printable(section))


def read_ini(text, path):
    """({section: {setting: value}}, {(section, setting): line number}) from
    INI text; a section's header has the setting None. Read as configparser
    reads it (delimiter '=' or ':', full-line '#' or ';' comments, names kept
    as written, no interpolation), but stricter: a value must fit on its line
    and nothing may appear twice. Not configparser: its imports cost a CGI
    request more than all the rest (tests/test_config.py compares the two)."""
    sections, lines, current = {}, {}, None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        where = "config file %s: line %d" % (path, number)
        if current is not None and stripped[0] != "[":
            where += " in [%s]" % printable(current)
        if line[0] in " \t":
            raise ConfigError(where + " is indented (a value must fit on one line)")
        if stripped[0] == "[":
            if not stripped.endswith("]") or len(stripped) < 3:
                raise ConfigError(where + ": cannot parse it")
            current = stripped[1:-1]
            if current in sections:
                raise ConfigError(where + ": section [%s] appears twice" % printable(current))
            sections[current], lines[(current, None)] = {}, number
            continue
        if current is None:
            raise ConfigError(where + " comes before any [section]")
        cut = min(position for position in (stripped.find("="), stripped.find(":"),
                                            len(stripped)) if position >= 0)
        setting, value = stripped[:cut].rstrip(), stripped[cut + 1:].lstrip()
        if cut == len(stripped) or not setting:
            raise ConfigError(where + ": cannot parse it (expected 'setting = value')")
        if setting in sections[current]:
            raise ConfigError(where + ": %s appears twice (first on line %d)" % (
                quoted_setting(setting) or "an entry", lines[(current, setting)]))
        sections[current][setting], lines[(current, setting)] = value, number
    return sections, lines


def parse_seconds(setting, text):
    """'300', '300s', '90m', '3h', '2d' -> seconds."""
    text = text.strip().lower()
    scale = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(text[-1:])
    digits = text[:-1] if scale else text
    if not digits.isdigit() or int(digits) == 0:
        raise ConfigError("%s must be a positive number of seconds (or with s, m, h, d)"
                          % setting)
    return int(digits) * (scale or 1)


def parse_count(setting, text):
    """'1000' -> 1000; 0 is allowed (it turns the feature off)."""
    text = text.strip()
    if not text or not set(text) <= DIGITS or len(text) > 9:
        raise ConfigError("%s must be a whole number (0 turns it off)" % setting)
    return int(text)


def parse_flag(setting, text):
    """yes/no (true/false, on/off, 1/0). Anything else is an error, not a guess."""
    if text.strip().lower() not in FLAGS:
        raise ConfigError("%s must be yes or no" % setting)
    return FLAGS[text.strip().lower()]


def parse_networks(text, where):
    """Addresses and networks, separated by spaces or commas. An error counts
    the entries rather than quoting one: it may hold a value pasted there."""
    if not text.strip():
        return ()
    import ipaddress  # lazy: only configs with trusted proxies pay for it
    networks = []
    for number, item in enumerate(text.replace(",", " ").split(), 1):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError("%s: entry %d is not an address or network" % (where, number))
    return tuple(networks)


class Config(object):
    """The checked settings of a config file (load_config() makes one)."""

    def __init__(self, path, sections, lines, name_keys, name_settings):
        settings = sections["ipupdate"]

        def get(setting, default=""):
            return settings.get(setting, default)

        def where(section, entry=None):
            return "config file %s: %s: " % (path, config_line(lines, section, entry))

        self.path, self.name_keys = path, name_keys
        self.directory = os.path.dirname(os.path.abspath(path))
        self.secret = get("secret") or None
        self.database = os.path.join(self.directory, get("database", "ipupdate.sqlite"))
        self.window_s = parse_seconds("window", get("window", str(DEFAULT_WINDOW_S)))
        self.stale_after_s = parse_seconds("stale_after", get(
            "stale_after", str(DEFAULT_STALE_AFTER_S)))
        self.timezone = get("timezone", "UTC").strip() or "UTC"
        self.trusted_proxies = parse_networks(get("trusted_proxies"), where(
            "ipupdate", "trusted_proxies") + "trusted_proxies")
        self.refused_log_rows = parse_count("refused_log_rows", get(
            "refused_log_rows", str(DEFAULT_REFUSED_LOG_ROWS)))
        self.max_refusals_per_minute = parse_count("max_refusals_per_minute", get(
            "max_refusals_per_minute", str(DEFAULT_MAX_REFUSALS_PER_MINUTE)))
        for flag in ("dyndns2_allow_plain_http", "dyndns2_trust_myip",
                     # A proxy that does not set X-Forwarded-Proto passes on the
                     # client's own: believed only when the owner says it does.
                     "proxy_sets_forwarded_proto"):
            setattr(self, flag, parse_flag(flag, get(flag, "no")))
        # Hooks: a [name:NAME] section overrides the [ipupdate] setting, one by one.
        self.hook = (program_path(self.directory, get("on_change")), parse_seconds(
            "hook_timeout", get("hook_timeout", str(DEFAULT_HOOK_TIMEOUT_S))))
        self.name_hooks = dict((name, (
            program_path(self.directory, options["on_change"]) if "on_change" in options
            else self.hook[0],
            parse_seconds("hook_timeout in [name:%s]" % name, options["hook_timeout"])
            if "hook_timeout" in options else self.hook[1]))
            for name, (_, options) in name_settings.items())
        if not parse_flag("allow_short_secrets", get("allow_short_secrets", "no")):
            # By line, never by name: 'KEY=' alone reads as a name with a short key.
            short = [label for label, key in [("secret", self.secret)] + [
                (where("names", name) + "key", key) for name, key in sorted(name_keys.items())]
                if key is not None and len(key) < MIN_SECRET_CHARS]
            if short:
                raise ConfigError("%s %s, or set allow_short_secrets = yes)"
                                  % (short[0], SHORT_SECRET))
        # dyndns2 passwords cross the network as they are, and routers keep
        # them: ipupdate_dyndns2.py holds them to their own rules.
        self.dyndns2 = dyndns2_module().config_entries(
            sections["dyndns2"], [self.secret] + list(name_keys.values()), where, lines
        ) if "dyndns2" in sections else {}
        # The view key travels in URLs (so into access logs and browser
        # histories): long, whatever allow_short_secrets says, and no key or
        # password that can change a record.
        self.view_key = get("view_key") or None
        if self.view_key is not None:
            here = where("ipupdate", "view_key") + "view_key"
            if len(self.view_key) < MIN_SECRET_CHARS:
                raise ConfigError("%s %s; allow_short_secrets does not apply to it)"
                                  % (here, SHORT_SECRET))
            used = ([("ipupdate", "secret")] if self.view_key == self.secret else []) + [
                ("names", name) for name, key in sorted(name_keys.items())
                if key == self.view_key] + [("dyndns2", name) for name, password in
                                            sorted(self.dyndns2.values())
                                            if password == self.view_key]
            if used:
                raise ConfigError("%s is also used on %s: give the viewer a key of its own (it "
                                  "ends up in URLs and access logs, and must never change a "
                                  "record)" % (here, config_line(lines, *used[0])))

    def key_for(self, name):
        """The key that signs messages of `name` (any letter case): its own if
        listed, else that of the nearest listed name it is below (`pi.home` is
        home's to sign: a shared-secret holder must not plant names in a zone
        that has its own key), else the shared secret."""
        labels = name.lower().split(".")
        for start in range(len(labels)):
            key = self.name_keys.get(".".join(labels[start:]))
            if key is not None:
                return key
        return self.secret

    def hook_for(self, name):
        """(program or None, timeout in seconds) to run when `name` changes address."""
        return self.name_hooks.get(name.lower(), self.hook)

    def listed_names(self):
        """The names the config names: in [names], [dyndns2] or with a [name:NAME]
        section."""
        return set(self.name_keys) | set(self.name_hooks) | set(self.dyndns2)


def program_path(directory, text):
    """A hook program: None when empty; a relative path is relative to the config file."""
    return os.path.join(directory, text.strip()) if text.strip() else None


def find_config_path(environ=None):
    """IPUPDATE_CONFIG if set, else ../ipupdate.conf beside the script's directory
    (outside a cgi-bin, so the web server never serves it)."""
    path = (environ or os.environ).get(CONFIG_ENV) or os.environ.get(CONFIG_ENV)
    if path:
        return path
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, CONFIG_DEFAULT_RELATIVE))


def case_folded(entries, section, path, lines):
    """{name in lower case: value}: names, like DNS names, are one name in any
    case. Adds the folded names' line numbers to `lines`."""
    folded, folded_lines = {}, {}
    for name, value in entries.items():
        if name.lower() in folded:
            raise ConfigError("config file %s: %s: this name and that on line %d differ only "
                              "in letter case (names are case-insensitive)" % (
                                  path, config_line(lines, section, name),
                                  folded_lines[(section, name.lower())]))
        folded[name.lower()] = value
        folded_lines[(section, name.lower())] = lines.get((section, name))
    lines.update(folded_lines)
    return folded


def load_config(path):
    """The Config of the file at `path`, checked whole, or ConfigError."""
    try:
        with open(path, encoding="utf-8") as config_file:
            sections, lines = read_ini(config_file.read(), path)
    except OSError as error:
        raise ConfigError("cannot read config file %s: %s" % (path, error.strerror))
    except UnicodeDecodeError:
        raise ConfigError("config file %s is not UTF-8" % path)
    if "ipupdate" not in sections:
        raise ConfigError("config file %s has no [ipupdate] section" % path)

    def where(section, entry=None):
        return "config file %s: %s: " % (path, config_line(lines, section, entry))

    name_settings = {}  # name in lower case: (its section, its settings)
    for section in sections:
        name = section[len("name:"):]
        if section.startswith("name:") and name.lower() in name_settings:
            raise ConfigError(where(section) + "sections [%s] and [name:%s] differ only in "
                              "letter case (names are case-insensitive)"
                              % (printable(section), printable(name.lower())))
        if section.startswith("name:"):
            name_settings[name.lower()] = (section, sections[section])
        elif section not in ("ipupdate", "names", "dyndns2"):
            raise ConfigError(where(section) + "unknown section [%s] (expected [ipupdate], "
                              "[names], [name:NAME], [dyndns2])" % printable(section))
    settings = sections["ipupdate"]
    for setting in settings:
        if setting not in SETTINGS:
            raise ConfigError(where("ipupdate", setting) + "unknown setting %s"
                              % (quoted_setting(setting) or NOT_SHOWN))
    name_keys = case_folded(sections.get("names", {}), "names", path, lines)
    for name, key in sorted(name_keys.items(), key=lambda item: lines[("names", item[0])]):
        if check_name_quietly(name) is None:
            raise ConfigError(where("names", name) + NOT_A_NAME)
        if not key:
            raise ConfigError(where("names", name) + "the key is empty")
    dyndns2_names = set(name.lower() for name in sections.get("dyndns2", {}))
    if not settings.get("secret") and not name_keys and not dyndns2_names:
        raise ConfigError("config file %s: set 'secret' in [ipupdate] or a key per name "
                          "in [names] (or a dyndns2 password per name in [dyndns2])" % path)
    for name, (section, options) in sorted(name_settings.items()):
        if check_name_quietly(name) is None:
            raise ConfigError(where(section) + "[name:%s] is not a valid name" % printable(name))
        for setting in options:
            if setting not in NAME_SETTINGS:
                expected = "expected " + ", ".join(NAME_SETTINGS)
                quoted = quoted_setting(setting)
                raise ConfigError(where(section, setting) + "unknown setting %s" % (
                    "%s (%s)" % (quoted, expected) if quoted else
                    "(not shown: it does not look like a setting name; %s)" % expected))
        if name not in name_keys and name not in dyndns2_names and not settings.get("secret"):
            # Most likely a typo: a section for a name that no key can ever sign.
            raise ConfigError("config file %s: %s in [name:%s]: no key signs this name (add "
                              "it to [names], or set 'secret' in [ipupdate])"
                              % (path, config_line(lines, section), name))
    return Config(path, sections, lines, name_keys, name_settings)


def check_name_quietly(name):
    """`name` if it is a valid name, else None."""
    try:
        return check_name(name)
    except Refused:
        return None


# ---------------------------------------------------------------------------
# Storage: the original's SQLite schema, continued as it is, and beside it our
# log of refused attempts (never a MAC or a key in it).
# ---------------------------------------------------------------------------

FAMILY_TABLES = {4: "log_ipv4", 6: "log_ipv6"}
# Names compare with COLLATE NOCASE (ASCII case folding: all a name may hold).
# An old database may hold one name in several spellings: they are one name.
SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY AUTOINCREMENT, ip VARCHAR,
    name VARCHAR, first_seen UNSIGNED INT, timestamp UNSIGNED INT);
CREATE INDEX IF NOT EXISTS {table}_folded_name_id ON {table} (name COLLATE NOCASE, id);
CREATE INDEX IF NOT EXISTS {table}_folded_name_timestamp ON {table}
    (name COLLATE NOCASE, timestamp);
"""
REFUSED_SCHEMA = """
CREATE TABLE IF NOT EXISTS refused (id INTEGER PRIMARY KEY, time INTEGER, source VARCHAR,
    peer VARCHAR, name VARCHAR, status INTEGER, reason VARCHAR);
CREATE INDEX IF NOT EXISTS refused_source_time ON refused (source, time);
CREATE INDEX IF NOT EXISTS refused_name_time ON refused (name, time);
"""
SCHEMA_OBJECTS = set(["refused", "refused_source_time", "refused_name_time"] + [
    table + suffix for table in FAMILY_TABLES.values()
    for suffix in ("", "_folded_name_id", "_folded_name_timestamp")])


class DatabaseUnavailable(Exception):
    """The database cannot be opened or written; the message is for the error log."""


def database_files(path, readonly):
    """Those of the database's files that exist: it, and SQLite's beside it.

    None may be a symbolic link (a ConfigError): SQLite would follow it and
    write where whoever planted it chose. A writer makes a file of ours that
    group or others may open its owner's alone (the original left its
    database 0644), with a line in the error log. Not os.path.exists(): it
    follows links."""
    import stat  # lazy, and free: os has loaded it
    if not os.path.isdir(os.path.dirname(path)):  # a mistake to fix, not to retry
        raise ConfigError("the database's directory %s does not exist: create it, writable "
                          "by the user the scripts run as, or correct 'database' in the "
                          "config" % os.path.dirname(path))
    found = []
    for name in (path, path + "-journal", path + "-wal", path + "-shm"):
        try:
            info = os.lstat(name)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode):
            raise ConfigError("database file %s is a symbolic link: refused (set "
                              "'database' to the file itself)" % name)
        loose = stat.S_IMODE(info.st_mode)
        if loose & 0o077 and not readonly and info.st_uid == os.geteuid():
            try:
                os.chmod(name, loose & 0o700)
                done = "made %04o" % (loose & 0o700)
            except OSError as error:
                done = "cannot change it: %s" % error.strerror
            sys.stderr.write("ipupdate: database file %s was open to group or others "
                             "(mode %04o): %s\n" % (name, loose, done))
            sys.stderr.flush()
        found.append(name)
    return found


def open_database(path, readonly=False):
    """A connection in autocommit mode (transactions are explicit), past
    database_files(). A new file is made 0600 before SQLite touches it: the
    history of someone's home address is nobody else's business. A read-only
    connection creates nothing: None when there is no file yet."""
    import sqlite3  # lazy: type=ip and --help need no database
    try:
        existing = database_files(path, readonly)
        if readonly and path not in existing:
            return None
        # A writer killed in mid-commit leaves a "hot" journal that a read-only
        # connection cannot roll back: while one exists, connect read-write.
        if readonly and path + "-journal" not in existing:
            uri = "file:%s?mode=ro" % path.replace("%", "%25").replace("?", "%3f").replace(
                "#", "%23")
            return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        if path not in existing:
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                pass  # another process created it first: fine
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        if not readonly:
            create_schema(connection)
        return connection
    except (OSError, sqlite3.Error) as error:
        raise DatabaseUnavailable("cannot open database %s: %s" % (path, error))


class transaction(object):
    """`with transaction(connection):` BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on
    any exception. IMMEDIATE takes the write lock before the first read, so what
    the block reads cannot change before it writes."""

    def __init__(self, connection):
        self.connection = connection

    def __enter__(self):
        self.connection.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, error, trace):
        if kind is None:
            self.connection.execute("COMMIT")
        elif self.connection.in_transaction:
            self.connection.execute("ROLLBACK")


def create_schema(connection):
    """Once per writing connection, before the request's own transaction: the
    tables, indexes, and the column `source` ('dyndns2' in rows a dyndns2
    client began). Read first: a complete schema costs no lock. Else all in
    one BEGIN IMMEDIATE, so that many first requests at once do not each meet
    "database is locked"."""
    def missing_source():
        return [table for table in FAMILY_TABLES.values() if "source" not in [
            row[1] for row in connection.execute("PRAGMA table_info(%s)" % table)]]

    present = set(row[0] for row in connection.execute("SELECT name FROM sqlite_master"))
    if present >= SCHEMA_OBJECTS and not missing_source():
        return
    with transaction(connection):
        for statement in (SCHEMA.format(table="log_ipv4") + SCHEMA.format(table="log_ipv6")
                          + REFUSED_SCHEMA).split(";"):
            if statement.strip():
                connection.execute(statement)
        for table in missing_source():
            connection.execute("ALTER TABLE %s ADD COLUMN source VARCHAR" % table)


def as_int(value):
    """A stored time as an int; 0 for an odd value in an old database."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class TooManyRefusals(Refused):
    def __init__(self, retry_after_s):
        Refused.__init__(self, 429, "too many refused requests from this address: "
                                    "try again in %d s" % retry_after_s)
        self.retry_after_s = retry_after_s


def note_refusal(config, name, peer, refusal, now, log_line, what="update"):
    """Log a refused attempt to change a record (`name` None: a wrong view key);
    return what to answer: `refusal`, or TooManyRefusals when the peer's source
    already has max_refusals_per_minute. A correctly signed, fresh update is
    never refused, so never limited, whoever shares its address. A database
    that cannot be written changes nothing: the refusal stands."""
    if not config.refused_log_rows:
        return refusal
    import sqlite3  # lazy, see open_database()
    try:
        connection = open_database(config.database)
        try:
            # Short: logging a refusal is never worth making a request wait long.
            connection.execute("PRAGMA busy_timeout = %d" % (REFUSAL_BUSY_TIMEOUT_S * 1000))
            retry_after_s = record_refusal(
                connection, now, refusal_source(peer), peer,
                None if name is None else printable(name, MAX_NAME_CHARS).lower(),
                refusal.status, ("viewer: " if what == "view" else "") +
                printable(refusal.reason, 200), config)
        finally:
            connection.close()
    except (ConfigError, DatabaseUnavailable, sqlite3.Error) as error:
        log_line("refused %s not recorded: %s" % (what, error))
        return refusal
    return TooManyRefusals(retry_after_s) if retry_after_s else refusal


def note_view_refusal(config, peer, refusal, now, log_line):
    """A wrong view key, logged and limited as a refused update is."""
    return note_refusal(config, None, peer, refusal, now, log_line, "view")


def refusal_source(peer):
    """What refusals are counted against: the IPv4 address, or the IPv6 /64, which
    one subscriber usually holds whole (else it could pick a fresh address each time)."""
    if ip_version(peer) == 4:
        return peer
    import ipaddress
    return str(ipaddress.IPv6Network(peer + "/64", strict=False))


def record_refusal(connection, now, source, peer, name, status, reason, config):
    """Log one refusal, keeping the newest refused_log_rows; return 0, or the
    Retry-After of a 429 when `source` is over its limit (then nothing is
    logged; nor when the whole log took REFUSAL_LOG_ROWS_PER_MINUTE rows in
    the last minute). The limits are read first without the lock (a flood
    costs two indexed reads, no write), then again under it (exact)."""
    def over_limit():
        """0, the Retry-After of a 429, or -1 when the log took its share."""
        count, oldest = connection.execute(
            "SELECT COUNT(*), MIN(time) FROM refused WHERE source = ? AND time > ?",
            (source, now - REFUSAL_WINDOW_S)).fetchone()
        if config.max_refusals_per_minute and count >= config.max_refusals_per_minute:
            return max(1, oldest + REFUSAL_WINDOW_S - now)
        (recent,) = connection.execute(
            "SELECT COUNT(*) FROM (SELECT time FROM refused ORDER BY id DESC LIMIT ?) "
            "WHERE time > ?", (REFUSAL_LOG_ROWS_PER_MINUTE, now - REFUSAL_WINDOW_S)).fetchone()
        return -1 if recent >= REFUSAL_LOG_ROWS_PER_MINUTE else 0

    verdict = over_limit()
    if not verdict:
        with transaction(connection):
            verdict = over_limit()
            if not verdict:
                row_id = connection.execute(
                    "INSERT INTO refused (time, source, peer, name, status, reason) "
                    "VALUES (?, ?, ?, ?, ?, ?)", (now, source, peer, name, status, reason)
                ).lastrowid
                # Capped: a flood replaces old rows, it cannot fill the disk.
                connection.execute("DELETE FROM refused WHERE id <= ?",
                                   (row_id - config.refused_log_rows,))
    return max(verdict, 0)


# ---------------------------------------------------------------------------
# The security path: decoded fields, peer address, clock and config in; status
# and one line out, in the order the checks happen, down to the COMMIT.
# ---------------------------------------------------------------------------

def answer(fields, peer, config, now, on_change=None):
    """Answer one decoded POST: (status, body), or raise Refused. After an
    update that changed a name's address is stored: on_change(name, family,
    old address, new address), if given."""
    if fields.get("type") == "ip":
        return answer_ip(fields, peer, config, now)
    if fields.get("type") == "update":
        return answer_update(fields, peer, config, now, on_change)
    raise Refused(400, "missing field 'type'" if "type" not in fields else
                  "unknown request type (expected 'ip' or 'update')")


def key_of(config, name):
    """The key of `name`; for a name no key signs, a random one, used as any
    other: a caller without the key must not learn which names exist, so the
    answer is the one a wrong key gets."""
    return config.key_for(name) or os.urandom(32).hex()


def answer_ip(fields, peer, config, now):
    """Sign the address the request comes from. With a nonce (our client) the
    reply is fresh by the nonce and carries the server's time, so a client
    with a wrong clock can still date its update. Without (the original's
    form), ts must be within the window: else anyone could collect signatures
    for future times and replay them later."""
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


def answer_update(fields, peer, config, now, on_change=None):
    """Check and store a type=update. With a nonce (our client) the answer also
    signs its outcome, so that a client can tell a recorded update from a
    man in the middle's "OK" (docs/PROTOCOL.md, "The signed outcome")."""
    address_text = required(fields, "ip")
    name = check_name(required(fields, "name"))
    ts_text = required(fields, "ts")
    ts = check_ts(ts_text)
    received_mac = check_mac(required(fields, "h"))
    nonce = fields.get("nonce")
    if nonce is not None:
        check_nonce(nonce)
    check_address(address_text)
    key = key_of(config, name)
    if not mac_matches(key, update_message(address_text, name, ts_text), received_mac):
        raise Refused(403, "authentication failed: wrong key for this name, or the message "
                           "was altered", "" if config.key_for(name) else "no key for this name")

    def signed(outcome):
        if nonce is None:
            return ""
        message = outcome_message(outcome, address_text, name, ts_text, nonce, now)
        return "\noutcome=%s&now=%d&h=%s" % (outcome, now, sign(key, message))

    try:
        check_window(ts, now, config.window_s)
        if address_text != peer:
            raise Refused(403, "the signed address %s is not the address this request "
                               "comes from (%s)" % (address_text, peer), outcome="wrong_address")
        # The MAC covers the name as sent; from here on it is its one spelling,
        # lower case as DNS has it: history, replay floor, hooks.
        family = ip_version(address_text)
        connection = open_database(config.database)
        try:
            line, previous = record_update(connection, family, name.lower(), address_text, ts)
        finally:
            connection.close()
    except Refused as refusal:
        refusal.proof = signed(refusal.outcome) if refusal.outcome else ""
        raise
    if previous is not None and on_change is not None:
        # After COMMIT and close: whatever a hook does, the update is stored and
        # no other request waits for the database lock meanwhile.
        on_change(name.lower(), family, previous, address_text)
    return 200, line + signed("unchanged" if previous is None else "new")


def check_window(ts, now, window_s):
    """The message's time must be within window_s of ours: old captures go stale."""
    if ts > now + window_s:
        raise Refused(403, "timestamp %d s ahead of server clock (window %d s): "
                           "check the client's clock" % (ts - now, window_s),
                      outcome="out_of_window")
    if ts < now - window_s:
        raise Refused(403, "timestamp %d s behind server clock (window %d s): check the "
                           "client's clock, or this is an old message" % (now - ts, window_s),
                      outcome="out_of_window")


def record_update(connection, family, name, address, ts, dyndns2=False):
    """Store an authenticated update: (the OK line, the previous address: None
    when unchanged, "" for the name's first in this family); or refuse a
    replay: ts must be newer than the largest stored for the name (the largest,
    not the newest row's: the original accepted older messages when the
    address changed). BEGIN IMMEDIATE (transaction()) makes the check and the
    write one step: of many copies of one message sent at once, one is accepted.

    `dyndns2`: no signature to replay and no time of its own (ts is the
    server's clock): no replay floor, and never a stored time lowered, so it
    cannot make a later signed update count as a replay."""
    import sqlite3  # lazy, see open_database()
    table = FAMILY_TABLES[family]
    try:
        with transaction(connection):
            (last_ts,) = connection.execute("SELECT MAX(timestamp) FROM %s WHERE name = ? "
                                            "COLLATE NOCASE" % table, (name,)).fetchone()
            if not dyndns2 and last_ts is not None and ts <= as_int(last_ts):
                raise Refused(409, "replayed or out-of-order message: ts %d is not newer "
                                   "than the last accepted ts %d for this name"
                                   % (ts, as_int(last_ts)), outcome="replayed")
            newest = connection.execute(
                "SELECT id, ip, timestamp FROM %s WHERE name = ? COLLATE NOCASE "
                "ORDER BY id DESC LIMIT 1" % table, (name,)).fetchone()
            if newest is not None and newest[1] == address:
                connection.execute("UPDATE %s SET timestamp = ? WHERE id = ?" % table,
                                   (max(ts, as_int(newest[2])), newest[0]))
                return "OK: Timestamp updated", None
            connection.execute("INSERT INTO %s (ip, name, first_seen, timestamp, source) "
                               "VALUES (?, ?, ?, ?, ?)" % table,
                               (address, name, ts, ts, "dyndns2" if dyndns2 else None))
            return "OK: New IP updated", (newest[1] if newest else None) or ""
    except sqlite3.Error as error:
        raise DatabaseUnavailable("database %s: %s" % (table, error))


# ---------------------------------------------------------------------------
# Hooks: the owner's program, run after a name's new address is stored.
# ---------------------------------------------------------------------------

HOOK_ENV_KEPT = ("PATH", "LANG", "LC_ALL", "TZ")  # from our environment, if set
HOOK_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOOK_LOG_LINES, HOOK_LOG_BYTES = 20, 16384  # of a hook's output, at most this goes to the log


def run_change_hook(config, change, log_line):
    """Run the name's on_change program, if any, as `PROGRAM NAME FAMILY OLD_IP
    NEW_IP` (OLD_IP "" for a first address): never through a shell, in the
    config's directory, in a session of its own (killed whole after its
    timeout), with an environment built up, never copied from ours (under CGI
    ours holds the request's headers: an HTTP_PROXY there would steer the
    hook's requests). Its output and failures go to `log_line`; it raises
    nothing: the update is stored already."""
    name, family, old, new = change
    program, timeout_s = config.hook_for(name)
    if not program:
        return
    import signal  # lazy: only a request that changed an address, with a hook
    import subprocess
    import tempfile
    family = FAMILY_NAMES[family]
    prefix = "on_change hook for %s (%s): " % (name or "(unnamed)", family)
    env = dict((key, os.environ[key]) for key in HOOK_ENV_KEPT if key in os.environ)
    env.setdefault("PATH", HOOK_DEFAULT_PATH)
    env.update({"IPUPDATE_NAME": name, "IPUPDATE_FAMILY": family, "IPUPDATE_OLD_IP": old,
                "IPUPDATE_NEW_IP": new})
    try:
        # A file, not a pipe: a child the hook leaves in the background may
        # keep a pipe open long after the hook itself is done.
        with tempfile.TemporaryFile() as output:
            try:
                process = subprocess.Popen(
                    [program, name, family, old, new], cwd=config.directory, env=env,
                    stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                    start_new_session=True)
            except OSError as error:  # os.strerror: 3.6 adds the file name to strerror
                log_line(prefix + "cannot run %s: %s" % (program, os.strerror(error.errno)
                                                         if error.errno else error))
                return
            try:
                status = process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except OSError:
                    pass  # already gone
                process.wait()
                status = None
            output.seek(0)
            lines = [line for line in output.read(HOOK_LOG_BYTES).decode(
                "utf-8", "replace").splitlines() if line.strip()]
        for line in lines[:HOOK_LOG_LINES]:
            log_line(prefix + printable(line, 200))
        if len(lines) > HOOK_LOG_LINES:
            log_line(prefix + "(%d more lines of output not logged)"
                     % (len(lines) - HOOK_LOG_LINES))
        if status is None:
            log_line(prefix + "%s timed out after %d s (hook_timeout) and was killed"
                     % (program, timeout_s))
        elif status:
            log_line(prefix + ("%s was killed by signal %d" % (program, -status) if status < 0
                               else "%s exited with status %d" % (program, status)))
    except Exception as error:  # the update is stored: report, never fail the request
        log_line(prefix + "internal error running %s: %r" % (program, error))


# ---------------------------------------------------------------------------
# Shared with getip_cgi.py: one definition each of what the viewer and this
# file both need. The viewer imports the names of SHARED_WITH_VIEWER, no others.
# ---------------------------------------------------------------------------

SHARED_WITH_VIEWER = (
    # defined in this section
    "FAMILY_NAMES", "format_span", "query_fields", "read_history", "respond",
    # defined elsewhere in this file, used as they are
    "DIGITS", "ConfigError", "DatabaseUnavailable", "Refused", "basic_auth_password",
    "find_config_path", "load_config", "log", "note_view_refusal", "open_database",
    "passwords_match", "peer_address", "printable", "run_cgi", "VERSION",
)
FAMILY_NAMES = {4: "ipv4", 6: "ipv6"}
STATUS_LINES = dict((int(line[:3]), line) for line in (
    "200 OK", "400 Bad Request", "401 Unauthorized", "403 Forbidden", "404 Not Found",
    "405 Method Not Allowed", "409 Conflict", "411 Length Required", "413 Payload Too Large",
    "415 Unsupported Media Type", "429 Too Many Requests", "500 Internal Server Error",
    "503 Service Unavailable"))


def format_span(seconds):
    """A duration, compact and one word: 42s, 5m07s, 2h34m, 3d04h."""
    seconds = max(0, seconds)
    if seconds < 60:
        return "%ds" % seconds
    if seconds < 3600:
        return "%dm%02ds" % divmod(seconds, 60)
    if seconds < 86400:
        return "%dh%02dm" % (seconds // 3600, seconds % 3600 // 60)
    return "%dd%02dh" % (seconds // 86400, seconds % 86400 // 3600)


def query_fields(query):
    """A QUERY_STRING as {field: value}, as strict as a POST's body; empty
    pieces ("a=1&&b=2&") are harmless, and common."""
    try:
        raw = query.encode("ascii")
    except UnicodeEncodeError:
        raise Refused(400, "the query string must be percent-encoded ASCII")
    return single_fields(parse_form(b"&".join(piece for piece in raw.split(b"&") if piece)))


def respond(start_response, status, body, content_type="text/plain; charset=utf-8",
            headers=(), head_only=False):
    """Every response: no-store (a home address is nothing for a cache), nosniff."""
    data = body.encode("utf-8")
    start_response(STATUS_LINES[status], [
        ("Content-Type", content_type), ("Content-Length", str(len(data))),
        ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")] + list(headers))
    return [] if head_only else [data]


# A name's newest update is its row with the highest id: the original appended
# rows in time order but accepted an older ts with a new address, so the row
# holding MAX(timestamp) may be an older one.
# The names by skip-scan: one seek per name in the (name, id) index, where
# SELECT DISTINCT reads the whole index (40 ms, not 0.04 ms, on 1,000,000 rows).
FIRST_NAME_SQL = "SELECT lower(MIN(name COLLATE NOCASE)) FROM {table}"
NEXT_NAME_SQL = ("SELECT lower(MIN(name COLLATE NOCASE)) FROM {table} "
                 "WHERE name > ? COLLATE NOCASE")
# Without that index (the original's tables, until our first update there) the
# skip-scan would read the table once per name: read it once.
ALL_NAMES_SQL = "SELECT DISTINCT lower(name) FROM {table} WHERE name IS NOT NULL"
PERIODS_SQL = ("SELECT ip, first_seen, timestamp{source} FROM {table} "
               "WHERE name = ? COLLATE NOCASE ORDER BY id DESC LIMIT ?")


def read_history(connection, name=None, depth=1):
    """[(name, {family: [(ip, first_seen, last_seen, source), ...]}), ...]:
    every name (or `name` only) in lower case, sorted, with its `depth` newest
    periods (at least one) per family it was heard in, newest first. source
    is 'dyndns2' for a period a dyndns2 client began, else 'ipupdate'. One
    read transaction (one snapshot), the caller's if it opened one. Raises
    sqlite3.Error."""
    own = not connection.in_transaction
    if own:
        connection.execute("BEGIN")
    try:
        schema = set(row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE tbl_name IN ('log_ipv4', 'log_ipv6')"))
        history = {}
        for family, table in sorted(FAMILY_TABLES.items()):
            if table not in schema:
                continue  # a family's table comes with its first update
            names = [name.lower()] if name is not None else history_names(
                connection, table, table + "_folded_name_id" in schema)
            columns = [row[1] for row in connection.execute("PRAGMA table_info(%s)" % table)]
            sql = PERIODS_SQL.format(table=table, source=", source" if "source" in columns
                                     else "")
            for each in names:
                rows = connection.execute(sql, (each, max(depth, 1))).fetchall()
                if rows:
                    history.setdefault(each, {})[family] = [(
                        "" if row[0] is None else str(row[0]), as_int(row[1]) or as_int(row[2]),
                        as_int(row[2]), "dyndns2" if row[3:] == ("dyndns2",) else "ipupdate")
                        for row in rows]
        return sorted(history.items())
    finally:
        if own and connection.in_transaction:
            connection.execute("ROLLBACK")  # it only read: ending it is all this does


def history_names(connection, table, indexed=True):
    if not indexed:
        return [row[0] for row in connection.execute(ALL_NAMES_SQL.format(table=table))]
    names = []
    ((name,),) = connection.execute(FIRST_NAME_SQL.format(table=table)).fetchall()
    while name is not None:
        names.append(name)
        ((name,),) = connection.execute(NEXT_NAME_SQL.format(table=table), (name,)).fetchall()
    return names


def log(environ, message):
    """One line to the error log (stderr under CGI and `serve`). Never a key."""
    stream = environ.get("wsgi.errors") or sys.stderr
    stream.write("ipupdate: %s\n" % message)
    stream.flush()


# ---------------------------------------------------------------------------
# WSGI: HTTP checks around answer(). The same code runs as CGI, under `serve`,
# and under any WSGI server (mod_wsgi, gunicorn).
# ---------------------------------------------------------------------------

FORM_TYPE = "application/x-www-form-urlencoded"


def read_post(environ):
    """The decoded fields of a form POST; HTTP-level refusals raise Refused."""
    if environ.get("REQUEST_METHOD") != "POST":
        raise Refused(405, "only POST is accepted here")
    if environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower() != FORM_TYPE:
        raise Refused(415, "Content-Type must be %s" % FORM_TYPE)
    length = environ.get("CONTENT_LENGTH", "")
    # ASCII digits (str.isdigit() passes '²'), and few: int() refuses over 4300.
    if not length or not set(length) <= DIGITS:
        raise Refused(411, "a Content-Length header is required")
    if len(length.lstrip("0")) > 9 or int(length) > MAX_BODY_BYTES:
        raise Refused(413, "request body over %d bytes" % MAX_BODY_BYTES)
    body = environ["wsgi.input"].read(int(length)) if int(length) else b""
    environ["ipupdate.body_read"] = True  # `serve` may keep the connection open
    if len(body) != int(length):
        raise Refused(400, "request body shorter than its Content-Length")
    return single_fields(parse_form(body))


def make_application(config=None, clock=time.time):
    """A WSGI application. With `config` it uses that; without, it reads the
    config file for each request (so a CGI or WSGI host picks up edits)."""

    def application(environ, start_response):
        def log_line(line):
            log(environ, line)

        peer, fields = environ.get("REMOTE_ADDR", "?"), {}
        dyndns2 = environ.get("PATH_INFO") == DYNDNS2_PATH
        checkip = environ.get("PATH_INFO") == CHECKIP_PATH
        try:
            # The body first: a CGI program that answers before it has read its
            # input may see its answer cut off (Apache's mod_cgid does).
            fields = {} if dyndns2 or checkip else read_post(environ)
            active = config or load_config(find_config_path(environ))
            if checkip:  # no secret in it: the peer learns its own address
                return respond(start_response, 200, "Current IP Address: " + peer_address(
                    peer, environ.get("HTTP_X_FORWARDED_FOR", ""), active.trusted_proxies),
                    head_only=environ.get("REQUEST_METHOD") == "HEAD")
            if dyndns2:
                if not active.dyndns2:
                    raise Refused(404, "dyndns2 is not enabled on this server (no names in "
                                       "a [dyndns2] section)")
                return dyndns2_module().application(environ, start_response, active,
                                                    int(clock()))
            peer = peer_address(peer, environ.get("HTTP_X_FORWARDED_FOR", ""),
                                active.trusted_proxies)
            now = int(clock())
            try:
                status, body = answer(fields, peer, active, now, lambda *change:
                                      run_change_hook(active, change, log_line))
            except Refused as refusal:
                # Only attempts to change a record count (a scanner's junk must not
                # bury them): not requests refused before answer(), nor type=ip.
                if fields.get("type") != "update" or refusal.status >= 500:
                    raise
                raise note_refusal(active, fields.get("name", ""), peer, refusal, now,
                                   log_line)
            return respond(start_response, status, body)
        except Refused as refusal:
            extra = [("Allow", "POST")] if refusal.status == 405 else []
            if refusal.status == 429:  # not logged: a flood must not fill the log
                extra = [("Retry-After", str(refusal.retry_after_s))]
            elif refusal.status >= 500:
                log_line("error: %s" % refusal.reason)
            elif fields.get("type") == "update":
                log_line("refused update from %s for name '%s': %s%s" % (
                    peer, printable(fields.get("name", "")), refusal.reason,
                    " (%s)" % refusal.detail if refusal.detail else ""))
            return respond(start_response, refusal.status, "Error: %s%s" % (
                refusal.reason, refusal.proof), headers=extra)
        except ConfigError as error:
            log_line("configuration error: %s" % error)
            return respond(start_response, 500, "911" if dyndns2 else  # all dyndns2 knows
                           "Error: server not configured")
        except DatabaseUnavailable as error:
            log_line("database error: %s" % error)
            return respond(start_response, 503, "Error: database unavailable, try again later")

    return application


def dyndns2_module():
    """ipupdate_dyndns2.py from beside this file; a ConfigError if it is missing."""
    sys.modules.setdefault("ipupdate_server", sys.modules[__name__])  # see main()
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.append(here)  # appended: never shadow the standard library
    try:
        import ipupdate_dyndns2
    except ImportError as error:
        if error.name != "ipupdate_dyndns2":
            raise  # there but broken: say so, don't hide it
        raise ConfigError(DYNDNS2_MISSING)
    return ipupdate_dyndns2


application = make_application()


# ---------------------------------------------------------------------------
# Transport adapters: CGI (one request per process) and a local HTTP server.
# ---------------------------------------------------------------------------

def run_cgi(app):
    """The one request of a CGI execution (RFC 3875): a few lines instead of
    wsgiref.handlers.CGIHandler, whose imports cost more than the request."""
    https = os.environ.get("HTTPS", "").lower() in ("on", "1")
    environ = dict(os.environ, **{
        "wsgi.input": sys.stdin.buffer, "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
        "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": True,
        "wsgi.url_scheme": "https" if https else "http"})
    status, headers, body = call_application(app, environ)
    head = "Status: %s\r\n" % status + "".join("%s: %s\r\n" % h for h in headers)
    sys.stdout.buffer.write(head.encode("latin-1") + b"\r\n" + body)
    sys.stdout.buffer.flush()


def call_application(app, environ):
    """(status line, headers, body) of `app` on `environ`; an exception is a
    500 for the peer and a traceback for the error log. `serve`'s OSError, a
    connection gone or too slow, passes on: there is nobody to answer."""
    response = []

    def start_response(status, headers, exc_info=None):
        response[:] = [status, headers]

    try:
        body = b"".join(app(environ, start_response))
    except Exception as error:
        if isinstance(error, OSError) and not environ["wsgi.run_once"]:
            raise
        import traceback  # lazy: only for the error log, never for the peer
        sys.stderr.write("ipupdate: internal error\n" + traceback.format_exc())
        body = respond(start_response, 500, "Error: internal error")[0]
    return response[0], response[1], body


def serve(app, bind, port, announce, timeout_s=REQUEST_TIMEOUT_S):
    """A threaded HTTP/1.1 server for local use, not for the open internet (put a
    reverse proxy in front, docs/DEPLOY.md). Each request must arrive whole
    within timeout_s and be at most MAX_REQUEST_BYTES, or the connection is
    dropped: a timeout per read alone would let a client that sends a byte
    every few seconds (slowloris) hold its thread for ever."""
    import http.server  # lazy: only `serve` needs these
    import io
    import socket
    import socketserver

    class RequestReader(io.RawIOBase):
        """The socket, read against the request's deadline and byte budget."""

        def __init__(self, connection):
            io.RawIOBase.__init__(self)
            self.connection = connection

        def readable(self):
            return True

        def readinto(self, buffer):
            left_s = self.deadline - time.monotonic()
            if left_s <= 0 or self.budget <= 0:
                raise socket.timeout("request not complete within %g s, or over %d bytes"
                                     % (timeout_s, MAX_REQUEST_BYTES))
            self.connection.settimeout(left_s)
            count = self.connection.recv_into(buffer, min(len(buffer), self.budget))
            self.budget -= count
            return count

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version, server_version = "HTTP/1.1", "ipupdate/" + VERSION
        # http.server's own refusals (a bad request line, too many headers):
        # one line of plain text like ours, not an HTML page.
        error_content_type = "text/plain; charset=utf-8"
        error_message_format = "Error: %(message)s"

        def setup(self):
            http.server.BaseHTTPRequestHandler.setup(self)
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.rfile.close()  # the plain reader setup() made; this one has limits
            self.reader = RequestReader(self.connection)
            self.rfile = io.BufferedReader(self.reader)

        def handle_one_request(self):  # the limits count per request
            self.reader.deadline = time.monotonic() + timeout_s
            self.reader.budget = MAX_REQUEST_BYTES
            http.server.BaseHTTPRequestHandler.handle_one_request(self)

        def run_application(self):
            path, _, query = self.path.partition("?")
            length = (self.headers.get("Content-Length") or "").strip()
            environ = {
                "REQUEST_METHOD": self.command, "PATH_INFO": path, "QUERY_STRING": query,
                "SCRIPT_NAME": "", "SERVER_PROTOCOL": self.request_version,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": length,
                "REMOTE_ADDR": self.client_address[0], "SERVER_NAME": bind,
                "SERVER_PORT": str(self.server.server_address[1]), "wsgi.input": self.rfile,
                "wsgi.errors": sys.stderr, "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
                "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False}
            for header, value in self.headers.items():
                key = "HTTP_" + header.upper().replace("-", "_")
                # Never X_Forwarded_For as HTTP_X_FORWARDED_FOR, joined to the real
                # one or passing for it (Apache's CGI and gunicorn drop these too).
                if "_" not in header and key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                    environ[key] = environ[key] + "," + value if key in environ else value
            # Two lengths: which one a proxy in front of us went by is anyone's
            # guess (request smuggling). Refuse, and close the connection.
            two_lengths = len(self.headers.get_all("Content-Length") or ()) > 1
            status, headers, body = call_application(
                (lambda environ, start_response: respond(
                    start_response, 400, "Error: more than one Content-Length"))
                if two_lengths else app, environ)
            # A body left unread leaves the connection unusable: close it.
            if two_lengths or self.headers.get("Transfer-Encoding") or (
                    length not in ("", "0") and not environ.get("ipupdate.body_read")):
                self.close_connection = True
                headers = headers + [("Connection", "close")]
            head = "HTTP/1.1 %s\r\n" % status + "".join("%s: %s\r\n" % h for h in headers)
            self.connection.settimeout(timeout_s)
            self.connection.sendall(head.encode("latin-1") + b"\r\n" +
                                    (b"" if self.command == "HEAD" else body))

        do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = \
            run_application

        def log_request(self, code="-", size="-"):
            pass  # refusals and errors are logged by the application; success is quiet

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        address_family = socket.AF_INET6 if ":" in bind else socket.AF_INET
        request_queue_size = socket.SOMAXCONN  # not 5: a burst must not drop SYNs

        def server_bind(self):
            if self.address_family == socket.AF_INET6:  # `--bind ::` answers IPv4 too
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            http.server.HTTPServer.server_bind(self)

        def handle_error(self, request, client_address):
            if isinstance(sys.exc_info()[1], OSError):  # gone, or too slow: one line
                sys.stderr.write("ipupdate: connection from %s: %s\n"
                                 % (client_address[0], sys.exc_info()[1]))
            else:
                http.server.HTTPServer.handle_error(self, request, client_address)

    server = Server((bind, port), Handler)
    announce("ipupdate: serving on http://%s:%d/" % (
        "[%s]" % bind if ":" in bind else bind, server.server_address[1]))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def serve_application():
    """POSTs, and the GETs of dyndns2 and checkip, to the updates; other GETs to
    the viewer, getip_cgi.py beside this file. Both read the config file for
    each request, as under CGI: an edit takes effect without a restart."""
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.append(here)  # `python3 -I` leaves the script's directory out
    try:
        import getip_cgi  # lazy: only `serve` shows the viewer
        viewer = getip_cgi.make_application()
    except ImportError as error:
        if error.name != "getip_cgi":
            raise  # the viewer is there but broken: say so, don't hide it

        def viewer(environ, start_response):
            return respond(start_response, 404, "Error: the viewer getip_cgi.py is not "
                                                "installed beside ipupdate_server.py")

    def route(environ, start_response):
        if environ["REQUEST_METHOD"] in ("GET", "HEAD") and \
                environ.get("PATH_INFO") not in (DYNDNS2_PATH, CHECKIP_PATH):
            return viewer(environ, start_response)
        return application(environ, start_response)

    return route


# ---------------------------------------------------------------------------
# `check`: which names went quiet. For cron and monitoring.
# ---------------------------------------------------------------------------

CHECK_OK, CHECK_WARNING, CHECK_UNKNOWN = 0, 1, 3   # the monitoring-plugins exit codes


def check_names(config, history, now):
    """The names to watch, sorted, each as a dict (the --json form): every name in
    the database that a key can still sign (one whose key was removed is
    retired, not silent), and every name the config lists ('never_heard' until
    its first update). A family is stale when silent for longer than
    stale_after; the name 'stale' when all its families are, 'family_stale'
    when one went quiet while another reports (IPv6 gone, say)."""
    heard = dict(history)
    report = []
    for name in sorted(set(name for name in heard if config.key_for(name) is not None)
                       | config.listed_names()):
        families = dict((FAMILY_NAMES[family], {
            "address": periods[0][0], "last_heard": periods[0][2],
            "silent_s": max(0, now - periods[0][2]),
            "state": "stale" if now - periods[0][2] > config.stale_after_s else "ok"})
            for family, periods in sorted(heard.get(name, {}).items()))
        newest = max(sorted(families), key=lambda each: families[each]["last_heard"],
                     default=None)  # a tie is IPv4's
        entry = dict(families.get(newest, {"address": None, "last_heard": None,
                                           "silent_s": None}), name=name, family=newest,
                     families=families)
        stale = [family for family in sorted(families) if families[family]["state"] != "ok"]
        entry["state"] = ("never_heard" if not families else "ok" if not stale else
                          "stale" if len(stale) == len(families) else "family_stale")
        report.append(entry)
    return report


def run_check(config_path, as_json, verbose, now):
    """Print the stale and never-heard names (all with `verbose`); the exit code."""
    import sqlite3  # lazy, see open_database()
    try:
        config = load_config(config_path)
        connection = open_database(config.database, readonly=True)
        try:
            report = check_names(config, read_history(connection) if connection else [], now)
        except sqlite3.Error as error:
            raise DatabaseUnavailable("database %s: %s" % (config.database, error))
        finally:
            if connection:
                connection.close()
        code = CHECK_WARNING if any(e["state"] != "ok" for e in report) else CHECK_OK
        result = {"status": ("OK", "WARNING")[code], "exit_code": code, "now": now,
                  "stale_after_s": config.stale_after_s, "names": report}
    except (ConfigError, DatabaseUnavailable) as error:
        result = {"status": "UNKNOWN", "exit_code": CHECK_UNKNOWN, "error": str(error)}
    if as_json:
        import json  # lazy: only --json writes JSON
        print(json.dumps(result, indent=2, sort_keys=True))
    elif "error" in result:
        print("UNKNOWN: %s" % result["error"])
    else:  # the problems first: a monitoring system shows the first line
        for entry in sorted(report, key=lambda e: (e["state"] == "ok", e["name"])):
            name = printable(entry["name"], MAX_NAME_CHARS) or "(unnamed)"
            quiet = [(family, each) for family, each in sorted(entry["families"].items())
                     if each["state"] != "ok"]
            if entry["state"] == "never_heard":
                print("NEVER HEARD %s: listed in the config, no update stored yet" % name)
            elif entry["state"] == "family_stale":
                print("STALE FAMILY %s: %s; %s still reports" % (name, "; ".join(
                    "%s last heard %s UTC, %s ago, from %s" % (
                        family, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(
                            each["last_heard"])), format_span(each["silent_s"]),
                        printable(each["address"])) for family, each in quiet),
                    entry["family"]))
            elif verbose or entry["state"] != "ok":
                print("%s %s: last heard %s UTC, %s ago, from %s" % (
                    entry["state"].upper(), name, time.strftime(
                        "%Y-%m-%d %H:%M:%S", time.gmtime(entry["last_heard"])),
                    format_span(entry["silent_s"]), printable(entry["address"])))
    return result["exit_code"]


def run_forget(config_path, name, confirmed):
    """Remove a name's history (a test, a typo) from both families, with its
    rows in the refused-attempt log; without `confirmed`, only say what would
    go. The exit code: 0 done (or nothing stored), 1 not confirmed, 2 error."""
    import sqlite3  # lazy, see open_database()
    try:
        config = load_config(config_path)
        check_name(name)
        if not os.path.exists(config.database):
            print("%s: nothing stored, nothing to forget" % name)
            return 0
        connection = open_database(config.database)
        try:
            with transaction(connection):
                counts = [connection.execute("SELECT COUNT(*) FROM %s WHERE name = ? COLLATE "
                                             "NOCASE" % table, (name,)).fetchone()[0]
                          for _, table in sorted(FAMILY_TABLES.items())]
                if confirmed:
                    for table in list(FAMILY_TABLES.values()) + ["refused"]:
                        connection.execute("DELETE FROM %s WHERE name = ? COLLATE NOCASE"
                                           % table, (name,))
        finally:
            connection.close()
    except (ConfigError, DatabaseUnavailable, Refused, sqlite3.Error) as error:
        sys.stderr.write("ipupdate_server.py: forget: %s\n" % error)
        return 2
    periods = "%d periods (ipv4 %d, ipv6 %d)" % (sum(counts), counts[0], counts[1])
    if not sum(counts):
        print("%s: nothing stored, nothing to forget" % name)
    elif not confirmed:
        print("%s: %s would be removed; nothing was: add --yes to remove them" % (name, periods))
        return 1
    else:  # a name a key still signs comes back with its next update
        print("%s: %s removed%s" % (name, periods, "; a key still signs it: its next update "
                                    "starts a new history" if config.key_for(name) else ""))
    return 0


# ---------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------

USAGE_EXAMPLES = """\
As a CGI program: copy this file to the cgi-bin, make it executable, and put
the config in ../ipupdate.conf (outside the document root) or name it in
$IPUPDATE_CONFIG. A minimal config:

  [ipupdate]
  secret = <output of: python3 ipupdate_server.py genkey>
  database = ipupdate.sqlite      ; relative to the config file

Routers (dyndns2, with ipupdate_dyndns2.py beside this file): a password per
name, its own; their URL is https://example.org/cgi-bin/ipupdate_server.py/nic/update

  [dyndns2]
  home.example.org = <another output of genkey>

Exit codes: 0 ok, 2 usage or configuration error; `check` has its own.
"""
CHECK_HELP = """\
Prints one line per name that went quiet, nothing when all is well (cron mails
output only). Watched: every name listed in [names], [dyndns2] or with a [name:NAME]
section (NEVER HEARD until its first update), and every name in the database
that a key can still sign (to retire a name: `forget NAME --yes`). A
name is STALE when its newest update, in either family, is older than
stale_after (default 3h); STALE FAMILY when one family went quiet so long
while the other reports (forget the name to clear a family gone for good).
Times in UTC.

  STALE home: last heard 2024-05-01 09:12:40 UTC, 3h05m ago, from 198.51.100.4
  STALE FAMILY cabin: ipv6 last heard 2024-05-01 09:12:40 UTC, 3h05m ago, from
  2001:db8::7; ipv4 still reports
  NEVER HEARD office: listed in the config, no update stored yet

Exit codes (the Nagios / monitoring-plugins convention):
  0  OK        every watched name reported within stale_after
  1  WARNING   a name is STALE, STALE FAMILY or NEVER HEARD
  2  CRITICAL  not used: a quiet client's last address may still be right
  3  UNKNOWN   the config or the database cannot be read (printed as
               "UNKNOWN: reason"), or a wrong command line

Crontab line on the server, as the web server's user:
  17 * * * *  /srv/ipupdate/cgi-bin/ipupdate_server.py check
"""


def command_line_parser():
    import argparse  # lazy: a CGI request never parses a command line
    parser = argparse.ArgumentParser(
        prog="ipupdate_server.py", description=__doc__.split("\n")[0], epilog=USAGE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version="%(prog)s " + VERSION)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    config_help = "config file (default: $%s, else %s)" % (CONFIG_ENV, find_config_path({}))
    serving = commands.add_parser("serve", help="a local HTTP server (POST: updates; GET: "
                                                "the viewer)")
    serving.add_argument("--config", help=config_help)
    serving.add_argument("--bind", default="127.0.0.1", help="address to listen on (default "
                                                            "127.0.0.1; :: for IPv6 and IPv4)")
    serving.add_argument("--port", type=int, default=8080, help="TCP port (default 8080; 0 "
                                                               "picks a free one)")
    serving.add_argument("--timeout", type=float, default=REQUEST_TIMEOUT_S, metavar="SECONDS",
                         help="a whole request must arrive within this, or the connection "
                              "is dropped (default %d)" % REQUEST_TIMEOUT_S)
    commands.add_parser("genkey", help="print a new random 256-bit key for the config")
    checking = commands.add_parser(
        "check", help="list names that stopped reporting (for cron and monitoring)",
        description="List the names that stopped reporting.", epilog=CHECK_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    checking.add_argument("--config", help=config_help)
    checking.add_argument("--json", action="store_true", help="every watched name, as JSON")
    checking.add_argument("-v", "--verbose", action="store_true",
                          help="a line for names that are fine too")
    forgetting = commands.add_parser(
        "forget", help="remove a name's history (a test, a typo) from the viewer and check")
    forgetting.add_argument("name", metavar="NAME")
    forgetting.add_argument("--config", help=config_help)
    forgetting.add_argument("--yes", action="store_true", help="really remove it (without: "
                                                              "say what would go)")
    return parser


def main(argv):
    # One module object for this file: the viewer and ipupdate_dyndns2.py import
    # it by name, and would otherwise load a second copy of __main__.
    sys.modules.setdefault("ipupdate_server", sys.modules[__name__])
    if "GATEWAY_INTERFACE" in os.environ:
        # Under CGI, argv may hold words of the query string (RFC 3875 4.4): ignore it.
        run_cgi(application)
        return 0
    parser = command_line_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:
        if argv[:1] == ["check"] and exit.code == 2:
            return CHECK_UNKNOWN  # argparse's 2 would read as CRITICAL to a monitor
        raise
    if args.command == "genkey":
        import secrets  # lazy: only genkey draws random numbers
        print(secrets.token_hex(32))
        return 0
    if args.command == "check":
        return run_check(args.config or find_config_path(), args.json, args.verbose,
                         int(time.time()))
    if args.command == "forget":
        return run_forget(args.config or find_config_path(), args.name, args.yes)
    if args.command != "serve":
        parser.print_help()
        return 2
    try:
        if not args.timeout > 0:  # also NaN
            raise ConfigError("--timeout must be a positive number of seconds")
        config_path = os.path.abspath(args.config or find_config_path())
        load_config(config_path)  # its mistakes now, not at the first request
        os.environ[CONFIG_ENV] = config_path  # for each request's find_config_path()
        serve(serve_application(), args.bind, args.port,
              lambda line: print(line, flush=True), args.timeout)
    except ConfigError as error:
        sys.stderr.write("ipupdate_server.py: %s\n" % error)
        return 2
    except OSError as error:  # a busy port, an address not ours: one line
        sys.stderr.write("ipupdate_server.py: cannot listen on %s port %d: %s\n"
                         % (args.bind, args.port, error.strerror or error))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
