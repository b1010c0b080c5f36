"""The hostile-input fuzzer: seeded, so every run can be repeated exactly.

Each case is one request, made by one of a few strategies: a valid message
(the control), a valid message with one to three mutations (of a field's
value, its encoding, the field list, the separators, the MAC), a soup of
random fields, random bytes, or HTTP-level mischief (method, Content-Type,
Content-Length, headers, request line). It goes to a CGI execution or to
`serve`, and an oracle written apart from the server (tests/support.py's
MAC, urllib's percent-decoding, the protocol's rules as docs/PROTOCOL.md
states them) says what must come back:

- never a 5xx (but 501 and 505, which RFC 9110 prescribes for an unknown
  method or HTTP version, from http.server itself), nor a traceback in a
  reply or a log, nor a key or MAC-like string in a log;
- 200 exactly when the oracle accepts: a type=ip reply that verifies, or an
  update that is authentic, fresh, newer, from the address it names;
- afterwards, the history tables equal a replay of the accepted updates
  (nothing else changed them), and the refused-attempt log holds no MAC.

A failure prints the seed and the case, so `python3 -m stress fuzz --seed S`
repeats it.
"""

import collections
import ipaddress
import os
import random
import re
import socket
import sqlite3
import threading
import time
import urllib.parse

from tests import battery
from tests.battery import FORM, OK_LINES, key_for
from tests import support
from tests.support import HOME_KEY, KEY, sign

WINDOW_S = 300
EDGE_S = 5                 # times this close to the window's edge are not judged
MAX_BODY_BYTES = 4096
TRUSTED_PROXIES = ipaddress.ip_network("10.0.0.0/8")   # the fuzz config's
PRESCRIBED_5XX = (501, 505)
NAME_RE = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9._-]{0,62})?")
TS_RE = re.compile(r"[0-9]{1,12}")
NONCE_RE = re.compile(r"[0-9A-Fa-f]{16,64}")
MAC_RE = re.compile(r"[0-9a-f]{64}")
BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")

JUNK = [
    "", " ", "+", "%00", "%", "%G1", "%e9", "%C3%A9", "%F0%9F%92%A9", "%ED%A0%80",
    "%C0%AF", "%FF%FE", "%0D%0A", "%0A", "-1", "1e3", "0x10", "%D9%A3", "%C2%B2", "+123",
    " 123", "123 ", "0001700000000", "99999999999999999999", "nan", "::", "::1",
    "::ffff:127.0.0.1", "127.0.0.01", "0177.0.0.1", "127.1", "2001:DB8::1",
    "fe80::1%25eth0", "[::1]", "%3Cscript%3E", "'%3B+DROP+TABLE+log_ipv4%3B--",
    "%EF%BD%88%EF%BD%8F%EF%BD%8D%EF%BD%85", "home%00", "HOME", "home+", ".home", "a" * 63,
    "a" * 64, "x" * 1000, "%25", "%2525", "%26", "%3D", "..%2F..%2Fetc%2Fpasswd", "ip",
    "update", "0", "1" * 12, "1" * 13,
]
FIELD_NAMES = ["type", "ip", "name", "ts", "h", "nonce", "now", "Type", "TYPE", "type ",
               "ty%70e", "t%00ype", "", "x", "h%20", "%68", "ip[]", "name.", "key", "secret"]
METHODS = ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "post", "POSTX", "TRACE"]
CONTENT_TYPES = [None, "", "text/plain", FORM + "; charset=utf-8", FORM.upper(),
                 " " + FORM + " ", FORM + ";", "multipart/form-data; boundary=x",
                 "application/x-www-form-urlencoded2", "application/json"]
CONTENT_LENGTHS = ["", "-1", "+5", " 5", "5 ", "0x10", "1e3", "\u00b2", "\u0663",
                   "99999999999999999999", "4097", "0"]
FORWARDED = ["", "junk", "1.2.3.4", "1.2.3.4, 5.6.7.8", "::1", "::ffff:1.2.3.4",
             "1.2.3.4%eth0", "256.1.1.1", ",,,", "fe80::1%eth0", "2001:db8::1, junk",
             "1.2.3.4 , 10.1.1.1"]


