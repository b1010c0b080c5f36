#!/usr/bin/env python3
"""run.py - `make bench`: ipupdate's costs as ratios to floors and peers
measured in the same run, on the same machine (absolute times on a busy
machine are noise; a ratio to a floor measured a second earlier is not).

  python3 bench/run.py            # everything, about 1-2 minutes
  python3 bench/run.py --quick    # a fast check of the same table (BENCH_QUICK=1)
  python3 bench/run.py --only cgi,scale

Sections:
  cgi     one CGI execution of each request type vs `python3 -c pass` (same
          interpreter, same flags), and vs the original's PHP under php-cgi
          when php-cgi is installed; shebang flags and their cost
  imports what each CGI path imports beyond the bare interpreter (-X importtime)
  serve   `ipupdate_server.py serve` under load vs a bare http.server, 1/8/32
          connections; valid updates per second (each a durable SQLite commit)
  scale   viewer latency over 10 to 1,000,000 history rows; rows per heartbeat
  client  one whole ipupdater.py run (two round trips) vs `python3 -c pass`

The scripts run under BENCH_PYTHON (else /usr/bin/python3 when it exists, else
this interpreter): a CGI host runs the system's interpreter, and one whose
site-packages run start-up hooks (pyenv's, for one) inflates every figure.
Only 127.0.0.1 is used. Targets are printed next to the figures; nothing here
fails on timing. Exit status 1 only when a request got a wrong answer.
"""

import argparse
import json
import os
import random
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import load  # noqa: E402  (bench/load.py, beside this file)

SERVER = os.path.join(ROOT, "ipupdate_server.py")
VIEWER = os.path.join(ROOT, "getip_cgi.py")
CLIENT = os.path.join(ROOT, "ipupdater.py")


def set_root(root):
    """Measure the scripts in `root` (this checkout, or a patched copy of it)."""
    global SERVER, VIEWER, CLIENT
    SERVER = os.path.join(root, "ipupdate_server.py")
    VIEWER = os.path.join(root, "getip_cgi.py")
    CLIENT = os.path.join(root, "ipupdater.py")


FLOOR_SERVER = os.path.join(HERE, "floor_server.py")
PHP_DIR = os.path.join(HERE, "php")
KEY = "bench-key-0c7d41f2b9a5e836"
NAIVE_IMPORTS = "configparser, urllib.parse, ipaddress, sqlite3, hmac, wsgiref.handlers, json"
SECTIONS = ("cgi", "imports", "serve", "scale", "client")

TARGET_CGI = 1.7           # x the interpreter floor, every CGI request
TARGET_READS = 0.6         # x the bare http.server floor, reads under load
TARGET_FLAT = 1.2          # viewer latency, 1M rows / 10 rows
TARGET_CLIENT = 3.5        # x the interpreter floor, one whole client run


