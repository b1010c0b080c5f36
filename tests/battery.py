"""The reliability battery: harness, concurrency, crash safety, faults, slow
clients and refusal floods, against real ipupdate_server.py processes.

Loopback only: `serve` listens on 127.0.0.1, and the clients pick their source
addresses from 127.0.0.0/8 (Linux answers all of it on `lo`), which is how one
machine plays many peers. Every loop is bounded by a count and by a deadline.
"""

import collections
import http.client
import os
import random
import re
import shutil
import socket
import sqlite3
import struct
import subprocess
import tempfile
import threading
import time

from tests import support
from tests.support import HOME_KEY, KEY, PYTHON, SERVER, VIEWER

FORM = "application/x-www-form-urlencoded"
KEYS = (KEY, HOME_KEY)
OK_LINES = ("OK: New IP updated", "OK: Timestamp updated")
UNAVAILABLE = "Error: database unavailable, try again later"
REPLAY = re.compile(r"^Error: replayed or out-of-order message: ts (\d+) is not newer "
                    r"than the last accepted ts (\d+) for this name$")
MAC_LIKE = re.compile(r"[0-9a-f]{64}")
TABLES = {4: "log_ipv4", 6: "log_ipv6"}


def key_for(name):
    """The key the test config gives `name` (see write_config): home's for
    `home` in any letter case and for every name below it, else the secret."""
    folded = name.lower()
    return HOME_KEY if folded == "home" or folded.endswith(".home") else KEY


def percentile(values, share):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# ---------------------------------------------------------------------------
# Results: figures for the table, violations for the tests.
# ---------------------------------------------------------------------------

class Result(object):
    """What one engine found. Thread-safe: workers report into it at once."""

    KEPT = 40  # violations kept verbatim; all are counted

    def __init__(self, title, seed=None):
        self.title = title
        self.seed = seed
        self.figures = collections.OrderedDict()
        self.latencies = collections.OrderedDict()
        self.violations = []
        self.violation_count = 0
        self.lock = threading.Lock()
        self.started, self.seconds = time.monotonic(), None

    def done(self):
        """Stop the clock of this result (for the table)."""
        self.seconds = time.monotonic() - self.started

    def count(self, figure, by=1):
        with self.lock:
            self.figures[figure] = self.figures.get(figure, 0) + by

    def set(self, figure, value):
        with self.lock:
            self.figures[figure] = value

    def time(self, label, seconds):
        with self.lock:
            self.latencies.setdefault(label, []).append(seconds)

    def violate(self, text):
        with self.lock:
            self.violation_count += 1
            if len(self.violations) < self.KEPT:
                self.violations.append(text)

    def report(self):
        """The violations, as a test failure message (with the seed to rerun)."""
        lines = ["%s: %d violation(s)%s" % (
            self.title, self.violation_count,
            "" if self.seed is None else " (seed %s)" % self.seed)]
        lines += ["  " + text for text in self.violations]
        return "\n".join(lines)

    def latency_figures(self):
        """{label: (count, p50 ms, p99 ms, max ms)}."""
        return collections.OrderedDict(
            (label, (len(values), 1000 * percentile(values, 0.50),
                     1000 * percentile(values, 0.99), 1000 * max(values)))
            for label, values in self.latencies.items() if values)


# ---------------------------------------------------------------------------
# A workspace: config, database, and a witness for every text we are shown.
# ---------------------------------------------------------------------------

class Workspace(object):
    """A throwaway directory with a config (secret KEY, name 'home' with
    HOME_KEY, as tests/support.py writes it) and its database. Every reply and
    log text passes through witness(), which reports any key in it."""

    def __init__(self, result, database="ipupdate.sqlite", fast_disk=False, **settings):
        self.result = result
        # fast_disk: /dev/shm (memory), for runs that test input handling, not the
        # disk: there a commit costs no fsync (~15 ms on an ordinary disk).
        parent = "/dev/shm" if fast_disk and os.access("/dev/shm", os.W_OK) else None
        self.directory = tempfile.mkdtemp(prefix="ipupdate-battery-", dir=parent)
        self.database = os.path.join(self.directory, database)
        lines = ["[ipupdate]", "secret = " + KEY, "database = " + database]
        lines += ["%s = %s" % item for item in sorted(settings.items())]
        lines += ["", "[names]", "home = " + HOME_KEY, ""]
        self.config = os.path.join(self.directory, "ipupdate.conf")
        with open(self.config, "w") as config_file:
            config_file.write("\n".join(lines))

    def witness(self, text, where):
        self.result.count("texts checked for keys")
        for key in KEYS:
            if key in text:
                self.result.violate("a key in %s: %r" % (where, text[:200]))

    def close(self):
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Reply(object):
    """One HTTP answer (status 0: none), its log text, and how long it took."""

    def __init__(self, status=0, headers=None, text="", log="", elapsed=0.0, killed=False):
        self.status, self.headers, self.text = status, headers or {}, text
        self.log, self.elapsed, self.killed = log, elapsed, killed

    def __repr__(self):
        return "Reply(%d, %r, log=%r)" % (self.status, self.text[:120], self.log[:200])