class Case(object):
    """One request, and what the fuzzer knows about how it was made."""

    def __init__(self, index, strategy, body=b"", peer="127.0.0.1", method="POST",
                 content_type=FORM, content_length=None, headers=(), request_path="/",
                 http_version="HTTP/1.1", argv=(), mutations=()):
        self.index, self.strategy, self.body, self.peer = index, strategy, body, peer
        self.method, self.content_type = method, content_type
        self.content_length = content_length  # None: the body's length; False: absent
        self.headers, self.request_path, self.http_version = list(headers), request_path, \
            http_version
        self.argv, self.mutations = list(argv), list(mutations)
        self.chaos = False        # HTTP-level mischief: only "no 5xx, no forgery" judged

    def length_text(self):
        if self.content_length is None:
            return str(len(self.body))
        return self.content_length

    def describe(self):
        return ("case %d (%s%s): %s from %s, Content-Type %r, Content-Length %r, headers %r, "
                "path %r %s, argv %r, body %r" % (
                    self.index, self.strategy,
                    ": " + ", ".join(self.mutations) if self.mutations else "",
                    self.method, self.peer, self.content_type, self.length_text(),
                    self.headers, self.request_path, self.http_version, self.argv,
                    self.body[:300]))


# ---------------------------------------------------------------------------
# Generation.
# ---------------------------------------------------------------------------