def default_python():
    return os.environ.get("BENCH_PYTHON") or (
        "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable)


class Broken(Exception):
    """A request got a wrong answer: the figure would measure an error path."""


# ---------------------------------------------------------------------------
# Timing processes: interleaved rounds, medians.
# ---------------------------------------------------------------------------

class Case(object):
    """One command to time. `prepare()` -> (argv, env, stdin bytes), called
    untimed before each run; `check(stdout, returncode)` -> error text or None."""

    def __init__(self, label, prepare, check=None):
        self.label = label
        self.prepare = prepare
        self.check = check or (lambda out, code: None if code == 0 else "exit %d" % code)
        self.times = []
        self.cpu_times = []
        self.failures = []

    def run_once(self):
        argv, env, stdin = self.prepare()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(argv, input=stdin, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=60)
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu_times.append(after.ru_utime + after.ru_stime
                              - before.ru_utime - before.ru_stime)
        problem = self.check(done.stdout, done.returncode)
        if problem:
            self.failures.append("%s (stderr: %s)" % (
                problem, done.stderr.decode("utf-8", "replace").strip()[-300:]))
        self.times.append(elapsed)

    def median_ms(self):
        """Median wall time of a run: what the web server waits for."""
        return median(self.times) * 1000

    def cpu_ms(self):
        """Median CPU time (user + system) of a run: steadier on a busy machine."""
        return median(self.cpu_times) * 1000


def median(values):
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def measure(cases, runs):
    """Each case `runs` times, in rounds of all cases in a fresh random order,
    so that drift of the machine falls on all of them alike. One untimed
    warm-up round first (page cache, __pycache__)."""
    for case in cases:
        case.run_once()
        case.times, case.cpu_times = [], []
    for _ in range(runs):
        for case in random.sample(cases, len(cases)):
            case.run_once()
    return cases


def child_env(**extra):
    """Our environment less what could change a child's behaviour."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("IPUPDATE_", "HTTP_", "GATEWAY_", "PYTHON"))
           and key.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    env.update(extra)
    return env


def cgi_env(script, config, method="GET", body=b"", query="", **extra):
    """The environment a web server gives a CGI program (RFC 3875)."""
    env = child_env(
        GATEWAY_INTERFACE="CGI/1.1", SERVER_PROTOCOL="HTTP/1.1", REQUEST_METHOD=method,
        SCRIPT_NAME="/cgi-bin/" + os.path.basename(script), SCRIPT_FILENAME=script,
        PATH_INFO="", QUERY_STRING=query, REMOTE_ADDR="127.0.0.1", REMOTE_PORT="50000",
        SERVER_NAME="localhost", SERVER_PORT="80", SERVER_SOFTWARE="bench",
        REDIRECT_STATUS="200")
    if config:
        env["IPUPDATE_CONFIG"] = config
    if method == "POST":
        env["CONTENT_TYPE"] = load.FORM
        env["CONTENT_LENGTH"] = str(len(body))
    env.update(extra)
    return env


def cgi_check(expect_body):
    """A check that the CGI answered 200 with a body matching `expect_body` (a regex)."""
    pattern = re.compile(expect_body.encode())

    def check(out, code):
        head, _, body = out.partition(b"\r\n\r\n")
        if not body and b"\n\n" in out:
            head, _, body = out.partition(b"\n\n")
        status = re.search(rb"(?im)^status:\s*(\d+)", head)
        if code != 0 or (status and status.group(1) != b"200") or not pattern.search(body):
            return "exit %d, answer %r" % (code, out[-200:])
        return None

    return check


def signed_update(name, ts, key=KEY, address="127.0.0.1"):
    message = "type=update&ip=%s&name=%s&ts=%d" % (address, name, ts)
    import hashlib
    import hmac
    return (message + "&h=" + hmac.new(key.encode(), message.encode(),
                                       hashlib.sha256).hexdigest()).encode()


class Heartbeats(object):
    """Valid heartbeats: ts rises by one per call; near the future edge of the
    server's window the next name takes over (its first update is a new row)."""

    def __init__(self, name):
        self.name = name
        self.generation = 0
        self.ts = int(time.time()) - 280

    def __call__(self):
        self.ts += 1
        if self.ts > time.time() + 250:
            self.generation += 1
            self.ts = int(time.time()) - 280
        name = self.name + ("" if not self.generation else "-%d" % self.generation)
        return signed_update(name, self.ts)


HEARTBEAT_REPLY = r"^OK: (Timestamp|New IP) updated$"


def cgi_post(python, script, config, body):
    """One CGI POST outside any timing (to put a first row in a database)."""
    return subprocess.run([python, script], input=body, stdout=subprocess.PIPE,
                          env=cgi_env(script, config, "POST", body)).stdout


# ---------------------------------------------------------------------------
# Fixtures: a config and database in a temporary directory.
# ---------------------------------------------------------------------------

def write_config(directory, database="ipupdate.sqlite", name="ipupdate.conf"):
    path = os.path.join(directory, name)
    with open(path, "w") as config_file:
        config_file.write("[ipupdate]\nsecret = %s\ndatabase = %s\ntimezone = Europe/Lisbon\n"
                          % (KEY, database))
    return path


def php_layout(directory, database):
    """The original's layout: the scripts in www/, config.php one level up."""
    www = os.path.join(directory, "php", "www")
    os.makedirs(www)
    for script in ("getip.php", "ipupdate.php"):
        shutil.copy(os.path.join(PHP_DIR, script), www)
    with open(os.path.join(directory, "php", "config.php"), "w") as config_file:
        config_file.write("<?php\n$secret = '%s';\n$database = '%s';\n$timezone = "
                          "'Europe/Lisbon';\n" % (KEY, database))
    return www


class Process(object):
    """A server subprocess that prints 'http://HOST:PORT/' when it is ready."""

    def __init__(self, argv, env=None):
        self.stderr_file = tempfile.TemporaryFile()
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.stderr_file,
                                        env=env or child_env())
        line = self.process.stdout.readline().decode()
        match = re.search(r"http://(\S+?):(\d+)/", line)
        if not match:
            self.stop()
            self.stderr_file.seek(0)
            raise Broken("%s did not start: %r %s" % (argv[1], line,
                                                       self.stderr_file.read()[-500:]))
        self.url = "http://127.0.0.1:%s/" % match.group(2)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        self.stderr_file.close()


# ---------------------------------------------------------------------------
# Printing.
# ---------------------------------------------------------------------------

def row(label, value, ratio=None, target=None, note=""):
    verdict = ""
    if ratio is not None and target is not None:
        good = ratio <= target if target >= 1 else ratio >= target
        verdict = ("ok " if good else "OVER") + (" (%s %.1fx)" % ("<=" if target >= 1 else
                                                                  ">=", target))
    print("  %-52s %12s  %7s  %-14s %s" % (label, value,
                                          "%.2fx" % ratio if ratio is not None else "",
                                          verdict, note))


def cgi_row(case, floor_ms, floor_cpu_ms, target=None, note=""):
    """label, wall, wall/floor, cpu, cpu/floor, verdict on the wall ratio, note."""
    ratio = case.median_ms() / floor_ms
    verdict = ""
    if target is not None:
        verdict = "%s (<= %.1fx)" % ("ok  " if ratio <= target else "OVER", target)
    print("  %-52s %6.1f ms %6.2fx %6.1f ms %6.2fx  %-15s %s" % (
        case.label, case.median_ms(), ratio, case.cpu_ms(), case.cpu_ms() / floor_cpu_ms,
        verdict, note))