# ---------------------------------------------------------------------------
# Two ways to send a request: a CGI execution, or TCP to `serve`.
# ---------------------------------------------------------------------------

def cgi(workspace, body, remote_addr="127.0.0.1", method="POST", content_type=FORM,
        content_length=None, extra_env=None, argv=(), script=SERVER, query="",
        kill_after_s=None, timeout_s=30, umask=None):
    """Execute `script` as a web server would for one request (RFC 3875).

    content_length None: the body's length; False: no CONTENT_LENGTH at all.
    kill_after_s: SIGKILL the process if it is still running then (killed=True).
    umask: the process's umask (default: ours).
    """
    if isinstance(body, str):
        body = body.encode()
    env = support.clean_env(
        GATEWAY_INTERFACE="CGI/1.1", SERVER_PROTOCOL="HTTP/1.1", REQUEST_METHOD=method,
        SCRIPT_NAME="/cgi-bin/" + os.path.basename(script), PATH_INFO="",
        QUERY_STRING=query, REMOTE_ADDR=remote_addr, SERVER_NAME="localhost",
        SERVER_PORT="80", SERVER_SOFTWARE="battery", IPUPDATE_CONFIG=workspace.config)
    if content_length is None:
        content_length = str(len(body))
    if content_length is not False:
        env["CONTENT_LENGTH"] = content_length
    if content_type is not None:
        env["CONTENT_TYPE"] = content_type
    env.update(extra_env or {})
    started = time.monotonic()
    process = subprocess.Popen([PYTHON, script] + list(argv), stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                               preexec_fn=None if umask is None else lambda: os.umask(umask))
    killed = False
    try:
        output, errors = process.communicate(
            body, timeout=kill_after_s if kill_after_s is not None else timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()  # SIGKILL: no handler runs, as on a power cut of the process
        output, errors = process.communicate()
        killed = True
    elapsed = time.monotonic() - started
    status, headers, text = support.parse_cgi_output(output)
    log = errors.decode("utf-8", "replace")
    workspace.witness(text, "a CGI reply")
    workspace.witness(log, "a CGI error log")
    if killed:
        return Reply(0, {}, "", log, elapsed, killed=True)
    return Reply(status, headers, text, log, elapsed)


class Serve(support.LocalServer):
    """support.LocalServer, with every reply and its error log read for keys
    (workspace.witness) and requests from any loopback source."""

    def __init__(self, workspace, timeout_s=None):
        self.workspace = workspace
        support.LocalServer.__init__(self, workspace.config, serve_args=(
            [] if timeout_s is None else ["--timeout", str(timeout_s)]))
        self.log_seen = 0

    def request(self, method, body=b"", source="127.0.0.1", path="/", timeout_s=10,
                headers=None):
        """One request on a new connection from `source`; raises OSError and
        http.client.HTTPException when the connection fails."""
        started = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout_s,
                                                source_address=(source, 0))
        try:
            all_headers = {"Content-Type": FORM} if method == "POST" else {}
            all_headers.update(headers or {})
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            reply_headers = dict((k.lower(), v) for k, v in response.getheaders())
            status = response.status
        finally:
            connection.close()
        self.workspace.witness(text, "a serve reply")
        return Reply(status, reply_headers, text, "", time.monotonic() - started)

    def post(self, body, source="127.0.0.1", timeout_s=10):
        return self.request("POST", body, source, timeout_s=timeout_s)

    def log(self):
        """All the server wrote to its error log so far."""
        return self.stderr()

    def new_log(self):
        """What it wrote since the last call."""
        text = self.log()
        fresh, self.log_seen = text[self.log_seen:], len(text)
        return fresh

    def kill(self):
        """SIGKILL, in whatever it is doing."""
        self.process.kill()
        self.process.wait(10)

    def stop(self):
        running = not self.stderr_file.closed
        support.LocalServer.stop(self)
        if running:
            self.workspace.witness(self.stderr_text, "the serve error log")
        return self.stderr_text

    def rss_kib(self):
        """The server's resident memory, KiB (Linux /proc)."""
        with open("/proc/%d/status" % self.process.pid) as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


def check_log(result, text, where):
    """A log may say anything useful, but never a traceback or a MAC."""
    if "Traceback" in text:
        result.violate("a traceback in %s: %r" % (where, text[-600:]))
    if MAC_LIKE.search(text):
        result.violate("a MAC-like string in %s: %r" % (where, text[:300]))
    if "locked" in text:
        result.violate("'database is locked' in %s: %r" % (where, text[:300]))


# ---------------------------------------------------------------------------
# Messages, and what the database must hold after them.
# ---------------------------------------------------------------------------

Message = collections.namedtuple("Message", "name ip ts family body")


def message(name, ip, ts):
    return Message(name, ip, ts, 6 if ":" in ip else 4,
                   support.update_body(ip, name, ts, key_for(name)))


def history(database):
    """{(family, name): [(ip, first_seen, timestamp), ...] oldest first}."""
    found = collections.defaultdict(list)
    connection = sqlite3.connect(database, timeout=30)
    try:
        for family, table in TABLES.items():
            try:
                cursor = connection.execute(
                    "SELECT name, ip, first_seen, timestamp FROM %s ORDER BY id" % table)
            except sqlite3.OperationalError:
                continue  # no such table: that family saw no update
            for name, ip, first_seen, last in cursor:
                found[(family, name)].append((ip, first_seen, last))
    finally:
        connection.close()
    return found


