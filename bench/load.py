#!/usr/bin/env python3
"""load.py - a small HTTP/1.1 keep-alive load driver, standard library only.

One thread, non-blocking sockets (selectors): C connections, each with one
request in flight at a time, for a fixed time or count. Loopback targets only,
on purpose: it refuses any other address, so it cannot load someone else's host.

  python3 bench/load.py --url http://127.0.0.1:8080/ -c 8 -d 3
  python3 bench/load.py --url http://127.0.0.1:8080/ -c 8 -d 3 \\
      --post 'type=ip&ts=1&nonce=abababababababab'
  python3 bench/load.py --url http://127.0.0.1:8080/ -c 8 -d 3 --updates-key KEY
  python3 bench/load.py --make-history 1000000        # prints the database path

--updates-key sends valid, signed heartbeats (type=update for 127.0.0.1): one
name per connection, ts rising by one per request and kept inside the server's
clock window, so every one of them must be accepted (a durable SQLite commit).

--make-history N writes a database of N history rows in the original's schema
(plus the server's indexes) into the temp directory, once: later calls reuse it.

Prints one line of figures, or a JSON object with --json. Exit status 0, or 1
when a response had an unexpected status or a connection failed.
"""

import argparse
import hashlib
import hmac
import ipaddress
import json
import os
import selectors
import socket
import sqlite3
import sys
import tempfile
import time

FORM = "application/x-www-form-urlencoded"
CONNECT_TIMEOUT_S = 5.0
DRAIN_TIMEOUT_S = 10.0           # after the deadline, wait this long for replies in flight
WINDOW_MARGIN_S = 10             # keep generated ts this far inside the server's window


# ---------------------------------------------------------------------------
# Request bodies.
# ---------------------------------------------------------------------------

def fixed_body(body):
    """A body factory that sends the same bytes every time."""
    return lambda connection_index: body


def heartbeat_bodies(key, address="127.0.0.1", prefix="bench", window_s=300, now=None):
    """A body factory of valid type=update heartbeats, one name per connection.

    Each connection's ts rises by one per request, starting just inside the
    past edge of the window; when it nears the future edge, the connection
    moves on to a fresh name, so every message is newer than the last one its
    name sent and within the window.
    """
    clock = (lambda: now) if now is not None else time.time
    state = {}

    def body(connection_index):
        generation, ts, last = state.get(connection_index, (-1, 0, -1))
        ts += 1
        if ts > last:
            ts = int(clock()) - window_s + WINDOW_MARGIN_S
            generation, last = generation + 1, ts + 2 * (window_s - WINDOW_MARGIN_S)
        state[connection_index] = (generation, ts, last)
        name = "%s%d-%d" % (prefix, connection_index, generation)
        message = "type=update&ip=%s&name=%s&ts=%d" % (address, name, ts)
        mac = hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()
        return (message + "&h=" + mac).encode()

    return body


# ---------------------------------------------------------------------------
# The driver.
# ---------------------------------------------------------------------------

def parse_url(url):
    """(host, port, path) of an http:// URL on loopback; anything else is refused."""
    if not url.startswith("http://"):
        raise ValueError("only http:// URLs: %s" % url)
    rest = url[len("http://"):]
    hostport, slash, path = rest.partition("/")
    path = slash + path or "/"
    if hostport.startswith("["):
        host, _, port = hostport[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, _, port = hostport.partition(":")
    port = int(port or 80)
    for family, _, _, _, address in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        if not ipaddress.ip_address(address[0].split("%")[0]).is_loopback:
            raise ValueError("refusing a non-loopback target: %s (%s)" % (host, address[0]))
    return host, port, path


class Connection(object):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self, index):
        self.index = index
        self.sock = None
        self.inbuf = b""
        self.sent_at = 0.0
        self.need = None          # bytes of the whole response, once its head is in
        self.status = 0
        self.closing = False