def heading(title):
    print("\n" + title)
    print("  " + "-" * (len(title) + 10))


# ---------------------------------------------------------------------------
# 1. CGI cold start.
# ---------------------------------------------------------------------------

def bench_cgi(args, workdir, broken):
    python = args.python
    config = write_config(workdir)
    # One accepted update first: the viewer then has something to show, and
    # every timed update is a heartbeat (the common case: the address is unchanged).
    cgi_post(python, SERVER, config, signed_update("home", int(time.time()) - 290))
    heartbeats = Heartbeats("home")
    have_viewer = os.path.exists(VIEWER)
    php = shutil.which("php-cgi")

    def python_case(label, flags, code):
        return Case(label, lambda: ([python] + flags + ["-c", code], child_env(), b""))

    def server_case(label, flags, body_factory, expect, script=None):
        script = script or SERVER

        def prepare():
            body = body_factory()
            return [python] + flags + [script], cgi_env(script, config, "POST", body), body
        return Case(label, prepare, cgi_check(expect))

    def viewer_case(label, flags, script=None):
        script = script or VIEWER
        return Case(label, lambda: ([python] + flags + [script], cgi_env(script, config), b""),
                    cgi_check(r"127\.0\.0\.1"))

    ip_body = lambda: ("type=ip&ts=%d&nonce=%s" % (time.time(), "5a" * 16)).encode()
    legacy_ip_body = lambda: ("type=ip&ts=%d" % time.time()).encode()
    cases = {
        "floor": python_case("python3 -c pass  (the floor)", [], "pass"),
        "floor-IS": python_case("python3 -I -S -c pass  (no site: its cost)", ["-I", "-S"],
                                "pass"),
        "naive": python_case("python3 -c 'import <a naive import set>'", [],
                             "import " + NAIVE_IMPORTS),
        "urllib": python_case("python3 -c 'import urllib.request'", [],
                              "import urllib.request"),
        # The modules the user fixed, imported and nothing done: no request of
        # that kind can cost less (type=ip signs; an update also stores; the
        # viewer reads).
        "bound-ip": python_case("python3 -c 'import hmac'", [], "import hmac"),
        "bound-update": python_case("python3 -c 'import hmac, sqlite3'", [],
                                    "import hmac, sqlite3"),
        "bound-viewer": python_case("python3 -c 'import sqlite3'", [], "import sqlite3"),
        "ip": server_case("ipupdate_server.py  POST type=ip (nonce)", [], ip_body,
                          r"^ip=127\.0\.0\.1&ts=\d+&nonce=\w+&now=\d+&h=[0-9a-f]{64}$"),
        "ip-legacy": server_case("ipupdate_server.py  POST type=ip (original form)", [],
                                 legacy_ip_body, r"^ip=127\.0\.0\.1&ts=\d+&h=[0-9a-f]{64}$"),
        "update": server_case("ipupdate_server.py  POST type=update (heartbeat)", [],
                              heartbeats, HEARTBEAT_REPLY),
    }
    if have_viewer:
        cases["viewer"] = viewer_case("getip_cgi.py  GET", [])
    if php:
        www = php_layout(workdir, os.path.join(workdir, "php.sqlite"))
        php_heartbeats = Heartbeats("home")

        def php_case(label, script, method, body_factory, expect):
            path = os.path.join(www, script)

            def prepare():
                body = body_factory() if body_factory else b""
                return [php], cgi_env(path, None, method, body), body
            return Case(label, prepare, cgi_check(expect))

        first = signed_update("home", int(time.time()) - 290)
        subprocess.run([php], input=first, stdout=subprocess.PIPE,
                       env=cgi_env(os.path.join(www, "ipupdate.php"), None, "POST", first))
        cases["php-viewer"] = php_case("php-cgi getip.php  GET  (the original)", "getip.php",
                                       "GET", None, r"127\.0\.0\.1")
        cases["php-ip"] = php_case("php-cgi ipupdate.php  POST type=ip", "ipupdate.php",
                                   "POST", legacy_ip_body, r"^ip=127\.0\.0\.1&ts=\d+&h=")
        cases["php-update"] = php_case("php-cgi ipupdate.php  POST update (heartbeat)",
                                       "ipupdate.php", "POST", php_heartbeats,
                                       HEARTBEAT_REPLY)
    # Shebang flags: each against the floor with the same flags.
    flag_sets = [["-I"], ["-S"], ["-I", "-S"]] if not args.quick else [["-I"]]
    for flags in flag_sets:
        tag = " ".join(flags)
        cases["floor" + tag] = python_case("python3 %s -c pass" % tag, flags, "pass")
        cases["update" + tag] = server_case("python3 %s ipupdate_server.py  update" % tag,
                                            flags, heartbeats, HEARTBEAT_REPLY)
        if have_viewer:
            cases["viewer" + tag] = viewer_case("python3 %s getip_cgi.py  GET" % tag, flags)
    # The same scripts behind a 5-line launcher that imports them: their bytecode
    # then comes from __pycache__ instead of being compiled on every request.
    launchers = write_launchers(python, workdir)
    cases["launch-ip"] = server_case("launcher -> ipupdate_server  type=ip", [], ip_body,
                                     r"^ip=127\.0\.0\.1&ts=", launchers["ipupdate_server"])
    cases["launch-update"] = server_case("launcher -> ipupdate_server  update", [],
                                         Heartbeats("launched"), HEARTBEAT_REPLY,
                                         launchers["ipupdate_server"])
    if have_viewer:
        cases["launch-viewer"] = viewer_case("launcher -> getip_cgi  GET", [],
                                             launchers["getip_cgi"])
    # Other trees (--also), measured in the same rounds: a change against the checkout.
    for number, root in enumerate(args.also):
        tag = "[%s] " % os.path.basename(root.rstrip("/"))
        script = os.path.join(root, "ipupdate_server.py")
        cases["also-ip%d" % number] = server_case(tag + "ipupdate_server.py  type=ip", [],
                                                  ip_body, r"^ip=127\.0\.0\.1&ts=", script)
        cases["also-update%d" % number] = server_case(
            tag + "ipupdate_server.py  update", [], Heartbeats("also%d" % number),
            HEARTBEAT_REPLY, script)
        if os.path.exists(os.path.join(root, "getip_cgi.py")):
            cases["also-viewer%d" % number] = viewer_case(
                tag + "getip_cgi.py  GET", [], os.path.join(root, "getip_cgi.py"))
    measure(list(cases.values()), args.runs)

    floor, floor_cpu = cases["floor"].median_ms(), cases["floor"].cpu_ms()
    heading("1. CGI cold start: one request = one process  (median of %d runs, interleaved; "
            "interpreter %s)" % (args.runs, python))
    print("  %-52s %9s %7s %9s %7s  %-15s %s" % ("", "wall", "/floor", "cpu", "/floor",
                                                 "target (wall)", ""))
    order = ["floor", "floor-IS", "viewer", "ip", "ip-legacy", "update", "launch-viewer",
             "launch-ip", "launch-update"] + [
        "also-%s%d" % (kind, number) for number in range(len(args.also))
        for kind in ("viewer", "ip", "update")] + [
        "bound-viewer", "bound-ip", "bound-update", "naive", "urllib",
        "php-viewer", "php-ip", "php-update"]
    peers = {"viewer": "php-viewer", "ip-legacy": "php-ip", "update": "php-update",
             "launch-viewer": "php-viewer", "launch-update": "php-update"}
    notes = {"floor-IS": "site start-up hooks: in every figure",
             "naive": "a naive import set (reference)",
             "urllib": "urllib.request alone (reference)",
             "bound-viewer": "the least a viewer GET can cost",
             "bound-ip": "the least a type=ip can cost",
             "bound-update": "the least an update can cost"}
    targets = dict((key, TARGET_CGI) for key in cases
                   if key.startswith(("viewer", "ip", "update", "also-", "launch-")))
    for key in order:
        if key in cases:
            case = cases[key]
            note = notes.get(key, "")
            if peers.get(key) in cases:
                note = "%.2fx the PHP original's" % (case.median_ms() /
                                                     cases[peers[key]].median_ms())
            cgi_row(case, floor, floor_cpu, targets.get(key), note)
            report_failures(case, broken)
    if not have_viewer:
        row("getip_cgi.py  GET", "n/a", note="getip_cgi.py is not there yet")
    if not php:
        row("php-cgi (the original's PHP)", "n/a",
            note="php-cgi not installed (apt-get install php-cgi php-sqlite3); "
                 "reference: 1.8-1.9x")
    print("\n  shebang flags: wall and cpu vs the plain floor; last column vs the floor with "
          "the same flags")
    for flags in flag_sets:
        tag = " ".join(flags)
        flag_floor = cases["floor" + tag]
        cgi_row(flag_floor, floor, floor_cpu)
        for key in ("update" + tag, "viewer" + tag):
            if key in cases:
                case = cases[key]
                cgi_row(case, floor, floor_cpu, TARGET_CGI, "%.2fx of its own floor"
                        % (case.median_ms() / flag_floor.median_ms()))
                report_failures(case, broken)
    return {key: case.median_ms() for key, case in cases.items()}