def integrity(database):
    connection = sqlite3.connect(database, timeout=30)
    try:
        return connection.execute("PRAGMA integrity_check").fetchall()
    finally:
        connection.close()


def replay(accepted):
    """The history a sequential replay of the accepted messages gives: the
    original's rule (a new row when the address changes, else the newest
    row's timestamp raised), written independently of the server."""
    expected = collections.defaultdict(list)
    for item in sorted(accepted, key=lambda item: item.ts):
        rows = expected[(item.family, item.name)]
        if rows and rows[-1][0] == item.ip:
            rows[-1] = (item.ip, rows[-1][1], item.ts)
        else:
            rows.append((item.ip, item.ts, item.ts))
    return expected


def check_consistent_history(result, database, sent, accepted):
    """After crashes, the outcome of a message whose answer never came is
    unknown; what must hold is: integrity_check is ok; every accepted message
    is covered by a row of its name and address; every row is made of sent
    messages; each name's rows are in time order and do not overlap."""
    verdict = integrity(database)
    if verdict != [("ok",)]:
        result.violate("integrity_check: %r" % (verdict[:5],))
        return
    sent_at = set((m.family, m.name, m.ip, m.ts) for m in sent)
    found = history(database)
    for (family, name), rows in found.items():
        previous_last = None
        for ip, first_seen, last in rows:
            if (family, name, ip, first_seen) not in sent_at or \
                    (family, name, ip, last) not in sent_at:
                result.violate("row %r of %s was never sent" % ((ip, first_seen, last), name))
            if first_seen > last or (previous_last is not None and
                                      first_seen <= previous_last):
                result.violate("rows of %s out of order: %r" % (name, rows))
            previous_last = last
    for item, outcome in accepted:
        rows = found.get((item.family, item.name), [])
        if not any(ip == item.ip and first <= item.ts <= last for ip, first, last in rows):
            result.violate("accepted update lost: %s %s ts %d (%s)"
                           % (item.name, item.ip, item.ts, outcome))
        if outcome == OK_LINES[0] and not any(first == item.ts for _, first, _ in rows):
            result.violate("'New IP updated' without its row: %s ts %d" % (item.name, item.ts))


# ---------------------------------------------------------------------------
# 1. Concurrency: CGI processes and `serve` threads on one database.
# ---------------------------------------------------------------------------