class Fuzzer(object):
    """Cases for one transport ("cgi" or "serve"), reproducible from the seed."""

    def __init__(self, seed, transport):
        self.seed, self.transport = seed, transport
        self.rng = random.Random("%s/%s" % (seed, transport))

    def peer(self):
        rng = self.rng
        if self.transport == "serve":
            return "127.%d.%d.%d" % (rng.randint(16, 250), rng.randint(0, 255),
                                     rng.randint(1, 254))
        if rng.random() < 0.3:
            return "2001:db8:%x:%x::%x" % (rng.getrandbits(16), rng.getrandbits(16),
                                           rng.getrandbits(16) or 1)
        return "100.%d.%d.%d" % (rng.randint(64, 127), rng.randint(0, 255),
                                 rng.randint(1, 254))

    def case(self, index):
        rng = self.rng
        strategy = rng.choice(["valid"] * 2 + ["update-mutant"] * 9 + ["ip-mutant"] * 3 +
                              ["soup"] * 2 + ["bytes"] + ["http"] * 3)
        peer = self.peer()
        case = Case(index, strategy, peer=peer)
        name = "fz%s%d" % (self.transport[0], index)
        if strategy in ("valid", "update-mutant"):
            pairs = self.update_pairs(name, peer)
            if strategy == "update-mutant":
                for _ in range(rng.choice((1, 1, 2, 3))):
                    pairs = self.mutate(pairs, case, name, peer)
        elif strategy == "ip-mutant":
            pairs = self.ip_pairs(peer)
            for _ in range(rng.choice((0, 1, 2))):
                pairs = self.mutate(pairs, case, name, peer)
        elif strategy == "soup":
            pairs = [[rng.choice(FIELD_NAMES), rng.choice(JUNK)]
                     for _ in range(rng.randint(0, 8))]
        else:
            pairs = None
        if strategy == "bytes":
            case.body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
        elif strategy == "http":
            # Forged, so that whatever the mischief, a 200 to it is a forgery.
            case.body = "&".join("%s=%s" % tuple(pair) for pair in self.update_pairs(
                name, peer, forged=True)).encode() if rng.random() < 0.7 else \
                ("type=ip&ts=%d&nonce=%s" % (support.now(), "cd" * 8)).encode()
            self.http_mischief(case)
        elif isinstance(pairs, bytes):
            case.body = pairs
        else:
            case.body = "&".join("%s=%s" % tuple(pair) for pair in pairs).encode()
        return case

    def update_pairs(self, name, peer, forged=False):
        ts = str(support.now() - self.rng.randint(EDGE_S, 200))
        message = "type=update&ip=%s&name=%s&ts=%s" % (peer, name, ts)
        mac = ("%064x" % self.rng.getrandbits(256)) if forged else sign(key_for(name), message)
        return [["type", "update"], ["ip", peer], ["name", name], ["ts", ts], ["h", mac]]

    def ip_pairs(self, peer):
        rng = self.rng
        pairs = [["type", "ip"], ["ts", str(support.now() + rng.choice(
            (0, -100, 100, -1000, 1000, 10 ** 11)))]]
        if rng.random() < 0.7:
            pairs.append(["nonce", "%032x" % rng.getrandbits(128)])
        if rng.random() < 0.3:
            pairs.append(["name", rng.choice(["home", "fz", "-x", ""])])
        return pairs

    def resign(self, pairs, name):
        """Sign again with the key of the (possibly changed) name, so the
        message is authentic and only its other faults count."""
        fields = dict((k, v) for k, v in pairs)
        if all(k in fields for k in ("ip", "name", "ts", "h")):
            message = "type=update&ip=%s&name=%s&ts=%s" % (
                fields["ip"], fields["name"], fields["ts"])
            for pair in pairs:
                if pair[0] == "h":
                    pair[1] = sign(key_for(fields["name"]), message)
        return pairs

    def mutate(self, pairs, case, name, peer):
        """One mutation: of the field list or of the encoded text."""
        rng = self.rng
        if isinstance(pairs, bytes):
            return pairs
        pairs = [list(pair) for pair in pairs]
        kind = rng.choice(["reorder", "encode-char", "unknown-field", "flip-char",
                           "drop-field", "duplicate-field", "junk-value", "long-value",
                           "cross-name", "cross-key", "shift-ts", "other-address",
                           "noncanonical-ip",
                           "mac-form", "raw-byte", "separator", "plus", "nul", "utf8",
                           "type", "field-name"])
        case.mutations.append(kind)
        pick = rng.randrange(len(pairs)) if pairs else None
        if kind == "reorder":
            rng.shuffle(pairs)
        elif kind == "encode-char" and pairs:
            side = rng.randrange(2)
            text = pairs[pick][side]
            if text:
                at = rng.randrange(len(text))
                if text[at] != "%":
                    escape = "%%%02x" % ord(text[at]) if ord(text[at]) < 128 else text[at]
                    escape = escape.upper() if rng.random() < 0.5 else escape
                    pairs[pick][side] = text[:at] + escape + text[at + 1:]
        elif kind == "unknown-field":
            pairs.insert(rng.randint(0, len(pairs)),
                         ["x" + "".join(rng.choice("abcdef") for _ in range(3)),
                          rng.choice(JUNK[:20])])
        elif kind == "flip-char" and pairs:
            text = pairs[pick][1]
            at = rng.randrange(len(text)) if text else 0
            pairs[pick][1] = text[:at] + rng.choice("0123456789abcdefxyzXYZ.:-_%") + \
                text[at + 1:]
        elif kind == "drop-field" and pairs:
            del pairs[pick]
        elif kind == "duplicate-field" and pairs:
            copy = list(pairs[pick])
            if rng.random() < 0.5:
                copy[1] = rng.choice(JUNK)
            pairs.insert(rng.randint(0, len(pairs)), copy)
        elif kind == "junk-value" and pairs:
            pairs[pick][1] = rng.choice(JUNK)
        elif kind == "long-value" and pairs:
            pairs[pick][1] = "a" * rng.choice((65, 200, 1000, 4000, 5000))
        elif kind == "cross-name":
            for pair in pairs:
                if pair[0] == "name":
                    pair[1] = rng.choice(["home", "", "other", name + "x"])
        elif kind == "cross-key":
            fields = dict((k, v) for k, v in pairs)
            if all(k in fields for k in ("ip", "name", "ts", "h")):
                wrong = HOME_KEY if key_for(fields["name"]) == KEY else KEY
                for pair in pairs:
                    if pair[0] == "h":
                        pair[1] = sign(wrong, "type=update&ip=%s&name=%s&ts=%s" % (
                            fields["ip"], fields["name"], fields["ts"]))
        elif kind == "shift-ts":
            for pair in pairs:
                if pair[0] == "ts" and TS_RE.fullmatch(pair[1]):
                    pair[1] = str(max(0, int(pair[1]) + rng.choice(
                        (-2000, -400, -1, 1, 400, 2000, 10 ** 11))))
            if rng.random() < 0.7:
                self.resign(pairs, name)
        elif kind == "other-address":
            for pair in pairs:
                if pair[0] == "ip":
                    pair[1] = rng.choice(["192.0.2.1", "127.0.0.1", "2001:db8::1", "10.0.0.1"])
            self.resign(pairs, name)  # signed by the right key, sent from elsewhere
        elif kind == "noncanonical-ip":
            for pair in pairs:
                if pair[0] == "ip":
                    pair[1] = noncanonical(peer, rng)
            self.resign(pairs, name)
        elif kind == "mac-form":
            for pair in pairs:
                if pair[0] == "h":
                    pair[1] = rng.choice([pair[1].upper(), pair[1][:-1], pair[1] + "0",
                                          pair[1][:32], "", "g" * 64, pair[1][::-1]])
        elif kind == "raw-byte":
            text = "&".join("%s=%s" % tuple(pair) for pair in pairs).encode()
            at = rng.randint(0, len(text))
            return text[:at] + bytes([rng.getrandbits(8)]) + text[at:]
        elif kind == "separator":
            text = "&".join("%s=%s" % tuple(pair) for pair in pairs)
            choice = rng.randrange(5)
            if choice == 0:
                text = text.replace("&", ";", 1)
            elif choice == 1:
                text = text.replace("&", "&&", 1)
            elif choice == 2:
                text += "&"
            elif choice == 3:
                text = "&" + text
            else:
                text = text.replace("=", "%3D", 1)
            return text.encode()
        elif kind == "plus" and pairs:
            pairs[pick][1] += "+"
        elif kind == "nul" and pairs:
            pairs[pick][1] += "%00"
        elif kind == "utf8" and pairs:
            pairs[pick][1] += rng.choice(["%C3%A9", "%C3", "%FF", "%ED%A0%80", "%C0%AF",
                                          "%E2%80%AE", "\u00e9"])
        elif kind == "type":
            for pair in pairs:
                if pair[0] == "type":
                    pair[1] = rng.choice(["IP", "update ", "", "ip", "Update", "upd%61te"])
        elif kind == "field-name" and pairs:
            pairs[pick][0] = rng.choice(FIELD_NAMES)
        return pairs

    def http_mischief(self, case):
        rng = self.rng
        case.chaos = True
        for _ in range(rng.choice((1, 1, 2))):
            kind = rng.choice(["method", "content-type", "content-length", "forwarded",
                               "short-body", "long-body", "headers", "request-line", "argv"])
            case.mutations.append(kind)
            if kind == "method":
                case.method = rng.choice(METHODS)
            elif kind == "content-type":
                case.content_type = rng.choice(CONTENT_TYPES)
            elif kind == "content-length":
                case.content_length = rng.choice(CONTENT_LENGTHS + [False])
                if self.transport == "serve" and rng.random() < 0.1:
                    case.content_length = "9" * 5000
            elif kind == "forwarded":
                if self.transport == "cgi" and rng.random() < 0.6:
                    case.peer = "10.%d.%d.%d" % (rng.randint(0, 255), rng.randint(0, 255),
                                                 rng.randint(1, 254))
                case.headers.append(("X-Forwarded-For", rng.choice(FORWARDED)))
            elif kind == "short-body":
                case.content_length = str(len(case.body) + rng.randint(1, 50))
            elif kind == "long-body":
                case.content_length = str(max(0, len(case.body) - rng.randint(1, 20)))
            elif kind == "headers":
                extra = rng.choice([
                    [("Transfer-Encoding", "chunked")], [("Expect", "100-continue")],
                    [("Content-Length", "3")], [("X-Big", "b" * 70000)],
                    [("X-H%d" % i, "v") for i in range(101)], [("Host", "")],
                    [("X-Nul", "a\0b")], [("X-Latin", "\u00e9\u00ff")],
                    [("Proxy", "http://127.0.0.1:9/")], [("Authorization", "Basic Og==")]])
                case.headers.extend(extra)
            elif kind == "request-line":
                if self.transport == "serve":
                    choice = rng.randrange(6)
                    if choice == 0:
                        case.request_path = "/" + "p" * 70000
                    elif choice == 1:
                        case.http_version = rng.choice(["HTTP/1.0", "HTTP/2.0", "HTTP/1.1 x",
                                                        "HTTX/1.1", "HTTP/1.10", ""])
                    elif choice == 2:
                        case.request_path = rng.choice(["*", "http://example.org/", "/?%",
                                                        "/%00", "/../../etc/passwd", "//"])
                    elif choice == 3:
                        case.request_path = "/cgi-bin/x?" + rng.choice(JUNK)
                    elif choice == 4:
                        case.method = "POST\x00"
                    else:
                        case.request_path = "/ /"
            elif kind == "argv":
                if self.transport == "cgi":
                    case.argv = rng.choice([["serve"], ["--help"], ["genkey"], ["check"],
                                            ["serve", "--port", "1"]])