LAUNCHER = """#!%s
import sys
sys.path.insert(0, %r)  # where the module and its __pycache__ are
import %s
sys.exit(%s.main(sys.argv[1:]))
"""


def write_launchers(python, workdir):
    """A launcher per CGI script, and the scripts compiled to __pycache__ (as
    `python3 -m compileall` at install time would): {module: launcher path}."""
    launchers = {}
    directory = os.path.dirname(SERVER)
    for script in (SERVER, VIEWER):
        if not os.path.exists(script):
            continue
        module = os.path.basename(script)[:-3]
        subprocess.run([python, "-m", "py_compile", script], check=True)
        path = os.path.join(workdir, "launch-" + os.path.basename(script))
        with open(path, "w") as launcher:
            launcher.write(LAUNCHER % (python, directory, module, module))
        os.chmod(path, 0o755)
        launchers[module] = path
    return launchers


def report_failures(case, broken):
    if case.failures:
        broken.append("%s: %d of %d runs wrong, first: %s" % (
            case.label, len(case.failures), len(case.times), case.failures[0]))
        print("    ^ WRONG ANSWER in %d runs: %s" % (len(case.failures), case.failures[0][:200]))


# ---------------------------------------------------------------------------
# 1b. What each CGI path imports, and compiles.
# ---------------------------------------------------------------------------