def run_load(result, workspace, serve, names=12, per_name=10, cgi_workers=4,
             serve_workers=4, duplicate_share=0.15, viewer_reads=True, seed=1,
             deadline_s=60):
    """Valid updates from many names, through CGI and `serve` at once, with
    reads in between; then check every answer and the final database.

    A third of the names go through CGI only (a few of them IPv6), a third
    through `serve` only, a third through both, so one name's messages race
    each other; some messages are also sent twice, once per transport.
    Every message is valid: a refusal is correct only as a 409 naming a newer
    accepted ts of that name, and the database must equal a sequential
    replay of the accepted messages.
    """
    rng = random.Random(seed)
    deadline = time.monotonic() + deadline_s
    base_ts = support.now() - 60
    all_names = ["home"] + ["load%02d" % i for i in range(names - 1)]
    queues = {"cgi": collections.deque(), "serve": collections.deque()}
    for k in range(per_name):
        for index, name in enumerate(all_names):
            group = index % 3  # 0: CGI only, 1: serve only, 2: both
            six = group == 0 and index % 2 == 0
            address = ("2001:db8::%x:%x" % (index + 1, rng.randint(1, 2)) if six
                       else "127.1.%d.%d" % (index + 1, rng.randint(1, 2)))
            item = message(name, address, base_ts + k)
            transport = ("cgi", "serve", rng.choice(("cgi", "serve")))[group]
            queues[transport].append(item)
            if rng.random() < duplicate_share:
                queues["serve" if transport == "cgi" and not six else "cgi"].append(item)
    for queue in queues.values():  # the same order of names in every queue is too tidy
        items = list(queue)
        queue.clear()
        for k in range(0, len(items), len(all_names)):
            chunk = items[k:k + len(all_names)]
            rng.shuffle(chunk)
            queue.extend(chunk)
    outcomes = []

    def work(transport):
        queue = queues[transport]
        while time.monotonic() < deadline:
            try:
                item = queue.popleft()
            except IndexError:
                return
            try:
                if transport == "cgi":
                    reply = cgi(workspace, item.body, remote_addr=item.ip)
                    check_log(result, reply.log, "a CGI error log")
                else:
                    reply = serve.post(item.body, source=item.ip)
            except (OSError, http.client.HTTPException) as error:
                reply = Reply(0, text="%s: %s" % (type(error).__name__, error))
            result.time(transport + " update", reply.elapsed)
            outcomes.append((item, transport, reply))

    reads = {"done": threading.Event(), "count": 0}

    def read():
        newest = {}
        viewer = viewer_reads and os.path.exists(VIEWER)
        while not reads["done"].is_set() and time.monotonic() < deadline:
            reads["count"] += 1
            if not os.path.exists(workspace.database):
                time.sleep(0.01)
                continue
            try:
                # A plain reader, as anything else on the host might read it.
                connection = sqlite3.connect("file:%s?mode=ro" % workspace.database,
                                             uri=True, timeout=10)
                try:
                    for family, table in TABLES.items():
                        try:
                            rows = connection.execute(
                                "SELECT name, MAX(timestamp) FROM %s GROUP BY name" % table)
                            rows = rows.fetchall()
                        except sqlite3.OperationalError as error:
                            if "no such table" in str(error):
                                continue
                            raise
                        for name, last in rows:
                            if last < newest.get((family, name), 0):
                                result.violate("a reader saw %s go back in time" % name)
                            newest[(family, name)] = last
                finally:
                    connection.close()
            except sqlite3.Error as error:
                # SQLite may take the journal of a writer that just rolled back
                # (say, a refusal-log write that gave up waiting for the lock) for a
                # hot one, which a read-only connection cannot roll back: a
                # false positive its pager accepts on purpose. A reader that
                # tries again reads; our viewer does. Only a second failure counts.
                if "readonly" not in str(error) or not read_again(workspace.database):
                    result.violate("a plain reader failed: %s" % error)
            if viewer:
                started = time.monotonic()
                try:
                    reply = serve.request("GET", path="/?format=text")
                    result.time("viewer read (serve)", time.monotonic() - started)
                    if reply.status >= 500 or "locked" in reply.text:
                        result.violate("viewer under serve: %r" % reply)
                except (OSError, http.client.HTTPException) as error:
                    result.violate("viewer under serve: %s" % error)
                if reads["count"] % 8 == 0:
                    reply = cgi(workspace, b"", method="GET", content_type=None,
                                content_length=False, script=VIEWER, query="format=text")
                    result.time("viewer read (CGI)", reply.elapsed)
                    check_log(result, reply.log, "the viewer's error log")
                    if reply.status >= 500 or "locked" in reply.text:
                        result.violate("viewer under CGI: %r" % reply)
            time.sleep(0.005)

    workers = [threading.Thread(target=work, args=("cgi",)) for _ in range(cgi_workers)]
    workers += [threading.Thread(target=work, args=("serve",)) for _ in range(serve_workers)]
    readers = [threading.Thread(target=read)]
    for thread in workers + readers:
        thread.start()
    for thread in workers:
        thread.join()
    reads["done"].set()
    for thread in readers:
        thread.join()
    result.count("reads", reads["count"])
    unsent = len(queues["cgi"]) + len(queues["serve"])
    if unsent:
        result.set("messages not sent (time bound)", unsent)
    check_load_outcomes(result, workspace, outcomes)
    return outcomes


def read_again(database):
    """True when one more plain read-only read of `database` works."""
    try:
        connection = sqlite3.connect("file:%s?mode=ro" % database, uri=True, timeout=10)
        try:
            connection.execute("SELECT COUNT(*) FROM sqlite_master").fetchall()
        finally:
            connection.close()
        return True
    except sqlite3.Error:
        return False


def check_load_outcomes(result, workspace, outcomes):
    accepted = collections.defaultdict(set)   # (family, name) -> accepted ts
    accepted_items, answers = [], collections.Counter()
    for item, transport, reply in outcomes:
        result.count("requests")
        if reply.status == 200 and reply.text in OK_LINES:
            result.count("accepted")
            answers[item.body] += 1
            accepted[(item.family, item.name)].add(item.ts)
            accepted_items.append((item, reply.text))
        elif reply.status == 409:
            result.count("refused (409)")
        else:
            result.count("errors")
            result.violate("%s %s ts %d: %r" % (transport, item.name, item.ts, reply))
        if "locked" in reply.text:
            result.violate("'database is locked' reached a client: %r" % reply)
    for body, times in answers.items():
        if times > 1:
            result.violate("one message accepted %d times" % times)
    for item, transport, reply in outcomes:
        if reply.status == 409:
            match = REPLAY.match(reply.text)
            if not match or int(match.group(1)) != item.ts:
                result.violate("409 with a wrong line: %r" % reply)
                continue
            last = int(match.group(2))
            if last < item.ts or last not in accepted[(item.family, item.name)]:
                result.violate("wrong refusal of %s ts %d: last accepted %d is not an "
                               "accepted ts of that name" % (item.name, item.ts, last))
    expected = replay([item for item, _ in accepted_items])
    found = history(workspace.database)
    for key in set(expected) | set(found):
        if expected.get(key, []) != found.get(key, []):
            result.violate("%s: database %r, sequential replay %r"
                           % (key, found.get(key), expected.get(key)))
    # The outcome line must be the one a replay in accepted order gives.
    newest_ip = {}
    for item, line in sorted(accepted_items, key=lambda pair: pair[0].ts):
        key = (item.family, item.name)
        wanted = OK_LINES[1] if newest_ip.get(key) == item.ip else OK_LINES[0]
        if line != wanted:
            result.violate("%s ts %d answered %r, replay says %r" % (item.name, item.ts,
                                                                    line, wanted))
        newest_ip[key] = item.ip
    verdict = integrity(workspace.database)
    if verdict != [("ok",)]:
        result.violate("integrity_check: %r" % (verdict[:5],))