def run_load(url, connections=1, duration_s=3.0, requests=None, method="GET",
             body_factory=None, expect_status=200, headers=(), connect_pause_s=0.002):
    """Drive `url` and return a dict of figures.

    All connections are opened first, `connect_pause_s` apart (a burst of
    connects overflows the 5-deep listen queue of a default socketserver, and a
    dropped SYN costs a 1 s retransmit: see connect_burst()); the time that
    takes is reported as connect_s. Then the clock starts. Sending stops at `duration_s` or
    after `requests` responses, whichever comes first, and the replies still in
    flight are collected. A request is one send() of a few hundred bytes, which
    a fresh socket buffer always takes whole, so only reads are waited for.
    """
    host, port, path = parse_url(url)
    host_header = "[%s]" % host if ":" in host else host
    head_lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s:%d" % (host_header, port)]
    head_lines += ["%s: %s" % pair for pair in headers]
    fixed_request = ("\r\n".join(head_lines) + "\r\n\r\n").encode("latin-1")
    selector = selectors.DefaultSelector()
    figures = {"url": url, "method": method, "connections": connections,
               "responses": 0, "unexpected": 0, "errors": 0, "reconnects": 0,
               "statuses": {}}
    latencies = []
    issued = [0]

    def request_bytes(connection):
        if body_factory is None:
            return fixed_request
        data = body_factory(connection.index)
        lines = head_lines + ["Content-Type: " + FORM, "Content-Length: %d" % len(data)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data

    def connect(connection):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(CONNECT_TIMEOUT_S)
        try:
            sock.connect((host, port))
        except OSError:
            sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        connection.sock = sock
        connection.inbuf = b""
        connection.need = None
        selector.register(sock, selectors.EVENT_READ, connection)

    def close(connection):
        if connection.sock is not None:
            selector.unregister(connection.sock)
            connection.sock.close()
            connection.sock = None

    def send_next(connection, now):
        if now >= deadline or (requests is not None and issued[0] >= requests):
            close(connection)
            return
        if connection.sock is None:
            connect(connection)
        issued[0] += 1
        connection.sent_at = now
        connection.sock.send(request_bytes(connection))

    def response_complete(connection):
        """Parse what has arrived; True when one whole response is in."""
        if connection.need is None:
            end = connection.inbuf.find(b"\r\n\r\n")
            if end < 0:
                return False
            head = connection.inbuf[:end].decode("latin-1").split("\r\n")
            connection.status = int(head[0].split()[1])
            length, connection.closing = 0, False
            for line in head[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and value.strip().lower() == "close":
                    connection.closing = True
            connection.need = end + 4 + length
        return len(connection.inbuf) >= connection.need

    pool = [Connection(index) for index in range(connections)]
    connect_started = time.perf_counter()
    for connection in pool:
        connect(connection)
        time.sleep(connect_pause_s)
    started = time.perf_counter()
    figures["connect_s"] = started - connect_started
    deadline = started + duration_s
    for connection in pool:
        send_next(connection, started)

    drain_deadline = deadline + DRAIN_TIMEOUT_S
    while selector.get_map():
        if time.perf_counter() >= drain_deadline:
            for connection in pool:
                if connection.sock is not None:
                    figures["errors"] += 1
                    close(connection)
            break
        for key, _ in selector.select(timeout=0.5):
            connection = key.data
            try:
                data = connection.sock.recv(65536)
                if not data:
                    raise ConnectionError("closed by the server mid-response")
                connection.inbuf += data
                if not response_complete(connection):
                    continue
            except OSError:
                figures["errors"] += 1
                close(connection)
                figures["reconnects"] += 1
                try:
                    send_next(connection, time.perf_counter())
                except OSError:
                    figures["errors"] += 1
                continue
            now = time.perf_counter()
            latencies.append(now - connection.sent_at)
            figures["responses"] += 1
            status = connection.status
            figures["statuses"][str(status)] = figures["statuses"].get(str(status), 0) + 1
            if status != expect_status:
                figures["unexpected"] += 1
                if figures["unexpected"] == 1:
                    figures["first_unexpected"] = connection.inbuf[:connection.need][
                        -200:].decode("latin-1", "replace")
            connection.inbuf = connection.inbuf[connection.need:]
            connection.need = None
            try:
                if connection.closing:
                    close(connection)
                    figures["reconnects"] += 1
                send_next(connection, now)
            except OSError:
                figures["errors"] += 1
                close(connection)
    elapsed = time.perf_counter() - started
    selector.close()
    latencies.sort()
    figures["elapsed_s"] = elapsed
    figures["rps"] = figures["responses"] / elapsed if elapsed else 0.0
    for label, fraction in (("p50_ms", 0.5), ("p90_ms", 0.9), ("p99_ms", 0.99)):
        figures[label] = (latencies[min(len(latencies) - 1, int(fraction * len(latencies)))]
                          * 1000 if latencies else None)
    figures["max_ms"] = latencies[-1] * 1000 if latencies else None
    return figures


def connect_burst(url, connections):
    """`connections` clients arrive at once, each for one GET: seconds until the
    last of them has its response (as when many crons fire on the same minute)."""
    host, port, path = parse_url(url)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    request = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n"
               % (path, host, port)).encode("latin-1")
    selector = selectors.DefaultSelector()
    started = time.perf_counter()
    for _ in range(connections):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.connect_ex((host, port))
        selector.register(sock, selectors.EVENT_WRITE, None)
    slowest = 0.0
    try:
        while selector.get_map():
            if time.perf_counter() - started > 2 * DRAIN_TIMEOUT_S:
                raise OSError("connect burst: no answer in %d s" % (2 * DRAIN_TIMEOUT_S))
            for key, events in selector.select(timeout=0.5):
                sock = key.fileobj
                if events & selectors.EVENT_WRITE:
                    sock.send(request)
                    selector.modify(sock, selectors.EVENT_READ, None)
                elif not sock.recv(65536):
                    slowest = time.perf_counter() - started
                    selector.unregister(sock)
                    sock.close()
    finally:
        for key in list(selector.get_map().values()):
            key.fileobj.close()
        selector.close()
    return slowest


# ---------------------------------------------------------------------------
# A history database for the viewer's scale test.
# ---------------------------------------------------------------------------

HISTORY_NAMES = ("home", "office", "pi", "nas")
HISTORY_VERSION = 2               # bump when the generated content changes
HISTORY_SCHEMA = """
CREATE TABLE {table} (id INTEGER PRIMARY KEY AUTOINCREMENT, ip VARCHAR,
    name VARCHAR, first_seen UNSIGNED INT, timestamp UNSIGNED INT);
"""
# The server's indexes, as its create_schema() makes them (names compare
# case-insensitively); under other names the viewer would not know them.
HISTORY_INDEXES = """
CREATE INDEX {table}_folded_name_id ON {table} (name COLLATE NOCASE, id);
CREATE INDEX {table}_folded_name_timestamp ON {table} (name COLLATE NOCASE, timestamp);
"""


def history_path(rows, indexes=True):
    return os.path.join(tempfile.gettempdir(), "ipupdate-bench-history-v%d-%d%s.sqlite"
                        % (HISTORY_VERSION, rows, "" if indexes else "-noindex"))


def make_history(rows, path=None, indexes=True, now=None):
    """A database of `rows` history rows, made once and reused; returns its path.

    The rows are address changes of four names, round robin, one an hour per
    name, ending a minute before `now`; a tenth of them are IPv6. With
    `indexes` the server's two indexes are there (it creates them on its first
    update); without, it is a database exactly as the original leaves it.
    """
    path = path or history_path(rows, indexes)
    if os.path.exists(path):
        connection = sqlite3.connect(path)
        try:
            if connection.execute("PRAGMA user_version").fetchone()[0] == rows + 1:
                return path
        finally:
            connection.close()
    end = int(now if now is not None else time.time()) - 60
    temporary = path + ".part"
    if os.path.exists(temporary):
        os.remove(temporary)
    connection = sqlite3.connect(temporary, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = OFF")
        connection.execute("PRAGMA synchronous = OFF")
        connection.execute("BEGIN")
        v6_rows = max(1, rows // 10) if rows > 1 else 0
        for table, count, address in (("log_ipv4", rows - v6_rows, v4_address),
                                      ("log_ipv6", v6_rows, v6_address)):
            connection.execute(HISTORY_SCHEMA.format(table=table))
            names = len(HISTORY_NAMES)
            connection.executemany(
                "INSERT INTO %s (ip, name, first_seen, timestamp) VALUES (?, ?, ?, ?)" % table,
                ((address(i), HISTORY_NAMES[i % names],
                  end - ((count - 1 - i) // names) * 3600 - 3000,
                  end - ((count - 1 - i) // names) * 3600) for i in range(count)))
            if indexes:
                for statement in HISTORY_INDEXES.format(table=table).split(";"):
                    if statement.strip():
                        connection.execute(statement)
        connection.execute("PRAGMA user_version = %d" % (rows + 1))
        connection.execute("COMMIT")
    finally:
        connection.close()
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return path


def v4_address(i):
    return "198.51.%d.%d" % ((i >> 8) & 255, i & 255)


def v6_address(i):
    return "2001:db8:%x:%x::1" % ((i >> 16) & 0xffff, i & 0xffff)


# ---------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------

def format_figures(figures):
    latency = ("p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.1f ms" % (
        figures["p50_ms"], figures["p90_ms"], figures["p99_ms"], figures["max_ms"])
        if figures["responses"] else "no responses")
    return ("%s %s  c=%d  %d responses in %.2f s  %.0f req/s  %s  statuses %s  errors %d"
            % (figures["method"], figures["url"], figures["connections"],
               figures["responses"], figures["elapsed_s"], figures["rps"], latency,
               figures["statuses"], figures["errors"]))


def main(argv):
    parser = argparse.ArgumentParser(
        prog="load.py", description=__doc__.split("\n")[0],
        epilog=__doc__.split("\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="http://127.0.0.1:PORT/PATH (loopback only)")
    parser.add_argument("-c", "--connections", type=int, default=1)
    parser.add_argument("-d", "--duration", type=float, default=3.0, help="seconds")
    parser.add_argument("-n", "--requests", type=int, help="stop after this many")
    parser.add_argument("--post", metavar="BODY", help="POST this form body")
    parser.add_argument("--updates-key", metavar="KEY",
                        help="POST valid signed heartbeats under this shared secret")
    parser.add_argument("--window", type=int, default=300,
                        help="the server's clock window, s (for --updates-key)")
    parser.add_argument("--expect", type=int, default=200, help="expected status")
    parser.add_argument("--json", action="store_true", help="print figures as JSON")
    parser.add_argument("--make-history", type=int, metavar="ROWS",
                        help="make (once) a history database of ROWS rows; print its path")
    parser.add_argument("--no-indexes", action="store_true",
                        help="with --make-history: the original's schema, no indexes")
    parser.add_argument("--database", help="with --make-history: write it here")
    args = parser.parse_args(argv)

    if args.make_history is not None:
        started = time.perf_counter()
        path = make_history(args.make_history, args.database, not args.no_indexes)
        sys.stderr.write("load.py: %d rows ready in %.1f s\n"
                         % (args.make_history, time.perf_counter() - started))
        print(path)
        return 0
    if not args.url:
        parser.error("--url is required")
    if args.updates_key:
        # Names of this run only: another run's names have newer ts already.
        method, factory = "POST", heartbeat_bodies(args.updates_key, window_s=args.window,
                                                   prefix="load%d-" % os.getpid())
    elif args.post is not None:
        method, factory = "POST", fixed_body(args.post.encode())
    else:
        method, factory = "GET", None
    try:
        figures = run_load(args.url, args.connections, args.duration, args.requests,
                           method, factory, args.expect)
    except (ValueError, OSError) as error:
        sys.stderr.write("load.py: %s\n" % error)
        return 1
    print(json.dumps(figures, sort_keys=True) if args.json else format_figures(figures))
    return 0 if not (figures["unexpected"] or figures["errors"]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