def noncanonical(address, rng):
    parsed = ipaddress.ip_address(address)
    if parsed.version == 4:
        octets = address.split(".")
        return rng.choice(["0" + address, ".".join("0" + o for o in octets),
                           "::ffff:" + address, address + " ", address + ".",
                           "%s.%s.%d" % (octets[0], octets[1],
                                         int(octets[2]) * 256 + int(octets[3]))])
    return rng.choice([address.upper(), parsed.exploded, address + "%25eth0",
                       "[" + address + "]", address.replace("::", ":0:", 1)])


# ---------------------------------------------------------------------------
# The oracle: what the protocol says the answer must be.
# ---------------------------------------------------------------------------

ACCEPT_IP, ACCEPT_UPDATE, REFUSE, UNJUDGED = "accept-ip", "accept-update", "refuse", "unjudged"


def decode(raw):
    """A form field as the protocol defines it: '+' is a space, %XX a byte,
    UTF-8 strictly; None when malformed. (urllib, not the server's code.)"""
    raw = raw.replace(b"+", b" ")
    if BAD_ESCAPE.search(raw):
        return None
    try:
        return urllib.parse.unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return None


def form(body):
    """{field: value}, or None when the body is not a form each field of which
    appears once."""
    fields = {}
    if not body:
        return fields
    for piece in body.split(b"&"):
        if b"=" not in piece:
            return None
        field, value = piece.split(b"=", 1)
        field, value = decode(field), decode(value)
        if field is None or value is None or field in fields:
            return None
        fields[field] = value
    return fields