# ---------------------------------------------------------------------------
# 2. Crash safety: SIGKILL in the middle of writes.
# ---------------------------------------------------------------------------

class Sequence(object):
    """Messages of one name, each newer than the last, alternating between
    a few addresses so that both kinds of write happen (a new row, a raised
    timestamp). Thread-confined: one sender per name."""

    def __init__(self, name, addresses, start_ts, rng):
        self.name, self.addresses, self.ts, self.rng = name, addresses, start_ts, rng
        self.address = addresses[0]

    def next(self):
        self.ts += 1
        if self.rng.random() < 0.4:
            self.address = self.rng.choice(self.addresses)
        return message(self.name, self.address, self.ts)


def run_serve_crashes(result, workspace, cycles=10, clients=6, seed=2, deadline_s=60,
                      probe_hot_journals=3):
    """Start `serve`, let `clients` threads send valid updates, SIGKILL it at a
    random moment, again and again; then check the database. A killed
    transaction leaves a hot journal: the read-only readers (the viewer,
    `check`) must still read, before any writer has rolled it back."""
    rng = random.Random(seed)
    deadline = time.monotonic() + deadline_s
    start_ts = support.now() - 40000  # the workspace's window is a day: room for many
    sequences = [Sequence("crash%02d" % c, ["127.2.%d.%d" % (c + 1, a) for a in (1, 2, 3)],
                          start_ts, random.Random(rng.random())) for c in range(clients)]
    sent, accepted = [], []
    for cycle in range(cycles):
        if time.monotonic() > deadline:
            break
        serve = Serve(workspace)
        stop = threading.Event()

        def client(sequence):
            while not stop.is_set():
                item = sequence.next()
                sent.append(item)
                try:
                    reply = serve.post(item.body, source=item.ip, timeout_s=10)
                except (OSError, http.client.HTTPException):
                    result.count("answers lost in a kill (outcome unknown)")
                    return
                if reply.status == 200 and reply.text in OK_LINES:
                    accepted.append((item, reply.text))
                    result.count("accepted")
                else:
                    result.violate("serve answered %r to a valid update" % reply)

        threads = [threading.Thread(target=client, args=(s,)) for s in sequences]
        for thread in threads:
            thread.start()
        time.sleep(rng.uniform(0.05, 0.35))
        serve.kill()
        result.count("serve kills")
        stop.set()
        for thread in threads:
            thread.join()
        check_log(result, serve.stop(), "the serve error log")
        if os.path.exists(workspace.database + "-journal"):
            result.count("hot journals left")
            if probe_hot_journals > 0:
                probe_hot_journals -= 1
                probe_readers(result, workspace)
    check_consistent_history(result, workspace.database, sent, accepted)
    result.count("messages sent", len(sent))