def import_times(argv, env, stdin):
    """{module: (cumulative us, depth, {child: cumulative us})} of one -X importtime run."""
    done = subprocess.run(argv[:1] + ["-X", "importtime"] + argv[1:], input=stdin, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    figures, pending = {}, []
    for line in done.stderr.decode("utf-8", "replace").splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if not match:
            continue
        cumulative, depth, name = int(match.group(2)), len(match.group(3)) // 2, match.group(4)
        # -X importtime prints a module after the modules it imported (one level deeper).
        children = {}
        while pending and pending[-1][1] == depth + 1:
            child, _, child_us = pending.pop()
            children[child] = child_us
        pending = [entry for entry in pending if entry[1] <= depth]
        pending.append((name, depth, cumulative))
        figures[name] = (cumulative, depth, children)
    return figures


def bench_imports(args, workdir, broken):
    python = args.python
    config = write_config(workdir, name="imports.conf")
    runs = 3 if args.quick else 7
    heartbeats = Heartbeats("imports")
    cgi_post(python, SERVER, config, heartbeats())
    floor = import_times([python, "-c", "pass"], child_env(), b"")
    paths = [("ipupdate_server.py type=ip", SERVER, "POST",
              lambda: ("type=ip&ts=%d&nonce=%s" % (time.time(), "5a" * 16)).encode()),
             ("ipupdate_server.py update", SERVER, "POST", heartbeats)]
    if os.path.exists(VIEWER):
        paths.append(("getip_cgi.py GET", VIEWER, "GET", lambda: b""))
    if os.path.exists(CLIENT):
        paths.append(("ipupdater.py (imports only)", CLIENT, None, lambda: b""))
    heading("1b. What each path imports beyond `python3 -c pass`  (-X importtime, median of "
            "%d runs; ms, cumulative, top level, with the biggest inner imports)" % runs)
    for label, script, method, body in paths:
        samples = {}
        for _ in range(runs):
            data = body()
            if method is None:  # the client: what importing it costs, run nothing
                argv = [python, "-c", "import sys; sys.path.insert(0, %r); import %s" % (
                    os.path.dirname(script), os.path.basename(script)[:-3])]
                env = child_env()
            else:
                argv, env = [python, script], cgi_env(script, config, method, data)
            for name, value in import_times(argv, env, data).items():
                samples.setdefault(name, []).append(value)
        top = []
        for name, values in samples.items():
            if name in floor or values[0][1] != 0:
                continue
            values.sort(key=lambda value: value[0])
            cumulative, _, children = values[(len(values) - 1) // 2]  # the median run's
            inner = sorted(((us, child) for child, us in children.items()), reverse=True)[:2]
            top.append((cumulative, name, inner))
        top.sort(reverse=True)
        print("  %-28s %5.1f ms: %s" % (label, sum(us for us, _, _ in top) / 1000.0, "; ".join(
            "%s %.1f%s" % (name, us / 1000.0, " (%s)" % ", ".join(
                "%s %.1f" % (child, child_us / 1000.0) for child_us, child in inner)
                if inner else "") for us, name, inner in top[:5])))
    print("  %-28s" % "compiling the script itself:", end="")
    for script in (SERVER, VIEWER, CLIENT):
        if os.path.exists(script):
            print(" %s %.1f ms;" % (os.path.basename(script), compile_ms(python, script)),
                  end="")
    print("\n  (`python3 script.py` compiles the script on every run: only imported modules "
          "are cached in __pycache__)")


def compile_ms(python, script):
    """Median time to compile `script`, in a fresh interpreter each time (as a CGI run does)."""
    code = ("import sys, time; source = open(sys.argv[1], 'rb').read(); "
            "started = time.perf_counter(); compile(source, sys.argv[1], 'exec'); "
            "print(time.perf_counter() - started)")
    values = sorted(float(subprocess.run([python, "-c", code, script], stdout=subprocess.PIPE)
                          .stdout) for _ in range(5))
    return values[2] * 1000


# ---------------------------------------------------------------------------
# 2. Local server throughput.
# ---------------------------------------------------------------------------

def drive(args, url, connections, method="GET", body=None, updates=False, expect=200,
          duration=None):
    """One load run; figures as load.run_load returns them. wrk for fixed bodies when
    it is installed (and not --driver stdlib), else bench/load.py."""
    duration = duration or args.duration
    if not updates and args.driver == "wrk":
        return drive_wrk(url, connections, method, body, duration)
    if updates:
        factory = load.heartbeat_bodies(KEY, prefix="load%d-" % random.randrange(10 ** 6))
    else:
        factory = load.fixed_body(body) if body is not None else None
    return load.run_load(url, connections, duration, method=method,
                         body_factory=factory, expect_status=expect)


def drive_wrk(url, connections, method, body, duration):
    script = None
    argv = ["wrk", "-t1", "-c%d" % connections, "-d%ds" % max(1, round(duration)),
            "--latency", url]
    if method == "POST":
        handle, script = tempfile.mkstemp(suffix=".lua")
        with os.fdopen(handle, "w") as lua:
            lua.write('wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "%s"\n'
                      % (json.dumps(body.decode()), load.FORM))
        argv[1:1] = ["-s", script]
    try:
        out = subprocess.run(argv, stdout=subprocess.PIPE, timeout=60).stdout.decode()
    finally:
        if script:
            os.remove(script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       out)
    return {"rps": rps, "p50_ms": float(p50.group(1)) * scale[p50.group(2)],
            "unexpected": int(non2xx.group(1)) if non2xx else 0,
            "errors": sum(int(n) for n in errors.groups()) if errors else 0,
            "statuses": {}, "first_unexpected": out[-300:]}


def bench_serve(args, workdir, broken):
    python = args.python
    config = write_config(workdir, name="serve.conf", database="serve.sqlite")
    database = os.path.join(workdir, "serve.sqlite")
    # One accepted update, so that the viewer shows a row.
    cgi_post(python, SERVER, config, signed_update("home", int(time.time()) - 290))
    ip_body = ("type=ip&ts=1&nonce=" + "5a" * 16).encode()
    rounds = 1 if args.quick else 3
    have_viewer = os.path.exists(VIEWER)
    servers = []
    try:
        servers.append(("floor", Process([python, FLOOR_SERVER, "--port", "0"])))
        servers.append(("ours", Process([python, SERVER, "serve", "--config", config,
                                         "--port", "0"])))
        for root in args.also:
            servers.append(("[%s]" % os.path.basename(root.rstrip("/")), Process(
                [python, os.path.join(root, "ipupdate_server.py"), "serve", "--config",
                 config, "--port", "0"])))
        heading("2. `serve` under load vs a bare http.server ThreadingHTTPServer  (%d x %.1f s "
                "each, alternating; driver: %s)" % (
                    rounds, args.duration / rounds,
                    "wrk -t1" if args.driver == "wrk" else "bench/load.py"))
        print("  %-52s %12s  %7s  %-14s %s" % ("", "req/s", "/floor", "target", "p50 latency"))
        results = {}
        loads = [("POST type=ip", "POST", ip_body)]
        if have_viewer:
            loads.insert(0, ("viewer GET", "GET", None))
        for connections in (1, 8, 32):
            for label, method, body in loads:
                figures = dict((name, []) for name, _ in servers)
                for _ in range(rounds):
                    for name, server in random.sample(servers, len(servers)):
                        figures[name].append(drive(args, server.url, connections, method, body,
                                                   duration=args.duration / rounds))
                floor_rps = median([f["rps"] for f in figures["floor"]])
                for name, _ in servers[1:]:
                    rps = median([f["rps"] for f in figures[name]])
                    p50 = median([f["p50_ms"] for f in figures[name]])
                    results["%s %s %d" % (name, label, connections)] = rps / floor_rps
                    row("%s%-13s c=%-2d  floor %6.0f req/s" % (
                        "" if name == "ours" else name + " ", label, connections, floor_rps),
                        "%.0f" % rps, rps / floor_rps,
                        TARGET_READS if method == "GET" else None, "%.2f ms (floor %.2f ms)" % (
                            p50, median([f["p50_ms"] for f in figures["floor"]])))
                    for each in figures[name]:
                        load_failures(label, each, broken)
        # Updates last: each run adds names, which would lengthen the viewer's
        # page from one read run to the next (the floor's body stays the same).
        for connections in (1, 8, 32):
            for name, server in servers[1:]:
                mine = drive(args, server.url, connections, "POST", updates=True)
                row("%svalid updates c=%-2d  (durable commits)" % (
                    "" if name == "ours" else name + " ", connections),
                    "%.0f" % mine["rps"], None, None, "%.2f ms  (p99 %.1f ms)" % (
                        mine["p50_ms"], mine["p99_ms"]))
                load_failures("update", mine, broken)
        if not have_viewer:
            row("viewer GET", "n/a", note="getip_cgi.py is not there yet")
        bursts = dict((name, load.connect_burst(server.url, 32)) for name, server in servers)
        for name, _ in servers[1:]:
            row("%s32 clients arrive at once: last answered" % (
                "" if name == "ours" else name + " "), "%.0f ms" % (bursts[name] * 1000),
                None, None, "floor %.0f ms (a 5-deep listen queue drops SYNs: 1 s, 3 s "
                            "retransmits)" % (bursts["floor"] * 1000))
    finally:
        for _, server in servers:
            server.stop()
    synchronous = sqlite3.connect(database).execute("PRAGMA synchronous").fetchone()[0]
    print("  (updates: SQLite journal_mode=delete, synchronous=%d, every one a committed "
          "transaction)" % synchronous)
    return results


def load_failures(label, figures, broken):
    if figures["unexpected"] or figures["errors"]:
        broken.append("%s: %d unexpected statuses %s, %d errors: %s" % (
            label, figures["unexpected"], figures["statuses"], figures["errors"],
            figures.get("first_unexpected", "")))
        print("    ^ WRONG ANSWERS: %d unexpected %s, %d errors; %s" % (
            figures["unexpected"], figures["statuses"], figures["errors"],
            figures.get("first_unexpected", "")[-120:]))


# ---------------------------------------------------------------------------
# 3. Scale: history size, heartbeats.
# ---------------------------------------------------------------------------

def bench_scale(args, workdir, broken):
    python = args.python
    sizes = [10, 10000, 100000] if args.quick else [10, 10000, 1000000]
    heading("3. Scale: the viewer over history size; database growth per heartbeat")
    have_viewer = os.path.exists(VIEWER)
    if have_viewer:
        databases = []
        for rows in sizes:
            started = time.perf_counter()
            path = load.make_history(rows)
            databases.append(("{:,} rows".format(rows), path, time.perf_counter() - started))
        if not args.quick:
            started = time.perf_counter()
            path = load.make_history(sizes[-1], indexes=False)
            databases.append(("{:,} rows, original schema (no index)".format(sizes[-1]),
                              path, time.perf_counter() - started))
        cases, servers = [], []
        try:
            for rows, path, made_s in databases:
                config = write_config(workdir, name="scale-%s.conf" % len(cases), database=path)
                cases.append(Case("getip_cgi.py GET, %s" % rows,
                                  lambda config=config: ([python, VIEWER],
                                                         cgi_env(VIEWER, config), b""),
                                  cgi_check(r"\d")))
                servers.append(Process([python, SERVER, "serve", "--config", config,
                                        "--port", "0"]))
            measure(cases, max(5, args.runs // 2))
            base = cases[0].median_ms()
            for (rows, path, made_s), case in zip(databases, cases):
                row(case.label, "%.1f ms" % case.median_ms(), case.median_ms() / base,
                    TARGET_FLAT if case is not cases[0] else None,
                    "db %.0f MB%s" % (os.path.getsize(path) / 1e6,
                                      ", made in %.1f s" % made_s if made_s > 0.5 else ""))
                report_failures(case, broken)
            latencies = []
            for (rows, path, made_s), server in zip(databases, servers):
                figures = load.run_load(server.url, 1, max(0.5, args.duration / 2))
                latencies.append(figures["p50_ms"])
                row("serve GET (c=1), %s" % rows, "%.2f ms" % figures["p50_ms"],
                    figures["p50_ms"] / latencies[0],
                    TARGET_FLAT if len(latencies) > 1 else None, "%.0f req/s" % figures["rps"])
                load_failures("serve GET %s" % rows, figures, broken)
        finally:
            for server in servers:
                server.stop()
    else:
        row("viewer over 10 .. 1M rows", "n/a", note="getip_cgi.py is not there yet")

    # Heartbeats: the address is unchanged, so only the newest row's timestamp moves.
    config = write_config(workdir, name="growth.conf", database="growth.sqlite")
    database = os.path.join(workdir, "growth.sqlite")
    server = Process([python, SERVER, "serve", "--config", config, "--port", "0"])
    try:
        beats = 200 if args.quick else 500  # one name: its ts stays inside the window
        bodies = load.heartbeat_bodies(KEY, prefix="growth")  # one name, ts rising
        first = load.run_load(server.url, 1, 60, requests=1, method="POST",
                              body_factory=bodies)
        load_failures("first update", first, broken)
        before = count_rows(database), os.path.getsize(database)
        figures = load.run_load(server.url, 1, 60, requests=beats, method="POST",
                                body_factory=bodies)
        load_failures("heartbeats", figures, broken)
    finally:
        server.stop()
    after = count_rows(database), os.path.getsize(database)
    accepted = figures["statuses"].get("200", 0)
    row("database growth per heartbeat (%d accepted)" % accepted,
        "%.3f rows" % ((after[0] - before[0]) / float(max(1, accepted))), None, None,
        "%+d bytes in all (file %d bytes)" % (after[1] - before[1], after[1]))


def count_rows(database):
    connection = sqlite3.connect(database)
    try:
        return sum(connection.execute("SELECT COUNT(*) FROM %s" % table).fetchone()[0]
                   for (table,) in connection.execute(
                       "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'log_%'"))
    finally:
        connection.close()


# ---------------------------------------------------------------------------
# 4. The client.
# ---------------------------------------------------------------------------

def bench_client(args, workdir, broken):
    python = args.python
    heading("4. One whole ipupdater.py run (two round trips to a local `serve`) vs "
            "`python3 -c pass`")
    if not os.path.exists(CLIENT):
        row("ipupdater.py run", "n/a", note="ipupdater.py is not there yet")
        return
    config = write_config(workdir, name="client.conf", database="client.sqlite")
    key_file = os.path.join(workdir, "client.key")
    with open(key_file, "w") as handle:
        handle.write(KEY + "\n")
    os.chmod(key_file, 0o600)
    server = Process([python, SERVER, "serve", "--config", config, "--port", "0"])
    names = iter(range(10 ** 6))
    try:
        def client_prepare(how):
            # A fresh name for each run: two runs in one second would carry the same ts.
            options = ["--url", server.url, "-n", "bench%d" % next(names),
                       "--password-file", key_file, "-q"]
            if how == "module":
                return ([python, "-m", "ipupdater"] + options,
                        child_env(PYTHONPATH=os.path.dirname(CLIENT)), b"")
            return [python, CLIENT] + options, child_env(), b""
        subprocess.run([python, "-m", "py_compile", CLIENT], check=True)
        cases = [Case("python3 -c pass  (the floor)",
                      lambda: ([python, "-c", "pass"], child_env(), b"")),
                 Case("ipupdater.py -q run (type=ip + update)",
                      lambda: client_prepare("script")),
                 Case("python3 -m ipupdater -q run (bytecode cached)",
                      lambda: client_prepare("module")),
                 Case("python3 -c 'import urllib.request'",
                      lambda: ([python, "-c", "import urllib.request"], child_env(), b""))]
        measure(cases, args.runs)
    finally:
        server.stop()
    floor = cases[0].median_ms()
    floor_cpu = cases[0].cpu_ms()
    print("  %-52s %9s %7s %9s %7s  %-15s %s" % ("", "wall", "/floor", "cpu", "/floor",
                                                 "target (wall)", ""))
    for case, target, note in zip(cases, (None, TARGET_CLIENT, TARGET_CLIENT, None),
                                  ("", "reference: the original client ~4x",
                                   "as a crontab line can run it", "urllib's import alone")):
        cgi_row(case, floor, floor_cpu, target, note)
        report_failures(case, broken)
    accepted = count_rows(os.path.join(workdir, "client.sqlite"))
    print("  (%d client runs, %d updates stored)" % (
        len(cases[1].times) + len(cases[2].times) + 2, accepted))


# ---------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------

def describe_machine(python):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = re.search(r"model name\s*:\s*(.*)", cpuinfo.read()).group(1)
    except (OSError, AttributeError):
        pass
    version = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"],
                             stdout=subprocess.PIPE).stdout.decode().strip()
    php = shutil.which("php-cgi")
    php_version = (subprocess.run([php, "-v"], stdout=subprocess.PIPE).stdout.decode()
                   .split("\n")[0] if php else "php-cgi not installed")
    return "%s, %d cores; %s %s; %s; %s" % (cpu, os.cpu_count() or 0, python, version,
                                           php_version, os.uname().release)


def main(argv):
    parser = argparse.ArgumentParser(
        prog="run.py", description=__doc__.split("\n")[0],
        epilog=__doc__.split("\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("BENCH_QUICK", "") not in ("", "0"),
                        help="fewer runs, shorter loads (also BENCH_QUICK=1)")
    parser.add_argument("--python", default=default_python(),
                        help="interpreter for the scripts and the floors (BENCH_PYTHON)")
    parser.add_argument("--runs", type=int, help="runs per CGI case (default 40, quick 10)")
    parser.add_argument("--duration", type=float, help="seconds per load (default 3, quick 0.5)")
    parser.add_argument("--driver", choices=("auto", "stdlib", "wrk"), default="auto",
                        help="load driver for fixed-body loads (auto: wrk when installed)")
    parser.add_argument("--root", default=ROOT,
                        help="the directory of the scripts to measure (default: this "
                             "checkout; point it at a patched copy to measure a change)")
    parser.add_argument("--also", action="append", default=[], metavar="DIR",
                        help="cgi: also time the scripts in DIR in the same rounds (a "
                             "patched copy against this checkout); repeatable")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help="comma-separated sections: " + ",".join(SECTIONS))
    args = parser.parse_args(argv)
    args.runs = args.runs or (10 if args.quick else 40)
    args.duration = args.duration or (0.5 if args.quick else 3.0)
    if args.driver == "auto":
        args.driver = "wrk" if shutil.which("wrk") else "stdlib"
    set_root(os.path.abspath(args.root))
    sections = [name.strip() for name in args.only.split(",") if name.strip()]
    for name in sections:
        if name not in SECTIONS:
            parser.error("unknown section %r" % name)

    started = time.time()
    print("ipupdate bench%s: %s" % (" (quick)" if args.quick else "",
                                    describe_machine(args.python)))
    if os.path.abspath(args.root) != ROOT:
        print("scripts measured: %s" % os.path.abspath(args.root))
    workdir = tempfile.mkdtemp(prefix="ipupdate-bench-")
    broken = []
    try:
        for name in SECTIONS:
            if name in sections:
                try:
                    globals()["bench_" + name](args, workdir, broken)
                except Broken as error:
                    broken.append(str(error))
                    print("  BROKEN: %s" % error)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("\nbench done in %.0f s." % (time.time() - started))
    if broken:
        print("WRONG ANSWERS (these figures measure an error path):")
        for line in broken:
            print("  " + line[:300])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