def peer_of(case):
    """The peer address the protocol says the server must see, or None when
    X-Forwarded-For from a trusted proxy is malformed (a refusal)."""
    peer = ipaddress.ip_address(case.peer)
    forwarded = [value for name, value in case.headers if name.lower() == "x-forwarded-for"]
    hops = [hop for hop in ",".join(forwarded).split(",") if hop.strip()]
    while hops and peer in TRUSTED_PROXIES:
        try:
            peer = ipaddress.ip_address(hops.pop().strip().split("%", 1)[0])
        except ValueError:
            return None
        if peer.version == 6 and peer.ipv4_mapped:
            peer = peer.ipv4_mapped
    return peer


def judge(case, now, last_ts):
    """What must come back: (ACCEPT_IP | ACCEPT_UPDATE | REFUSE | UNJUDGED, detail).

    UNJUDGED: a time within EDGE_S of the window's edge, which the server's
    clock decides; for an update, detail is then the message, authentic but
    for its time."""
    if case.method != "POST":
        return REFUSE, None
    content_type = (case.content_type or "").split(";", 1)[0].strip().lower()
    if content_type != FORM:
        return REFUSE, None
    length = case.length_text()
    if length is False or not re.fullmatch(r"[0-9]+", length):
        return REFUSE, None
    if len(length.lstrip("0")) > 9 or int(length) > MAX_BODY_BYTES:
        return REFUSE, None
    if len(case.body) < int(length):
        return REFUSE, None
    fields = form(case.body[:int(length)])
    if fields is None:
        return REFUSE, None
    peer = peer_of(case)
    if peer is None:
        return REFUSE, None
    kind = fields.get("type")
    if kind == "ip":
        ts, nonce, name = fields.get("ts"), fields.get("nonce"), fields.get("name", "")
        if ts is None or not TS_RE.fullmatch(ts) or not NAME_RE.fullmatch(name):
            return REFUSE, None
        if nonce is not None and not NONCE_RE.fullmatch(nonce):
            return REFUSE, None
        if nonce is None:
            off = abs(int(ts) - now)
            if abs(off - WINDOW_S) <= EDGE_S:
                return UNJUDGED, None
            if off > WINDOW_S:
                return REFUSE, None
        return ACCEPT_IP, (str(peer), ts, nonce, key_for(name))
    if kind != "update":
        return REFUSE, None
    address, name, ts, mac = (fields.get(k) for k in ("ip", "name", "ts", "h"))
    if None in (address, name, ts, mac) or not NAME_RE.fullmatch(name) or \
            not TS_RE.fullmatch(ts) or not MAC_RE.fullmatch(mac):
        return REFUSE, None
    if "nonce" in fields and not NONCE_RE.fullmatch(fields["nonce"]):
        return REFUSE, None  # a nonce asks for a signed outcome: it must be one
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return REFUSE, None
    if str(parsed) != address:
        return REFUSE, None
    if sign(key_for(name), "type=update&ip=%s&name=%s&ts=%s" % (address, name, ts)) != mac:
        return REFUSE, None
    name = name.lower()  # signed as sent; one name in any letter case from here on
    if parsed != peer or int(ts) <= last_ts.get((parsed.version, name), -1):
        return REFUSE, None
    item = battery.message(name, address, int(ts))
    off = abs(int(ts) - now)
    if abs(off - WINDOW_S) <= EDGE_S:
        return UNJUDGED, item  # authentic; whether in time is the server clock's call
    if off > WINDOW_S:
        return REFUSE, None
    return ACCEPT_UPDATE, item