def probe_readers(result, workspace):
    """The read-only paths, while a hot journal is there: `check` and the viewer."""
    done = subprocess.run([PYTHON, SERVER, "check", "--config", workspace.config, "--json"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=support.clean_env(), timeout=30)
    result.count("reads over a hot journal")
    if done.returncode not in (0, 1):
        result.violate("`check` over a hot journal: exit %d %r" % (
            done.returncode, (done.stdout + done.stderr)[-300:]))
    if os.path.exists(VIEWER):
        reply = cgi(workspace, b"", method="GET", content_type=None, content_length=False,
                    script=VIEWER, query="format=text")
        if reply.status != 200:
            result.violate("viewer over a hot journal: %r" % reply)


def run_cgi_crashes(result, workspace, runs=30, parallel=6, kill_share=0.7, seed=3,
                    deadline_s=60):
    """CGI executions of valid updates, `parallel` at once (one name each),
    most of them SIGKILLed at a random moment of their ~30-60 ms of life."""
    rng = random.Random(seed)
    deadline = time.monotonic() + deadline_s
    start_ts = support.now() - 40000
    sent, accepted = [], []
    remaining = [runs]
    lock = threading.Lock()

    def slot(index):
        sequence = Sequence("cgi%02d" % index, ["198.51.100.%d" % (index * 3 + a)
                                                for a in (1, 2, 3)],
                            start_ts, random.Random(rng.random()))
        local = random.Random(rng.random())
        while time.monotonic() < deadline:
            with lock:
                if remaining[0] <= 0:
                    return
                remaining[0] -= 1
            item = sequence.next()
            sent.append(item)
            kill = local.random() < kill_share
            reply = cgi(workspace, item.body, remote_addr=item.ip,
                        kill_after_s=local.uniform(0.0, 0.09) if kill else None)
            if reply.killed:
                result.count("CGI kills")
                continue
            check_log(result, reply.log, "a CGI error log")
            if reply.status == 200 and reply.text in OK_LINES:
                accepted.append((item, reply.text))
                result.count("accepted")
            else:
                result.violate("CGI answered %r to a valid update" % reply)

    threads = [threading.Thread(target=slot, args=(i,)) for i in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if os.path.exists(workspace.database + "-journal"):
        result.count("hot journals left")
        probe_readers(result, workspace)
    check_consistent_history(result, workspace.database, sent, accepted)
    result.count("messages sent", len(sent))


# ---------------------------------------------------------------------------
# Faults: a full disk, a read-only database, a missing directory.
# ---------------------------------------------------------------------------

class Unavailable(Exception):
    """This machine cannot stage the fault (the message says why)."""


class SmallDisk(object):
    """A tmpfs of `size` mounted on a fresh directory (needs root)."""

    def __init__(self, size="1m"):
        if os.geteuid() != 0:
            raise Unavailable("mounting a small tmpfs needs root")
        self.path = tempfile.mkdtemp(prefix="ipupdate-disk-")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size,
                               "tmpfs", self.path], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
        if done.returncode != 0:
            os.rmdir(self.path)
            raise Unavailable("mount -t tmpfs failed: %s" % done.stdout.decode().strip())
        self.filler = os.path.join(self.path, "filler")

    def fill(self):
        """Take every free byte."""
        descriptor = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for chunk in (b"\0" * 4096, b"\0"):  # then the last bytes of the last block
                try:
                    while os.write(descriptor, chunk):
                        pass
                except OSError:
                    pass
        finally:
            os.close(descriptor)

    def unfill(self):
        os.remove(self.filler)

    def read_only(self, flag):
        subprocess.run(["mount", "-o", "remount,%s" % ("ro" if flag else "rw"), self.path],
                       check=True)

    def close(self):
        subprocess.run(["umount", self.path], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        os.rmdir(self.path)


FAULTS = ("disk full", "read-only filesystem", "missing directory")


def run_faults(result, transport="cgi", faults=FAULTS, seed=4):
    """For each fault: an update before it (200), during it (503, or 500 for the
    missing directory, a configuration error; a line in the error log, no traceback; a forged update still gets its 403 and type=ip
    its 200), and after it is fixed (200); the database intact throughout.
    Raises Unavailable when this machine cannot stage a fault asked for (a
    full disk and a read-only filesystem need a tmpfs mount: root)."""
    disk = SmallDisk() if set(faults) - set(["missing directory"]) else None
    try:
        for index, fault in enumerate(faults):
            run_fault(result, fault, transport, None if fault == "missing directory" else disk,
                      index, seed)
    finally:
        if disk:
            disk.close()


def run_fault(result, fault, transport, disk, index, seed):
    rng = random.Random("%s-%d" % (seed, index))
    with Workspace(result,
                   database=os.path.join(disk.path, "fault%d.sqlite" % index) if disk
                   else os.path.join("data", "ipupdate.sqlite")) as workspace:
        if not disk:
            os.mkdir(os.path.join(workspace.directory, "data"))
        serve = Serve(workspace) if transport == "serve" else None
        name = "fault%d" % index
        ts = [support.now() - 100]
        peer = "127.3.%d.%d" % (index + 1, rng.randint(1, 200))

        def update(address_suffix):
            ts[0] += 1
            item = message(name, "127.3.%d.%d" % (index + 1, address_suffix), ts[0])
            return item, send(item.body, item.ip)

        def send(body, source):
            if serve:
                reply = serve.post(body, source=source)
                reply.log = serve.new_log()
            else:
                reply = cgi(workspace, body, remote_addr=source)
            check_log(result, reply.log, "the error log (%s, %s)" % (fault, transport))
            return reply

        def expect(what, reply, status, text=None, log=None):
            result.count("%s: %s -> %d" % (fault, what, reply.status))
            if reply.status != status or (text is not None and reply.text != text) or (
                    log is not None and log not in reply.log):
                result.violate("%s, %s, %s: wanted %d %r (log %r), got %r"
                               % (transport, fault, what, status, text, log, reply))

        try:
            before, reply = update(1)
            expect("update before", reply, 200, OK_LINES[0])
            break_it(fault, workspace, disk)
            _, reply = update(2)  # refused: it must not be in the history
            if fault == "missing directory":  # the owner's to fix: never "try again later"
                expect("update during", reply, 500, "Error: server not configured",
                       "ipupdate: configuration error: the database's directory ")
            else:
                expect("update during", reply, 503, UNAVAILABLE, "ipupdate: database error: ")
            forged = message(name, peer, ts[0] + 1).body[:-64] + "0" * 64
            expect("forged update during", send(forged, peer), 403, None,
                   "refused update not recorded")
            expect("type=ip during", send("type=ip&ts=1&nonce=" + "ab" * 8, peer), 200)
            fix_it(fault, workspace, disk)
            after, reply = update(3)
            expect("update after the fix", reply, 200, OK_LINES[0])
            verdict = integrity(workspace.database)
            if verdict != [("ok",)]:
                result.violate("%s: integrity_check %r" % (fault, verdict))
            rows = history(workspace.database)[(4, name)]
            wanted = [(before.ip, before.ts, before.ts), (after.ip, after.ts, after.ts)]
            if rows != wanted:
                result.violate("%s: history %r, wanted %r" % (fault, rows, wanted))
        finally:
            if serve:
                check_log(result, serve.stop(), "the serve error log (%s)" % fault)


def break_it(fault, workspace, disk):
    if fault == "disk full":
        disk.fill()
    elif fault == "read-only filesystem":
        disk.read_only(True)
    elif fault == "missing directory":
        data = os.path.dirname(workspace.database)
        os.rename(data, data + ".away")


def fix_it(fault, workspace, disk):
    if fault == "disk full":
        disk.unfill()
    elif fault == "read-only filesystem":
        disk.read_only(False)
    elif fault == "missing directory":
        data = os.path.dirname(workspace.database)
        os.rename(data + ".away", data)


# ---------------------------------------------------------------------------
# 3b. Slow and idle clients, huge header blocks.
# ---------------------------------------------------------------------------

def run_slow_clients(result, workspace, idle=50, slowloris=1, huge=1, resets=2, probes=20,
                     timeout_s=2.0, seed=5):
    """While `idle` connections (opened in a burst) sit silent, `slowloris`
    clients dribble header lines, `huge` clients send 100 header lines of 60
    KB and `resets` clients break off mid-request, valid requests must still
    be answered at once; the server must drop the slow and idle ones after
    timeout_s, and the huge ones after MAX_REQUEST_BYTES, and log no traceback."""
    rng = random.Random(seed)
    serve = Serve(workspace, timeout_s=timeout_s)
    sockets, threads, drops = [], [], collections.defaultdict(list)
    rss_before = serve.rss_kib()
    try:
        def connect(first):  # in a burst, from 8 threads at once
            for i in range(first, idle, 8):
                started = time.monotonic()
                sockets.append(socket.create_connection(
                    ("127.0.0.1", serve.port), timeout=timeout_s + 5,
                    source_address=("127.4.%d.%d" % (i // 200, i % 200 + 1), 0)))
                result.time("connect in a burst", time.monotonic() - started)

        burst = [threading.Thread(target=connect, args=(first,)) for first in range(8)]
        for thread in burst:
            thread.start()
        for thread in burst:
            thread.join()
        slowest = max(result.latencies["connect in a burst"])
        if slowest > 0.5:  # a SYN dropped and sent again: a full listen backlog
            result.violate("a connection in a burst took %.2f s" % slowest)

        def dribble(index):
            started = time.monotonic()
            sock = socket.create_connection(("127.0.0.1", serve.port), timeout=1)
            try:
                sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
                for line in range(int(4 * (timeout_s + 5))):
                    time.sleep(0.25)
                    sock.sendall(b"X-Slow-%d: %d\r\n" % (line, index))
            except OSError:
                pass
            drops["slowloris"].append(time.monotonic() - started)
            sock.close()

        def reset(index):  # half a request, then a TCP reset instead of the rest
            sock = socket.create_connection(("127.0.0.1", serve.port), timeout=5)
            sock.sendall(b"POST / HTTP/1.1\r\nContent-Type: " + FORM.encode() +
                         b"\r\nContent-Length: 100\r\n\r\ntype=up")
            time.sleep(0.1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()

        def flood(index):
            started, sent = time.monotonic(), 0
            sock = socket.create_connection(("127.0.0.1", serve.port), timeout=5)
            try:
                sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
                line = b"X-Pad: " + b"a" * 60000 + b"\r\n"
                for _ in range(98):
                    sock.sendall(line)
                    sent += len(line)
                sock.sendall(b"\r\n")
                answer = sock.recv(100)
                if answer:  # an answer to 6 MB of headers: it read them all
                    result.violate("a 6 MB header block was answered: %r" % answer[:60])
            except OSError:
                pass
            drops["huge"].append(time.monotonic() - started)
            result.count("header bytes a huge client got into its socket", sent)
            sock.close()

        threads = [threading.Thread(target=dribble, args=(i,)) for i in range(slowloris)]
        threads += [threading.Thread(target=flood, args=(i,)) for i in range(huge)]
        threads += [threading.Thread(target=reset, args=(i,)) for i in range(resets)]
        for thread in threads:
            thread.start()
        time.sleep(0.2)
        for i in range(probes):
            source = "127.5.%d.%d" % (rng.randint(0, 255), rng.randint(1, 254))
            body = message("slow%02d" % i, source, support.now()).body
            try:
                reply = serve.post(body, source=source, timeout_s=timeout_s)
            except (OSError, http.client.HTTPException) as error:
                result.violate("a valid update went unanswered: %s" % error)
                continue
            result.time("valid update while held", reply.elapsed)
            if reply.status != 200 or reply.elapsed > 1.0:
                result.violate("valid update while held: %r in %.3f s"
                               % (reply, reply.elapsed))
            time.sleep(0.02)
        result.set("server RSS growth, KiB", serve.rss_kib() - rss_before)
        for thread in threads:
            thread.join(timeout_s + 10)
        closed = 0
        for sock in sockets:
            try:
                closed += sock.recv(1) == b""
            except OSError:
                closed += 1
            sock.close()
        result.set("idle connections dropped by the server", "%d of %d" % (closed, idle))
        if closed != idle:
            result.violate("only %d of %d idle connections were dropped" % (closed, idle))
        for kind, limit_s in (("slowloris", timeout_s + 1.5), ("huge", 2.0)):
            for seconds in drops[kind]:
                result.time("%s held for" % kind, seconds)
                if seconds > limit_s:
                    result.violate("a %s client was held %.1f s (limit %.1f s)"
                                   % (kind, seconds, limit_s))
        reply = serve.post(message("slowafter", "127.5.0.1", support.now()).body,
                           source="127.5.0.1")
        if reply.status != 200:
            result.violate("after the slow clients: %r" % reply)
    finally:
        for sock in sockets:
            sock.close()
        log = serve.stop()
    check_log(result, log, "the serve error log")


# ---------------------------------------------------------------------------
# 4. A flood of refused requests against legitimate updates.
# ---------------------------------------------------------------------------

def run_refusal_flood(result, workspace, serve, fixed=3, rotating=3, duration_s=1.5,
                      legitimate=10, seed=6, enough=lambda statuses: True):
    """Forged updates as fast as threads can send them: `fixed` threads from
    one address each (the rate limit's case), `rotating` threads from a new
    address every time (which no per-address limit stops, so each one is a
    refusal to log), while a legitimate client sends a valid update every
    50 ms from its own address. The legitimate updates must all be accepted,
    promptly; the log must stay within its share of writes. It lasts at least
    duration_s, and until `enough(statuses)` (on a loaded machine fewer
    requests get through in a given time), 50 s at most: within the minute
    that the limits count over."""
    rng = random.Random(seed)
    stop = threading.Event()
    statuses = collections.Counter()
    attackers = fixed + rotating

    def attack(index):
        local = random.Random(rng.random())
        serial = 0
        while not stop.is_set():
            serial += 1
            source = ("127.%d.%d.%d" % (8 + index, serial // 250 % 250, serial % 250 + 1)
                      if index >= fixed else "127.7.0.%d" % (index + 1))
            body = message(local.choice(("home", "victim")), source,
                           support.now()).body[:-64] + "%064x" % local.getrandbits(256)
            try:
                reply = serve.post(body, source=source)
            except (OSError, http.client.HTTPException) as error:
                result.violate("a forged request got no answer: %s" % error)
                continue
            statuses[reply.status] += 1
            if reply.status not in (403, 429):
                result.violate("forged update answered %r" % reply)

    threads = [threading.Thread(target=attack, args=(i,)) for i in range(attackers)]
    for thread in threads:
        thread.start()
    legit_ts, sent, started = support.now() - 100, 0, time.monotonic()
    while (sent < legitimate or time.monotonic() < started + duration_s
           or not enough(statuses)) and time.monotonic() < started + 50:
        legit_ts, sent = legit_ts + 1, sent + 1
        item = message("steady", "127.0.0.9", legit_ts)
        reply = serve.post(item.body, source=item.ip)
        result.time("legitimate update during the flood", reply.elapsed)
        if reply.status != 200:
            result.violate("a legitimate update during the flood: %r" % reply)
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join()
    for status, count in sorted(statuses.items()):
        result.set("forged requests answered %d" % status, count)
    connection = sqlite3.connect(workspace.database, timeout=30)
    try:
        (rows,) = connection.execute("SELECT COUNT(*) FROM refused").fetchone()
        leaked = connection.execute(
            "SELECT COUNT(*) FROM refused WHERE reason GLOB '*[0-9a-f][0-9a-f][0-9a-f][0-9a-f]"
            "[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]*'").fetchone()[0]
    finally:
        connection.close()
    result.set("refused-log rows kept", rows)
    result.set("database size, KiB", os.path.getsize(workspace.database) // 1024)
    if leaked:
        result.violate("%d refused-log rows hold a hex string" % leaked)
    return statuses, rows


# ---------------------------------------------------------------------------
# 5. Secrets in the process list.
# ---------------------------------------------------------------------------

class ProcessListWatch(threading.Thread):
    """Reads the command line (what `ps` shows) of every process this one
    started, directly or not, until stopped, and reports any key in one."""

    def __init__(self, result):
        threading.Thread.__init__(self)
        self.result = result
        self.stopped = threading.Event()
        self.daemon = True

    @staticmethod
    def descendants():
        parents = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open("/proc/%s/stat" % entry) as stat:
                        # pid (comm) state ppid ...: comm may hold spaces and ')'
                        parents[entry] = stat.read().rsplit(")", 1)[1].split()[1]
                except (OSError, IndexError):
                    continue  # gone already
        ours, me = [], str(os.getpid())
        for pid in parents:
            ancestor, hops = parents[pid], 0
            while ancestor in parents and ancestor != me and hops < 64:
                ancestor, hops = parents[ancestor], hops + 1
            if ancestor == me:
                ours.append(pid)
        return ours

    def run(self):
        while not self.stopped.is_set():
            for entry in self.descendants():
                try:
                    with open("/proc/%s/cmdline" % entry, "rb") as cmdline:
                        text = cmdline.read().replace(b"\0", b" ").decode("utf-8", "replace")
                except OSError:
                    continue  # gone already
                self.result.count("command lines read")
                for key in KEYS:
                    if key in text:
                        self.result.violate("a key in a command line: %r" % text[:200])
            self.stopped.wait(0.01)

    def stop(self):
        self.stopped.set()
        self.join()