def check_ip_reply(text, detail, now):
    """A type=ip reply must be exactly the signed line the protocol gives."""
    peer, ts, nonce, key = detail
    message = "ip=%s&ts=%s" % (peer, ts)
    if nonce is not None:
        match = re.match(r"^ip=[^&]*&ts=[^&]*&nonce=[^&]*&now=(\d+)&h=", text)
        if not match or abs(int(match.group(1)) - now) > EDGE_S:
            return False
        message += "&nonce=%s&now=%s" % (nonce, match.group(1))
    return text == message + "&h=" + sign(key, message)


# ---------------------------------------------------------------------------
# Sending.
# ---------------------------------------------------------------------------

def send_cgi(workspace, case):
    extra = dict(("HTTP_" + name.upper().replace("-", "_"), value.replace("\0", ""))
                 for name, value in case.headers if name.lower() not in ("content-length",))
    return battery.cgi(workspace, case.body, remote_addr=case.peer, method=case.method,
                       content_type=case.content_type, content_length=case.content_length,
                       extra_env=extra, argv=case.argv)


def send_serve(serve, case):
    """The request as raw bytes (so anything can be sent), then the answer:
    a Reply, status 0 when the server closed without one."""
    lines = ["%s %s %s" % (case.method, case.request_path, case.http_version)]
    lines.append("Host: 127.0.0.1")
    if case.content_type is not None:
        lines.append("Content-Type: " + case.content_type)
    if case.content_length is not False:
        lines.append("Content-Length: " + case.length_text())
    lines += ["%s: %s" % header for header in case.headers]
    lines.append("Connection: close")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + case.body
    started = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", serve.port), timeout=15,
                                    source_address=(case.peer, 0))
    received = b""
    try:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)  # a short body ends here, not at a timeout
        except OSError:
            pass  # dropped while sending (an oversize request): read what came back
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except OSError:
            pass  # reset after a refusal that left the request unread
    finally:
        sock.close()
    reply = battery.Reply(0, {}, "", "", time.monotonic() - started)
    while received.startswith(b"HTTP/1.1 100 "):  # Expect: 100-continue, then the answer
        received = received.partition(b"\r\n\r\n")[2]
    head, _, body = received.partition(b"\r\n\r\n")
    match = re.match(rb"HTTP/1\.[01] (\d{3}) ", head)
    if match:
        reply.status = int(match.group(1))
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            reply.headers[name.strip().lower()] = value.strip()
        reply.text = body.decode("utf-8", "replace")
    elif received:
        reply.text = received.decode("latin-1")
        reply.status = -1
    serve.workspace.witness(reply.text, "a serve reply")
    return reply


def oversize(case):
    """A request `serve` drops unanswered by design (docs/SECURITY.md)."""
    head = sum(len(n) + len(v) + 4 for n, v in case.headers) + len(case.request_path)
    return head + len(case.body) + 200 > 65536 or len(case.request_path) > 65536


# ---------------------------------------------------------------------------
# A run.
# ---------------------------------------------------------------------------

def run_fuzz(result, workspace, transport, cases, seed, serve=None, workers=4,
             deadline_s=120):
    """`cases` cases through `transport`, judged one by one; then the database."""
    fuzzer = Fuzzer(seed, transport)
    planned = [fuzzer.case(index) for index in range(cases)]
    deadline = time.monotonic() + deadline_s
    queue = collections.deque(planned)
    last_ts, accepted, lock = {}, [], threading.Lock()
    statuses = collections.Counter()

    def work():
        while time.monotonic() < deadline:
            try:
                case = queue.popleft()
            except IndexError:
                return
            now = support.now()
            verdict, detail = judge(case, now, last_ts)
            try:
                reply = send_cgi(workspace, case) if transport == "cgi" else \
                    send_serve(serve, case)
            except OSError as error:
                result.violate("seed %s %s: %s" % (seed, case.describe(), error))
                continue
            result.count("cases")
            result.count("cases: " + case.strategy)
            statuses[reply.status] += 1
            result.time(transport + " case", reply.elapsed)
            with lock:
                judge_reply(result, case, verdict, detail, reply, now, seed, accepted,
                            last_ts)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if queue:
        result.set("cases not run (time bound)", len(queue))
    for status, count in sorted(statuses.items()):
        result.set("%s answered %s" % (transport, status if status > 0 else "nothing"), count)
    check_database(result, workspace, accepted, seed)
    return accepted


def judge_reply(result, case, verdict, detail, reply, now, seed, accepted, last_ts):
    def fail(what):
        result.violate("seed %s %s: %s; got %r (judged at %d, answered by %d)" % (
            seed, case.describe(), what, reply, now, support.now()))

    battery.check_log(result, reply.log, "the error log")
    if "Traceback" in reply.text:
        fail("a traceback in the reply")
    if reply.status >= 500 and reply.status not in PRESCRIBED_5XX:
        fail("a 5xx")
    if reply.status in PRESCRIBED_5XX and (case.method in ("GET", "POST", "HEAD") and
                                           case.http_version in ("HTTP/1.1", "HTTP/1.0")):
        fail("501/505 for a known method and version")
    if reply.status == 0 and not oversize(case):
        fail("no answer")
    if reply.status == 200 and reply.text in OK_LINES:
        result.count("accepted updates")
        if verdict not in (ACCEPT_UPDATE, UNJUDGED) or detail is None:
            result.count("accepted forgeries")
            fail("an update accepted that the oracle refuses")
        else:
            accepted.append(detail)
            last_ts[(detail.family, detail.name)] = detail.ts
        return
    if case.chaos or case.method in ("GET", "HEAD") or verdict == UNJUDGED:
        return  # beyond "no 5xx, no forgery", HTTP mischief is not judged
    if verdict == ACCEPT_UPDATE:
        fail("an authentic, fresh update refused")
    elif verdict == ACCEPT_IP:
        if reply.status != 200 or not check_ip_reply(reply.text, detail, now):
            fail("type=ip not answered with the signed reply")
    elif reply.status == 200:
        fail("200 to a request the oracle refuses")
    elif not 400 <= reply.status < 500 or not reply.text.startswith("Error: "):
        fail("a refusal must be a 4xx with an 'Error: ' line")
    if reply.status == 429:
        fail("429 (the fuzzer's peers are fresh: none should pile up refusals)")


def check_database(result, workspace, accepted, seed):
    """Only the accepted updates changed the history; no MAC in the refusal log."""
    expected = battery.replay(accepted)
    found = battery.history(workspace.database) if os.path.exists(workspace.database) else {}
    for key in set(expected) | set(found):
        if expected.get(key, []) != found.get(key, []):
            result.violate("seed %s: history of %s is %r, the accepted updates give %r"
                           % (seed, key, found.get(key), expected.get(key)))
    if os.path.exists(workspace.database):
        connection = sqlite3.connect(workspace.database, timeout=30)
        try:
            rows = connection.execute("SELECT * FROM refused").fetchall()
        except sqlite3.OperationalError:
            rows = []
        finally:
            connection.close()
        result.set("refused-log rows", len(rows))
        for row in rows:
            text = " ".join(str(value) for value in row)
            workspace.witness(text, "the refused-attempt log")
            if MAC_RE.search(text):
                result.violate("a MAC-like string in the refused-attempt log: %r" % text)

