"""docs/DEPLOY.md, executed: every recipe in it is run or installed as written,
with only its example values replaced, against real web servers (Apache with
mod_cgid, nginx with fcgiwrap, nginx in front of `serve`), the real client and
viewer, the crontab line and the systemd units of examples/.

A web server (or systemd-analyze) that is not installed is skipped, with the
reason printed, unless IPUPDATE_REQUIRE_WEBSERVERS=1 (CI sets it): then its
absence fails. The scripts run under support.PYTHON, the interpreter of the
moment in `make test-matrix`, written into their first line as DEPLOY.md
tells a person to do. Run as root, the web servers run the scripts as their
own unprivileged user (www-data), as on a real host.
"""

import base64
import grp
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
import unittest

from tests import support
from tests.support import sign, rows, now

DEPLOY = os.path.join(support.ROOT, "docs", "DEPLOY.md")
EXAMPLES = os.path.join(support.ROOT, "examples")
ORIGINAL_CLIENT = os.path.join(support.ROOT, "tests", "original_client.py")
REQUIRE = os.environ.get("IPUPDATE_REQUIRE_WEBSERVERS") == "1"
IS_ROOT = os.geteuid() == 0
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
START_TIMEOUT_S = 10.0
NONCE = "00112233445566778899aabbccddeeff"

# Every recipe in DEPLOY.md, and the tests that use it (checked below, so a new
# recipe cannot go untested).
TESTED_RECIPES = {
    "cgi-install": "ApacheCgiTest, NginxCgiTest",
    "apache-site": "ApacheCgiTest",
    "shared-host-beside": "SharedHostTest",
    "shared-host-inside": "SharedHostTest",
    "shared-host-old-urls": "SharedHostTest",
    "shared-host-dyndns2": "SharedHostTest",
    "nginx-cgi": "NginxCgiTest",
    "client-key": "ApacheCgiTest, NginxCgiTest, ClientSchedulingTest",
    "client-first-run": "ApacheCgiTest, NginxCgiTest",
    "local-serve": "LocalServeRecipeTest",
    "proxy-config": "ReverseProxyTest",
    "nginx-proxy": "ReverseProxyTest",
    "upgrade-config": "ApacheCgiTest, NginxCgiTest, UpgradeThroughServeTest",
    "apache-old-urls": "ApacheCgiTest",
    "nginx-old-urls": "NginxCgiTest",
    "dyndns2-config": "test_dyndns2.ApacheDyndns2Test",
    "apache-dyndns2": "test_dyndns2.ApacheDyndns2Test",
    "ddclient-conf": "test_dyndns2.RealClientsThroughServeTest, test_dyndns2.ApacheDyndns2Test",
    "inadyn-conf": "test_dyndns2.RealClientsThroughServeTest",
}


# ---------------------------------------------------------------------------
# Recipes: read out of DEPLOY.md, example values replaced.
# ---------------------------------------------------------------------------

def all_recipes():
    """{name: text} of every fenced block preceded by <!-- recipe: NAME -->."""
    with open(DEPLOY, encoding="utf-8") as deploy_file:
        text = deploy_file.read()
    found = {}
    for match in re.finditer(r"<!-- recipe: ([\w-]+) -->\n```\w*\n(.*?)\n```", text, re.S):
        if match.group(1) in found:
            raise AssertionError("recipe %s appears twice in DEPLOY.md" % match.group(1))
        found[match.group(1)] = match.group(2) + "\n"
    return found


def replace_values(text, replacements, where):
    """`text` with each (example value, ours) replaced, in order. Every example
    value must occur: a recipe that no longer uses one fails here, loudly."""
    for old, new in replacements:
        if old not in text:
            raise AssertionError("%s no longer contains %r" % (where, old))
        text = text.replace(old, new)
    return text


def recipe(name, *replacements):
    return replace_values(all_recipes()[name], replacements, "recipe %s" % name)


def example(filename, *replacements):
    with open(os.path.join(EXAMPLES, filename), encoding="utf-8") as example_file:
        return replace_values(example_file.read(), replacements, "examples/" + filename)


def unit_setting(unit_text, key):
    """The one value of `key=` in a systemd unit."""
    values = re.findall(r"^%s=(.*)$" % re.escape(key), unit_text, re.M)
    if len(values) != 1:
        raise AssertionError("expected one %s= line, found %d" % (key, len(values)))
    return values[0]


def run_shell(script, cwd, timeout=60):
    """A recipe as a person runs it, but stopping at the first failing command."""
    done = subprocess.run(["bash", "-eu", "-c", script], cwd=cwd, env=support.clean_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    output = done.stdout.decode("utf-8", "replace")
    errors = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0:
        raise AssertionError("recipe failed (exit %d):\n%s\nstdout: %s\nstderr: %s"
                             % (done.returncode, script, output, errors))
    return output, errors


# ---------------------------------------------------------------------------
# Skipping, with the reason printed (or failing, where CI requires the tool).
# ---------------------------------------------------------------------------

def unavailable(reason, required=REQUIRE):
    if required:
        raise AssertionError(reason + " (required: IPUPDATE_REQUIRE_WEBSERVERS=1)")
    sys.stderr.write("\ntest_deploy: skipped: %s\n" % reason)
    raise unittest.SkipTest(reason)


def program(name):
    """The path of an installed program (sbin included), or skip."""
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":" + SBIN_PATH)
    if path is None:
        unavailable("%s is not installed (Debian: apt-get install %s)"
                    % (name, {"apache2": "apache2", "nginx": "nginx", "fcgiwrap": "fcgiwrap",
                              "systemd-analyze": "systemd"}.get(name, name)))
    return path


# ---------------------------------------------------------------------------
# The web server's user, and an interpreter it can run.
# ---------------------------------------------------------------------------

def web_account():
    """(user, group) the scripts run as: www-data when we are root (the web
    server switches to it), else ourselves (it cannot switch)."""
    if not IS_ROOT:
        return pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    return "www-data", "www-data"


WEB_USER, WEB_GROUP = web_account()


def check_web_account():
    try:
        pwd.getpwnam(WEB_USER)
        grp.getgrnam(WEB_GROUP)
    except KeyError:
        unavailable("there is no user and group %s to run the web server as" % WEB_USER)


# Run as root, the web server's user may be unable to reach support.PYTHON:
# pyenv keeps the matrix's interpreters under /root (mode 0700). Rather than
# open /root up, the web server (and fcgiwrap) start in a mount namespace of
# their own where /root is an empty, traversable tmpfs with only the
# interpreters' directory bound back in: same paths, same interpreter, and
# nothing else of /root visible. The machine itself is not changed.
REACH_SCRIPT = """set -e
mount --bind "$1/$2" "$3"
mount -t tmpfs -o mode=0755,size=64k ipupdate-test "$1"
mkdir "$1/$2"
mount --bind "$3" "$1/$2"
shift 3
exec "$@"
"""


def interpreter_wrapper(stage_directory):
    """A command prefix that lets WEB_USER run support.PYTHON ([] if it can already)."""
    if not IS_ROOT:
        return []
    done = subprocess.run([support.PYTHON, "-c", "import os, sys; print(os.path.realpath("
                           "sys.executable)); print(os.path.realpath(sys.base_prefix))"],
                          stdout=subprocess.PIPE, check=True)
    account = pwd.getpwnam(WEB_USER)
    groups = set(os.getgrouplist(WEB_USER, account.pw_gid))
    blocked = set()
    for path in done.stdout.decode().split():
        directory = path
        while directory != os.path.dirname(directory):
            directory = os.path.dirname(directory)
            info = os.stat(directory)
            if not (info.st_mode & 0o001 or (info.st_gid in groups and info.st_mode & 0o010)
                    or (info.st_uid == account.pw_uid and info.st_mode & 0o100)):
                child = os.path.relpath(path, directory).split(os.sep)[0]
                blocked.add((directory, child))
    if not blocked:
        return []
    top, child = min(blocked)
    if len(blocked) > 1 or top == "/" or not shutil.which("unshare") or \
            os.path.realpath(stage_directory).startswith(top + "/"):
        unavailable("%s cannot run %s (a directory on its path is closed to it: %s)"
                    % (WEB_USER, support.PYTHON, ", ".join(d for d, _ in sorted(blocked))))
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", REACH_SCRIPT,
            "reach-interpreter", top, child, stage_directory]


def as_web_user():
    """A command prefix that starts a program as WEB_USER (we are root)."""
    if not IS_ROOT:
        return []
    return ["setpriv", "--reuid=" + WEB_USER, "--regid=" + WEB_GROUP, "--init-groups", "--"]


# ---------------------------------------------------------------------------
# Processes and sockets.
# ---------------------------------------------------------------------------

free_port = support.free_port


class Daemon(object):
    """A server process in a session of its own, stopped with everything it started."""

    def __init__(self, name, command, log_path, port=None, socket_path=None):
        self.name = name
        self.log_path = log_path
        self.log_file = open(log_path, "ab")
        env = {"PATH": SBIN_PATH, "LANG": "C"}  # what an init system gives a daemon
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self.log_file,
                                        stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.ready(port, socket_path):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError("%s did not start: %s" % (name, self.log()))
            time.sleep(0.05)

    @staticmethod
    def ready(port, socket_path):
        if socket_path is not None:
            return os.path.exists(socket_path)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    def log(self):
        with open(self.log_path, "rb") as log_file:
            return log_file.read().decode("utf-8", "replace")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # leftovers: workers, CGI children
        except OSError:
            pass
        if self.process.poll() is None:
            self.process.wait(10)
        self.log_file.close()


def request(port, method="GET", path="/", body=b"", headers=None, source="127.0.0.1",
            host="127.0.0.1", content_type=None):
    """One HTTP request from `source` (an address of this machine); (status, headers, text)."""
    import http.client
    connection = http.client.HTTPConnection(host, port, timeout=10, source_address=(source, 0))
    all_headers = dict(headers or {})
    if content_type or method == "POST":
        all_headers["Content-Type"] = content_type or "application/x-www-form-urlencoded"
    connection.request(method, path, body=body.encode() if isinstance(body, str) else body,
                       headers=all_headers)
    response = connection.getresponse()
    text = response.read().decode("utf-8", "replace")
    headers = dict((k.lower(), v) for k, v in response.getheaders())
    connection.close()
    return response.status, headers, text


def run_program(argv, env=None, cwd=None, timeout=60):
    done = subprocess.run(argv, env=env or support.clean_env(), cwd=cwd, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return (done.returncode, done.stdout.decode("utf-8", "replace"),
            done.stderr.decode("utf-8", "replace"))


def make_original_database(path, rows_by_table):
    """A database as the original PHP ipupdate left it: its schema, no indexes."""
    connection = sqlite3.connect(path)
    for table in ("log_ipv4", "log_ipv6"):
        connection.execute("CREATE TABLE %s (id INTEGER PRIMARY KEY AUTOINCREMENT, ip "
                           "VARCHAR, name VARCHAR, first_seen UNSIGNED INT, timestamp "
                           "UNSIGNED INT)" % table)
        for row in rows_by_table.get(table, ()):
            connection.execute("INSERT INTO %s (ip, name, first_seen, timestamp) VALUES "
                               "(?, ?, ?, ?)" % table, row)
    connection.commit()
    connection.close()


def chown_to_web_user(path):
    if IS_ROOT:
        os.chown(path, pwd.getpwnam(WEB_USER).pw_uid, grp.getgrnam(WEB_GROUP).gr_gid)


SQLITE_SIDE_FILES = ("-journal", "-wal", "-shm")


def plant_side_files(database):
    """SQLite's files beside `database`, which exist only while it writes or in
    WAL mode: made here, readable by all (so only the web server can refuse
    them), holding a marker; returns the marker."""
    marker = "side-file-marker-3f9d0c1b"
    for suffix in SQLITE_SIDE_FILES:
        with open(database + suffix, "w") as side_file:
            side_file.write(marker)
        os.chmod(database + suffix, 0o644)
        chown_to_web_user(database + suffix)
    return marker


# ---------------------------------------------------------------------------
# Sections 1 and 2: the CGI scripts behind a real web server.
# ---------------------------------------------------------------------------

class CgiDeployment(object):
    """The rules every CGI deployment must keep; a subclass starts the web server.

    setUpClass runs the install recipe once; each test starts from an empty
    data directory and the configuration the recipe wrote.
    """

    @classmethod
    def setUpClass(cls):
        cls.check_installed()
        check_web_account()
        cls.directory = tempfile.mkdtemp(prefix="ipupdate-deploy-")
        os.chmod(cls.directory, 0o755)   # the web server's user walks through it
        cls.site = os.path.join(cls.directory, "site")
        cls.data = os.path.join(cls.site, "data")
        cls.home = os.path.join(cls.directory, "home")
        os.mkdir(cls.home, 0o700)
        cls.daemons = []
        try:
            output, _ = run_shell(recipe(
                "cgi-install", ("/srv/ipupdate", cls.site), ("/usr/bin/python3", support.PYTHON),
                ("WEB_USER=www-data", "WEB_USER=" + WEB_USER),
                ("WEB_GROUP=www-data", "WEB_GROUP=" + WEB_GROUP)), cwd=support.ROOT)
            cls.key = re.search(r"^The key for your clients: ([0-9a-f]{64})$", output,
                                re.M).group(1)
            cls.config = os.path.join(cls.site, "ipupdate.conf")
            with open(cls.config, "rb") as config_file:
                cls.config_bytes = config_file.read()
            cls.start_web_server()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for daemon in reversed(cls.daemons):
            daemon.stop()
        shutil.rmtree(cls.directory, ignore_errors=True)

    def setUp(self):
        for entry in os.listdir(self.data):
            os.remove(os.path.join(self.data, entry))
        with open(self.config, "wb") as config_file:
            config_file.write(self.config_bytes)
        os.chmod(self.config, 0o640)
        self.database = os.path.join(self.data, "ipupdate.sqlite")
        self.log_mark = len(self.error_log())

    def new_errors(self):
        return self.error_log()[self.log_mark:]

    def get(self, path, headers=None):
        return request(self.port, "GET", path, headers=headers)

    def post(self, path, body, headers=None):
        return request(self.port, "POST", path, body=body, headers=headers)

    def signed_update(self, name, address="127.0.0.1", ts=None):
        return support.update_body(address, name, now() if ts is None else ts, self.key)

    def write_key_file(self, key):
        run_shell(recipe("client-key", ("/home/pi", self.home), ("PASTE-THE-KEY-HERE", key)),
                  cwd=self.home)
        return os.path.join(self.home, ".ipupdate.key")

    # --- The rules -----------------------------------------------------------

    def test_install_recipe_gives_the_documented_layout(self):
        user, group = pwd.getpwnam(WEB_USER), grp.getgrnam(WEB_GROUP)
        info = os.stat(self.config)
        self.assertEqual((stat.S_IMODE(info.st_mode), info.st_gid), (0o640, group.gr_gid))
        info = os.stat(self.data)
        self.assertEqual((stat.S_IMODE(info.st_mode), info.st_uid), (0o700, user.pw_uid))
        for script in ("ipupdate_server.py", "getip_cgi.py"):
            path = os.path.join(self.site, "cgi-bin", script)
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o755)
            with open(path) as installed:
                self.assertEqual(installed.readline(), "#!%s\n" % support.PYTHON)
        self.assertEqual(os.listdir(os.path.join(self.site, "htdocs")), [])

    def test_real_client_updates_and_the_viewer_shows_it(self):
        key_file = self.write_key_file(self.key)
        self.assertEqual(stat.S_IMODE(os.stat(key_file).st_mode), 0o600)
        command = recipe("client-first-run", ("/usr/bin/python3", support.PYTHON),
                         ("/home/pi/ipupdater.py", support.CLIENT), ("/home/pi", self.home),
                         ("https://example.org", "http://127.0.0.1:%d" % self.port))
        output, errors = run_shell(command, cwd=self.home)
        self.assertEqual((output, errors), ("home: 127.0.0.1 -> OK: New IP updated\n", ""))
        self.assertEqual(len(rows(self.database)), 1)

        status, headers, text = self.get("/cgi-bin/getip_cgi.py?name=home&format=ip")
        self.assertEqual((status, text), (200, "127.0.0.1\n"))
        status, headers, text = self.get("/cgi-bin/getip_cgi.py?format=json")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual([(entry["name"], entry["ipv4"]["ip"])
                          for entry in json.loads(text)["names"]], [("home", "127.0.0.1")])
        status, headers, text = self.get("/cgi-bin/getip_cgi.py?format=html")
        self.assertEqual(status, 200)
        self.assertIn("<code>127.0.0.1</code>", text)
        self.assertEqual(self.new_errors().count("ipupdate:"), 0, self.new_errors())

    def test_scripts_run_as_the_web_servers_user(self):
        status, _, text = self.post("/cgi-bin/ipupdate_server.py", self.signed_update("probe"))
        self.assertEqual((status, text), (200, "OK: New IP updated"))
        info = os.stat(self.database)
        self.assertEqual(info.st_uid, pwd.getpwnam(WEB_USER).pw_uid)
        self.assertEqual(stat.S_IMODE(info.st_mode), 0o600)

    def assert_not_served(self, targets, secrets):
        """Each of `targets` (paths in the site directory), asked for in every
        way a URL might reach it, is refused, and no answer holds a secret."""
        for target in targets:
            for path in ["/" + target, "/../" + target, "/%2e%2e/" + target,
                         "/cgi-bin/../" + target, "/cgi-bin/%2e%2e/" + target,
                         "/cgi-bin/..%2f" + target, "/htdocs/../" + target,
                         "/cgi-bin/ipupdate_server.py/../../" + target]:
                status, _, text = self.get(path)
                self.assertIn(status, (400, 403, 404), path)
                for secret in secrets:
                    self.assertNotIn(secret, text, path)

    def test_config_database_and_journal_are_not_served(self):
        self.assertEqual(self.post("/cgi-bin/ipupdate_server.py",
                                   self.signed_update("probe"))[0], 200)
        marker = plant_side_files(self.database)
        self.assert_not_served(["ipupdate.conf"] + ["data/ipupdate.sqlite" + suffix for suffix
                                                    in ("",) + SQLITE_SIDE_FILES],
                               (self.key, marker, "probe"))
        # Belt and braces: copied into the document root by mistake, they are
        # still refused, while an ordinary file there is served.
        htdocs = os.path.join(self.site, "htdocs")
        self.addCleanup(lambda: [os.remove(os.path.join(htdocs, entry))
                                 for entry in os.listdir(htdocs)])
        for name in ("ipupdate.conf", "ipupdate.sqlite", "ipupdate.sqlite-journal",
                     "old.db"):
            shutil.copy(self.config, os.path.join(htdocs, name))
            os.chmod(os.path.join(htdocs, name), 0o644)  # readable: only the rule refuses
        with open(os.path.join(htdocs, "hello.txt"), "w") as hello:
            hello.write("hello\n")
        for name in ("ipupdate.conf", "ipupdate.sqlite", "ipupdate.sqlite-journal", "old.db"):
            status, _, text = self.get("/" + name)
            self.assertIn(status, (403, 404), name)
            self.assertNotIn(self.key, text)
        self.assertEqual(self.get("/hello.txt")[::2], (200, "hello\n"))

    def test_database_left_out_is_not_served_either(self):
        """Without `database =` the database is ipupdate.sqlite beside the
        configuration: in the site directory, which no URL reaches. (As root, the
        web server's user cannot write there either: updates are then 503.)"""
        with open(self.config, "wb") as config_file:
            config_file.write(re.sub(rb"(?m)^database = .*\n", b"", self.config_bytes))
        default = os.path.join(self.site, "ipupdate.sqlite")
        self.addCleanup(lambda: [os.remove(default + suffix) for suffix in
                                 ("",) + SQLITE_SIDE_FILES if os.path.lexists(default + suffix)])
        self.assertEqual(self.post("/cgi-bin/ipupdate_server.py",
                                   self.signed_update("left-out-5d2e"))[::2],
                         (503, "Error: database unavailable, try again later") if IS_ROOT
                         else (200, "OK: New IP updated"))
        marker = plant_side_files(default)
        if IS_ROOT:
            shutil.copy(default + "-journal", default)
        self.assert_not_served(["ipupdate.sqlite" + suffix for suffix
                                in ("",) + SQLITE_SIDE_FILES], (marker, "left-out-5d2e"))

    def test_database_through_a_link_is_refused_and_nothing_is_created(self):
        planted = os.path.join(self.data, "planted.sqlite")
        os.symlink(planted, self.database)
        self.assertEqual(self.post("/cgi-bin/ipupdate_server.py",
                                   self.signed_update("probe"))[::2],
                         (500, "Error: server not configured"))
        self.assertEqual(self.get("/cgi-bin/getip_cgi.py?format=text")[::2],
                         (500, "Error: server not configured"))
        self.wait_for_log("ipupdate: configuration error: database file %s is a symbolic "
                          "link: refused (set 'database' to the file itself)" % self.database,
                          count=2)
        self.assertFalse(os.path.lexists(planted))
        self.assertEqual(os.listdir(self.data), ["ipupdate.sqlite"])

    def test_proxy_request_header_is_harmless(self):
        """httpoxy: a Proxy: header, or HTTP_PROXY in the environment, changes nothing."""
        proxy = {"Proxy": "http://127.0.0.1:1/"}
        status, _, text = self.post("/cgi-bin/ipupdate_server.py",
                                    "type=ip&ts=5&nonce=" + NONCE, headers=proxy)
        self.assertEqual(status, 200)
        served_now = re.search(r"&now=(\d+)&", text).group(1)
        message = "ip=127.0.0.1&ts=5&nonce=%s&now=%s" % (NONCE, served_now)
        self.assertEqual(text, message + "&h=" + sign(self.key, message))
        self.assertEqual(self.post("/cgi-bin/ipupdate_server.py", self.signed_update("proxied"),
                                   headers=proxy)[::2], (200, "OK: New IP updated"))
        self.assertEqual(self.get("/cgi-bin/getip_cgi.py?name=proxied&format=ip",
                                  headers=proxy)[::2], (200, "127.0.0.1\n"))

    def test_broken_config_is_500_with_the_reason_in_the_error_log(self):
        with open(self.config, "w") as config_file:
            config_file.write("[ipupdate]\nsecret = too-short\n")
        for path, body in (("/cgi-bin/ipupdate_server.py", self.signed_update("x")),
                           ("/cgi-bin/getip_cgi.py", None)):
            if body is None:
                status, _, text = self.get(path)
            else:
                status, _, text = self.post(path, body)
            self.assertEqual((status, text), (500, "Error: server not configured"))
        self.wait_for_log("ipupdate: configuration error: secret shorter than 16 characters",
                          count=2)
        self.assertNotIn("too-short", self.new_errors())
        if IS_ROOT:
            # Unreadable by the web server's user: the log says so.
            with open(self.config, "wb") as config_file:
                config_file.write(self.config_bytes)
            os.chmod(self.config, 0o600)
            status, _, text = self.post("/cgi-bin/ipupdate_server.py", self.signed_update("x"))
            self.assertEqual((status, text), (500, "Error: server not configured"))
            self.wait_for_log("cannot read config file %s: Permission denied" % self.config)
        self.assertEqual(rows(self.database), [])

    def wait_for_log(self, text, count=1):
        """Web servers write CGI stderr to their log asynchronously: wait a little."""
        deadline = time.monotonic() + 5
        while self.new_errors().count(text) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.new_errors().count(text), count, self.new_errors())

    def test_view_key_reaches_the_viewer_as_basic_auth(self):
        view_key = "view-key-6c1e93b0d2a4f857"
        with open(self.config, "ab") as config_file:
            config_file.write(b"view_key = " + view_key.encode() + b"\n")
        path = "/cgi-bin/getip_cgi.py?format=text"
        status, headers, _ = self.get(path)
        self.assertEqual(status, 401)
        self.assertEqual(headers["www-authenticate"], 'Basic realm="ipupdate"')
        credentials = base64.b64encode(("me:" + view_key).encode()).decode()
        self.assertEqual(self.get(path, {"Authorization": "Basic " + credentials})[::2],
                         (200, "no updates recorded yet\n"))

    def test_original_client_keeps_working_after_the_upgrade(self):
        ts = now()
        make_original_database(self.database, {"log_ipv4": [
            ("192.0.2.1", "home", ts - 7200, ts - 600), ("192.0.2.1", "", ts - 7200, ts - 600)]})
        os.chmod(self.database, 0o644)  # as PHP left it: the first request tightens it
        chown_to_web_user(self.database)
        run_shell(recipe("upgrade-config", ("/srv/ipupdate", self.site),
                         ("the PASSWORD from config.php", "hunter2"),
                         ("chgrp www-data", "chgrp " + WEB_GROUP)), cwd=support.ROOT)
        self.assertTrue(os.path.exists(self.database + ".before-upgrade"))
        for name in ("home", ""):
            code, output, errors = run_program(
                [support.PYTHON, ORIGINAL_CLIENT, "-w", "127.0.0.1:%d" % self.port,
                 "-p", "hunter2"] + (["-n", name] if name else []))
            self.assertEqual((code, output, errors), (0, "Response: OK: New IP updated\n", ""))
        self.assertEqual([row[:2] for row in rows(self.database)], [
            ("192.0.2.1", "home"), ("192.0.2.1", ""), ("127.0.0.1", "home"), ("127.0.0.1", "")])
        self.assertEqual(stat.S_IMODE(os.stat(self.database).st_mode), 0o600)
        self.wait_for_log("ipupdate: database file %s was open to group or others "
                          "(mode 0644): made 0600" % self.database)
        status, _, text = self.get("/getip.php")
        self.assertEqual(status, 200)
        self.assertRegex(text, r"(?m)^home ipv4 127\.0\.0\.1 \S+\+0[01]:00$")
        self.assertRegex(text, r"(?m)^\(unnamed\) ipv4 127\.0\.0\.1 ")


APACHE_MODULES = ("mpm_event", "authz_core", "alias", "cgid", "mime", "env", "headers",
                  "rewrite")
APACHE_MODULE_DIR = "/usr/lib/apache2/modules"


def check_apache():
    apache = program("apache2")
    for module in APACHE_MODULES:
        if not os.path.exists(os.path.join(APACHE_MODULE_DIR, "mod_%s.so" % module)):
            unavailable("Apache module mod_%s is not installed" % module)
    return apache


def start_apache(apache, directory, ports, sites, log_path):
    """Apache on 127.0.0.1:`ports`, serving `sites` (config text), as a Daemon.

    The host's part of the configuration is written as Debian's apache2.conf has
    it (everything denied unless a site allows it, .ht* files never served),
    plus the odd environment some hosts hand CGI programs: proxy variables that
    must not be used, and an ASCII-only output encoding.
    """
    run = os.path.join(directory, "run")
    os.mkdir(run)
    lines = ["ServerRoot %s" % directory, "ServerName 127.0.0.1"] + [
        "Listen 127.0.0.1:%d" % port for port in ports] + [
        "PidFile %s/apache2.pid" % run,
        "DefaultRuntimeDir %s" % run,
        "ErrorLog %s" % log_path,
        "LogLevel warn",
    ] + (["User %s" % WEB_USER, "Group %s" % WEB_GROUP] if IS_ROOT else []) + [
        "LoadModule %s_module %s/mod_%s.so" % (module, APACHE_MODULE_DIR, module)
        for module in APACHE_MODULES] + [
        "StartServers 1",
        "TypesConfig /etc/mime.types",
        "<Directory />", "    AllowOverride None", "    Require all denied", "</Directory>",
        '<FilesMatch "^\\.ht">', "    Require all denied", "</FilesMatch>",
        "SetEnv HTTP_PROXY http://127.0.0.1:1/",
        "SetEnv http_proxy http://127.0.0.1:1/",
        "SetEnv PYTHONIOENCODING ascii",
        "Include %s/sites.conf" % directory,
    ]
    with open(os.path.join(directory, "sites.conf"), "w") as sites_file:
        sites_file.write(sites)
    conf = os.path.join(directory, "apache2.conf")
    with open(conf, "w") as conf_file:
        conf_file.write("\n".join(lines) + "\n")
    stage = tempfile.mkdtemp(prefix="stage-", dir=directory)
    return Daemon("apache2", interpreter_wrapper(stage) + [apache, "-f", conf, "-DFOREGROUND"],
                  log_path, port=ports[0])


class ApacheCgiTest(CgiDeployment, unittest.TestCase):
    """Section 1: Apache with mod_cgid, configured as the recipe says."""

    @classmethod
    def check_installed(cls):
        cls.apache = check_apache()

    @classmethod
    def start_web_server(cls):
        cls.port = free_port()
        site = recipe("apache-site", ("/srv/ipupdate", cls.site), ("*:80", "*:%d" % cls.port))
        old_urls = recipe("apache-old-urls", ("/srv/ipupdate", cls.site))
        site = replace_values(site, [("</VirtualHost>", old_urls + "</VirtualHost>")],
                              "recipe apache-site")
        cls.log_path = os.path.join(cls.directory, "apache-error.log")
        cls.daemons.append(start_apache(cls.apache, cls.directory, [cls.port], site,
                                        cls.log_path))

    def error_log(self):
        with open(self.log_path, "rb") as log_file:
            return log_file.read().decode("utf-8", "replace")


class SharedHostTest(unittest.TestCase):
    """Section 1, on a shared host: the two recipes run as the customer, whose
    scripts Apache runs as the customer (suEXEC; here the customer is the web
    server's user). Two customers, one per layout, each a virtual host whose
    configuration is the host's, not ours."""

    @classmethod
    def setUpClass(cls):
        apache = check_apache()
        check_web_account()
        cls.directory = tempfile.mkdtemp(prefix="ipupdate-deploy-")
        os.chmod(cls.directory, 0o755)
        cls.daemons = []
        try:
            cls.customers = {}
            sites = []
            for layout, cgi_bin in (("beside", "cgi-bin"), ("inside", "public_html/cgi-bin")):
                home = os.path.join(cls.directory, layout)
                shutil.copytree(support.ROOT, os.path.join(home, "ipupdate"), ignore=(
                    shutil.ignore_patterns(".git", "__pycache__", "*.sqlite*")))
                os.makedirs(os.path.join(home, "public_html"))
                os.chmod(home, 0o711)
                if IS_ROOT:
                    subprocess.run(["chown", "-R", "%s:%s" % (WEB_USER, WEB_GROUP), home],
                                   check=True)
                stage = tempfile.mkdtemp(prefix="stage-", dir=cls.directory)
                script = recipe("shared-host-" + layout, ("/usr/bin/python3", support.PYTHON))
                done = subprocess.run(
                    interpreter_wrapper(stage) + as_web_user() + ["bash", "-eu", "-c", script],
                    cwd=home, env=support.clean_env(HOME=home), stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, timeout=60)
                output = done.stdout.decode()
                if done.returncode != 0:
                    raise AssertionError("recipe shared-host-%s failed: %s %s" % (
                        layout, output, done.stderr.decode()))
                key = re.search(r"^secret = ([0-9a-f]{64})$", output, re.M).group(1)
                port = free_port()
                cls.customers[layout] = (home, port, key)
                sites.append("\n".join([
                    "<VirtualHost *:%d>" % port,
                    "    DocumentRoot %s/public_html" % home,
                    "    ScriptAlias /cgi-bin/ %s/%s/" % (home, cgi_bin),
                    "    <Directory %s/public_html>" % home,
                    "        AllowOverride All",
                    "        Require all granted",
                    "    </Directory>",
                    "    <Directory %s/%s>" % (home, cgi_bin),
                    "        AllowOverride All",
                    "        Require all granted",
                    "    </Directory>",
                    "</VirtualHost>", ""]))
            cls.log_path = os.path.join(cls.directory, "apache-error.log")
            cls.daemons.append(start_apache(
                apache, cls.directory, [port for _, port, _ in cls.customers.values()],
                "".join(sites), cls.log_path))
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for daemon in cls.daemons:
            daemon.stop()
        shutil.rmtree(cls.directory, ignore_errors=True)

    def check_customer(self, layout, config, database, unserved):
        home, port, key = self.customers[layout]
        key_file = os.path.join(self.directory, layout + ".key")
        with open(key_file, "w") as key_out:
            key_out.write(key + "\n")
        os.chmod(key_file, 0o600)
        code, output, errors = run_program([
            support.PYTHON, support.CLIENT, "--url",
            "http://127.0.0.1:%d/cgi-bin/ipupdate_server.py" % port, "-n", "home",
            "--password-file", key_file])
        self.assertEqual((code, output, errors), (0, "home: 127.0.0.1 -> OK: New IP updated\n",
                                                  ""))
        self.assertEqual(request(port, "GET", "/cgi-bin/getip_cgi.py?name=home&format=ip")[::2],
                         (200, "127.0.0.1\n"))
        database = os.path.join(home, database)
        self.assertEqual([row[:2] for row in rows(database) if row[1] == "home"],
                         [("127.0.0.1", "home")])
        info = os.stat(database)
        self.assertEqual((info.st_uid, stat.S_IMODE(info.st_mode)),
                         (pwd.getpwnam(WEB_USER).pw_uid, 0o600))
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(home, config)).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(database)).st_mode), 0o700)
        for path in unserved:
            status, _, text = request(port, "GET", path)
            self.assertIn(status, (400, 403, 404), path)
            self.assertNotIn(key, text, path)

    def test_old_urls_reach_the_new_scripts(self):
        for layout in ("beside", "inside"):
            home, port, key = self.customers[layout]
            done = subprocess.run(as_web_user() + ["bash", "-eu", "-c", recipe(
                "shared-host-old-urls")], cwd=home, env=support.clean_env(HOME=home),
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            self.assertEqual(done.returncode, 0, done.stdout)
            code, output, errors = run_program([
                support.PYTHON, ORIGINAL_CLIENT, "-w", "127.0.0.1:%d" % port, "-p", key,
                "-n", "old"])
            self.assertEqual((code, output, errors),
                             (0, "Response: OK: New IP updated\n", ""), layout)
            status, _, text = request(port, "GET", "/getip.php")
            self.assertEqual(status, 200, layout)
            self.assertRegex(text, r"(?m)^old ipv4 127\.0\.0\.1 ")

    def test_ddclient_through_the_shared_host_layout(self):
        """The dyndns2 recipe for a shared host, then the real ddclient with the
        script's URL and our checkip: not chunked, so ddclient reads it."""
        home, port, _ = self.customers["beside"]
        config = os.path.join(home, "ipupdate.conf")
        with open(config) as config_file:
            before = config_file.read()
        self.addCleanup(self.restore_customer, config, before, os.path.join(home, "cgi-bin"))
        stage = tempfile.mkdtemp(prefix="stage-", dir=self.directory)
        done = subprocess.run(interpreter_wrapper(stage) + as_web_user() + [
            "bash", "-eu", "-c", recipe("shared-host-dyndns2", ("/usr/bin/python3",
                                                                support.PYTHON))],
            cwd=home, env=support.clean_env(HOME=home), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)
        self.assertEqual(done.returncode, 0, done.stdout)
        password = re.search(r"home\.example\.org: ([0-9a-f]{32})$", done.stdout.decode(),
                             re.M).group(1)
        with open(config) as config_file:
            text = config_file.read()
        with open(config, "w") as config_file:  # the test speaks plain HTTP
            config_file.write(text.replace("[ipupdate]\n", "[ipupdate]\n"
                                           "dyndns2_allow_plain_http = yes\n", 1))
        from tests import test_dyndns2
        conf = test_dyndns2.ddclient_conf(port, password,
                                          "/cgi-bin/ipupdate_server.py/nic/update")
        conf = replace_values(conf, [("/checkip", "/cgi-bin/ipupdate_server.py/checkip")],
                              "recipe ddclient-conf")
        conf_path = os.path.join(self.directory, "ddclient.conf")
        with open(conf_path, "w") as conf_file:
            conf_file.write(conf)
        os.chmod(conf_path, 0o600)
        code, output, errors = run_program([
            test_dyndns2.client_program("ddclient"), "-foreground", "-daemon=0", "-noquiet",
            "-file", conf_path, "-cache", os.path.join(self.directory, "ddclient.cache")],
            timeout=60)
        self.assertEqual(code, 0, output + errors)
        self.assertRegex(output + errors, r"SUCCESS: +updating home\.example\.org: good: IP "
                                          r"address set to 127\.0\.0\.1")
        self.assertEqual([row[:2] for row in rows(os.path.join(
            home, "ipupdate-data/ipupdate.sqlite")) if row[1] == "home.example.org"],
            [("127.0.0.1", "home.example.org")])

    def restore_customer(self, config, text, cgi_bin):
        with open(config, "w") as config_file:
            config_file.write(text)
        for name in (".htaccess", "ipupdate_dyndns2.py"):
            if os.path.exists(os.path.join(cgi_bin, name)):
                os.remove(os.path.join(cgi_bin, name))

    def test_cgi_bin_beside_the_document_root(self):
        self.check_customer("beside", "ipupdate.conf", "ipupdate-data/ipupdate.sqlite", [
            "/ipupdate.conf", "/../ipupdate.conf", "/cgi-bin/../ipupdate.conf",
            "/ipupdate-data/ipupdate.sqlite", "/../ipupdate-data/ipupdate.sqlite",
            "/cgi-bin/%2e%2e/ipupdate.conf"])

    def test_cgi_bin_inside_the_document_root(self):
        config = "public_html/ipupdate.conf"
        unserved = ["/ipupdate.conf", "/cgi-bin/../ipupdate.conf", "/cgi-bin/%2e%2e/ipupdate.conf",
                    "/../ipupdate-data/ipupdate.sqlite", "/.htaccess"]
        self.check_customer("inside", config, "ipupdate-data/ipupdate.sqlite", unserved)
        # The .htaccess rule refuses it by itself, whatever the file's mode; and
        # the database's name, as the check after the recipe says, file or none.
        home, port, key = self.customers["inside"]
        os.chmod(os.path.join(home, config), 0o644)
        for path in unserved[:3] + ["/ipupdate.sqlite"]:
            status, _, text = request(port, "GET", path)
            self.assertEqual(status, 403, path)
            self.assertNotIn(key, text)


    def test_database_left_out_is_not_served(self):
        """Without `database =` the database is ipupdate.sqlite beside the
        configuration: with the cgi-bin inside the document root, in the
        document root, where the recipe's rule refuses it and SQLite's files
        beside it, whatever their mode (Apache runs as the customer here)."""
        for layout, config, refused in (("beside", "ipupdate.conf", 404),
                                        ("inside", "public_html/ipupdate.conf", 403)):
            with self.subTest(layout):
                home, port, key = self.customers[layout]
                config = os.path.join(home, config)
                with open(config, "rb") as config_file:
                    written = config_file.read()
                self.addCleanup(self.restore, config, written)
                with open(config, "wb") as config_file:
                    config_file.write(re.sub(rb"(?m)^database = .*\n", b"", written))
                default = os.path.join(os.path.dirname(config), "ipupdate.sqlite")
                self.addCleanup(lambda default=default: [
                    os.remove(default + suffix) for suffix in ("",) + SQLITE_SIDE_FILES
                    if os.path.lexists(default + suffix)])
                self.assertEqual(request(port, "POST", "/cgi-bin/ipupdate_server.py",
                                         body=support.update_body(
                                             "127.0.0.1", "left-out-5d2e", now(), key))[::2],
                                 (200, "OK: New IP updated"))
                self.assertEqual([row[1] for row in rows(default)], ["left-out-5d2e"])
                marker = plant_side_files(default)
                for suffix in ("",) + SQLITE_SIDE_FILES:
                    for path in ("/ipupdate.sqlite", "/cgi-bin/../ipupdate.sqlite",
                                 "/cgi-bin/%2e%2e/ipupdate.sqlite", "/./ipupdate.sqlite"):
                        status, _, text = request(port, "GET", path + suffix)
                        self.assertEqual(status, refused, path + suffix)
                        for secret in (key, marker, "left-out-5d2e"):
                            self.assertNotIn(secret, text, path + suffix)

    @staticmethod
    def restore(config, written):
        with open(config, "wb") as config_file:
            config_file.write(written)


class NginxCgiTest(CgiDeployment, unittest.TestCase):
    """Section 2: nginx with fcgiwrap, configured as the recipe says."""

    @classmethod
    def check_installed(cls):
        cls.nginx = program("nginx")
        cls.fcgiwrap = program("fcgiwrap")
        if not os.path.exists("/etc/nginx/fastcgi_params"):
            unavailable("/etc/nginx/fastcgi_params is missing")

    @classmethod
    def start_web_server(cls):
        cls.port = free_port()
        prefix = os.path.join(cls.directory, "nginx")
        fcgi = os.path.join(cls.directory, "fcgi")
        os.mkdir(prefix)
        os.mkdir(fcgi, 0o700)
        chown_to_web_user(fcgi)
        socket_path = os.path.join(fcgi, "fcgiwrap.socket")
        site = recipe("nginx-cgi", ("/srv/ipupdate", cls.site),
                      ("listen 80;", "listen 127.0.0.1:%d;" % cls.port),
                      ("/run/fcgiwrap.socket", socket_path))
        old_urls = recipe("nginx-old-urls", ("/srv/ipupdate", cls.site),
                          ("/run/fcgiwrap.socket", socket_path))
        site = site.rstrip()
        assert site.endswith("}")
        site = site[:-1] + old_urls + "}\n"
        shutil.copy("/etc/nginx/fastcgi_params", prefix)
        cls.log_path = os.path.join(cls.directory, "nginx-error.log")
        conf = write_nginx_conf(prefix, cls.log_path, site)
        stage = tempfile.mkdtemp(prefix="stage-", dir=cls.directory)
        # As Debian's fcgiwrap.service runs it: as www-data, with -f (the
        # scripts' stderr goes to nginx's error log).
        cls.daemons.append(Daemon("fcgiwrap", interpreter_wrapper(stage) + as_web_user() + [
            cls.fcgiwrap, "-f", "-c", "2", "-s", "unix:" + socket_path],
            os.path.join(cls.directory, "fcgiwrap.log"), socket_path=socket_path))
        cls.daemons.append(Daemon("nginx", [cls.nginx, "-p", prefix, "-c", conf, "-e",
                                            cls.log_path], cls.log_path, port=cls.port))

    def error_log(self):
        with open(self.log_path, "rb") as log_file:
            return log_file.read().decode("utf-8", "replace")


def write_nginx_conf(prefix, log_path, site):
    """The host's part of an nginx configuration, around a site from DEPLOY.md."""
    temp = os.path.join(prefix, "temp")
    os.mkdir(temp)
    chown_to_web_user(temp)
    lines = [
        "daemon off;",
        "master_process on;",
        "worker_processes 1;",
        "pid %s/nginx.pid;" % prefix,
        "error_log %s info;" % log_path,
    ] + (["user %s %s;" % (WEB_USER, WEB_GROUP)] if IS_ROOT else []) + [
        "events { worker_connections 64; }",
        "http {",
        "    access_log off;",
        "    default_type text/plain;",
        "    types { text/plain txt; }",
    ] + ["    %s_temp_path %s/%s;" % (kind, temp, kind)
         for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")] + [
        site,
        "}",
    ]
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as conf_file:
        conf_file.write("\n".join(lines) + "\n")
    return conf


# ---------------------------------------------------------------------------
# Section 3: the client, from cron and from a systemd timer.
# ---------------------------------------------------------------------------

class ClientSchedulingTest(unittest.TestCase):

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="ipupdate-deploy-")
        self.addCleanup(shutil.rmtree, self.directory)
        self.config = support.write_config(self.directory)
        self.database = os.path.join(self.directory, "ipupdate.sqlite")
        self.server = support.LocalServer(self.config)
        self.addCleanup(self.server.stop)
        self.url = "http://127.0.0.1:%d/cgi-bin/ipupdate_server.py" % self.server.port

    def test_crontab_line_runs_as_written(self):
        home = os.path.join(self.directory, "home")
        os.mkdir(home, 0o755)
        run_shell(recipe("client-key", ("/home/pi", home),
                         ("PASTE-THE-KEY-HERE", support.HOME_KEY)), cwd=home)
        key_file = os.path.join(home, ".ipupdate.key")
        self.assertEqual(stat.S_IMODE(os.stat(key_file).st_mode), 0o600)
        lines = [line for line in example(
            "ipupdater.cron", ("/usr/bin/python3", support.PYTHON),
            ("/home/pi/ipupdater.py", support.CLIENT), ("/home/pi/.ipupdate.key", key_file),
            ("https://example.org/cgi-bin/ipupdate_server.py", self.url)).splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
        self.assertEqual(len(lines), 1, lines)
        fields = lines[0].split(None, 5)
        self.assertEqual(fields[:5], ["*/10", "*", "*", "*", "*"])
        command = fields[5]
        self.assertNotIn("%", command)  # cron would turn it into a newline
        self.assertIn(" -q ", command)
        # As cron runs it: /bin/sh -c, a bare environment, in the home directory.
        user = pwd.getpwuid(os.getuid()).pw_name
        cron_env = {"PATH": "/usr/bin:/bin", "HOME": home, "SHELL": "/bin/sh",
                    "LOGNAME": user, "USER": user}
        first = run_program(["/bin/sh", "-c", command], env=cron_env, cwd=home)
        self.assertEqual(first, (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))
        time.sleep(1.1)  # the next run's timestamp must be newer
        self.assertEqual(run_program(["/bin/sh", "-c", command], env=cron_env, cwd=home),
                         (0, "", ""))  # -q: nothing to mail when nothing changed
        (row,) = rows(self.database)
        self.assertEqual(row[:2], ("127.0.0.1", "home"))
        self.assertGreater(row[3], row[2])

    def test_systemd_service_command_runs_as_written(self):
        unit = example("ipupdater.service")
        self.assertEqual(unit_setting(unit, "LoadCredential"), "key:/etc/ipupdate/ipupdater.key")
        # What systemd does with LoadCredential=: a private copy, mode 0400.
        credentials = os.path.join(self.directory, "credentials")
        os.mkdir(credentials, 0o700)
        with open(os.path.join(credentials, "key"), "w") as key_file:
            key_file.write(support.HOME_KEY + "\n")
        os.chmod(os.path.join(credentials, "key"), 0o400)
        command = replace_values(unit_setting(unit, "ExecStart"), [
            ("/usr/bin/python3", support.PYTHON),
            ("/opt/ipupdate/ipupdater.py", support.CLIENT),
            ("https://example.org/cgi-bin/ipupdate_server.py", self.url),
            ("${CREDENTIALS_DIRECTORY}", credentials)], "ExecStart of ipupdater.service")
        code, output, errors = run_program(shlex.split(command), env={
            "PATH": "/usr/bin:/bin", "CREDENTIALS_DIRECTORY": credentials, "LANG": "C"})
        self.assertEqual((code, output, errors), (0, "home: 127.0.0.1 -> OK: New IP updated\n",
                                                  ""))

    def test_systemd_units_pass_verify(self):
        analyze = program("systemd-analyze")
        units = [os.path.join(EXAMPLES, name) for name in (
            "ipupdater.service", "ipupdater.timer", "ipupdate-serve.service")]
        code, output, errors = run_program([analyze, "verify"] + units)
        self.assertEqual((code, errors), (0, ""), output)
        timer = example("ipupdater.timer")
        self.assertEqual(unit_setting(timer, "Persistent"), "true")
        self.assertEqual(unit_setting(example("ipupdater.service"), "After"),
                         "network-online.target")


# ---------------------------------------------------------------------------
# Sections 4 and 5: `serve` by itself, and behind nginx.
# ---------------------------------------------------------------------------

class LocalServeRecipeTest(unittest.TestCase):

    def test_local_recipe_runs_as_written(self):
        if shutil.which("curl") is None:
            unavailable("curl is not installed (the recipe uses it)")
        directory = tempfile.mkdtemp(prefix="ipupdate-deploy-")
        self.addCleanup(shutil.rmtree, directory)
        for script in (support.SERVER, support.CLIENT, support.VIEWER):
            shutil.copy(script, directory)
        port = free_port()
        script = recipe("local-serve", ("python3 ", support.PYTHON + " "), ("8080", str(port)))
        # Without -e, as a person pastes it: the last line stops the server even
        # when a command before it failed.
        process = subprocess.Popen(["bash", "-u", "-c", script], cwd=directory,
                                   env=support.clean_env(), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, start_new_session=True)
        try:
            output, errors = process.communicate(timeout=60)
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the recipe kills its server itself
            except OSError:
                pass
        output, errors = output.decode(), errors.decode()
        self.assertEqual(process.returncode, 0, errors)
        lines = output.splitlines()
        self.assertEqual(lines[:2], ["ipupdate: serving on http://127.0.0.1:%d/" % port,
                                     "laptop: 127.0.0.1 -> OK: New IP updated"], output)
        self.assertRegex(lines[2], r"^laptop ipv4 127\.0\.0\.1 \S+$")
        self.assertEqual(lines[3:], ["127.0.0.1"])
        for name in ("test.key", "test.conf", "test.sqlite"):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode),
                             0o600, name)


class ReverseProxyTest(unittest.TestCase):
    """Section 5: `serve` from examples/ipupdate-serve.service behind nginx.

    nginx reaches serve from 127.0.0.1 (trusted_proxies); the clients here
    connect from other loopback addresses, so "the client's address" and "the
    proxy's address" differ as they would across a network.
    """

    CLIENT_ADDRESS = "127.0.0.5"
    OTHER_ADDRESS = "127.0.0.9"

    @classmethod
    def setUpClass(cls):
        cls.nginx = program("nginx")
        cls.directory = tempfile.mkdtemp(prefix="ipupdate-deploy-")
        os.chmod(cls.directory, 0o755)
        cls.daemons = []
        try:
            cls.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def start(cls):
        etc, state = os.path.join(cls.directory, "etc"), os.path.join(cls.directory, "state")
        os.mkdir(state, 0o700)  # systemd's StateDirectory=
        run_shell(recipe("proxy-config", ("/etc/ipupdate", etc), ("/var/lib/ipupdate", state),
                         ("/usr/bin/python3", support.PYTHON), ("/opt/ipupdate", support.ROOT)),
                  cwd=cls.directory)
        config = os.path.join(etc, "ipupdate.conf")
        with open(config) as config_file:
            cls.key = re.search(r"^secret = ([0-9a-f]{64})$", config_file.read(), re.M).group(1)
        cls.database = os.path.join(state, "ipupdate.sqlite")
        # What systemd does with LoadCredential=: a private, read-only copy.
        credentials = os.path.join(cls.directory, "credentials")
        os.mkdir(credentials, 0o700)
        shutil.copy(config, credentials)
        os.chmod(os.path.join(credentials, "ipupdate.conf"), 0o400)
        unit = example("ipupdate-serve.service")
        command = replace_values(unit_setting(unit, "ExecStart"), [
            ("/usr/bin/python3", support.PYTHON), ("/opt/ipupdate", support.ROOT),
            ("${CREDENTIALS_DIRECTORY}", credentials), ("--port 8080", "--port 0")],
            "ExecStart of ipupdate-serve.service")
        cls.serve_log = tempfile.TemporaryFile()
        cls.serve = subprocess.Popen(shlex.split(command), stdout=subprocess.PIPE,
                                     stderr=cls.serve_log, env={"PATH": "/usr/bin:/bin"})
        line = cls.serve.stdout.readline().decode()
        cls.serve_port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", line).group(1))

        cls.port = free_port()
        prefix = os.path.join(cls.directory, "nginx")
        os.mkdir(prefix)
        site = recipe("nginx-proxy", ("listen 80;", "listen 127.0.0.1:%d;" % cls.port),
                      ("127.0.0.1:8080", "127.0.0.1:%d" % cls.serve_port))
        cls.log_path = os.path.join(cls.directory, "nginx-error.log")
        conf = write_nginx_conf(prefix, cls.log_path, site)
        cls.daemons.append(Daemon("nginx", [cls.nginx, "-p", prefix, "-c", conf, "-e",
                                            cls.log_path], cls.log_path, port=cls.port))

    @classmethod
    def tearDownClass(cls):
        for daemon in cls.daemons:
            daemon.stop()
        if getattr(cls, "serve", None) is not None:
            cls.serve.terminate()
            cls.serve.wait(10)
            cls.serve.stdout.close()
            cls.serve_log.close()
        shutil.rmtree(cls.directory, ignore_errors=True)

    def ask_address(self, port, source, headers=None):
        """type=ip through `port` from `source`: the address the server saw, checked."""
        status, _, text = request(port, "POST", "/ipupdate/", "type=ip&ts=5&nonce=" + NONCE,
                                  headers=headers, source=source)
        self.assertEqual(status, 200, text)
        fields = dict(pair.split("=", 1) for pair in text.split("&"))
        message = "ip=%s&ts=5&nonce=%s&now=%s" % (fields["ip"], NONCE, fields["now"])
        self.assertEqual(fields["h"], sign(self.key, message))
        return fields["ip"]

    def update(self, port, source, address, name, headers=None):
        return request(port, "POST", "/ipupdate/", support.update_body(
            address, name, now(), self.key), headers=headers, source=source)[::2]

    def test_real_client_through_the_proxy(self):
        key_file = os.path.join(self.directory, "client.key")
        with open(key_file, "w") as key_out:
            key_out.write(self.key + "\n")
        os.chmod(key_file, 0o600)
        code, output, errors = run_program([
            support.PYTHON, support.CLIENT, "-q", "--url",
            "http://127.0.0.1:%d/ipupdate/" % self.port, "-n", "pi", "--password-file", key_file])
        self.assertEqual((code, output, errors), (0, "pi: 127.0.0.1 -> OK: New IP updated\n", ""))
        status, _, text = request(self.port, "GET", "/ipupdate/?name=pi&format=ip")
        self.assertEqual((status, text), (200, "127.0.0.1\n"))

    def test_recorded_address_is_the_clients_not_the_proxys(self):
        self.assertEqual(self.ask_address(self.port, self.CLIENT_ADDRESS), self.CLIENT_ADDRESS)
        self.assertEqual(self.update(self.port, self.CLIENT_ADDRESS, self.CLIENT_ADDRESS, "far"),
                         (200, "OK: New IP updated"))
        status, _, text = request(self.port, "GET", "/ipupdate/?name=far&format=ip")
        self.assertEqual((status, text), (200, self.CLIENT_ADDRESS + "\n"))

    def test_forged_forwarded_for_through_the_proxy_changes_nothing(self):
        forged = {"X-Forwarded-For": self.OTHER_ADDRESS}
        self.assertEqual(self.ask_address(self.port, self.CLIENT_ADDRESS, forged),
                         self.CLIENT_ADDRESS)
        before = rows(self.database)
        status, text = self.update(self.port, self.CLIENT_ADDRESS, self.OTHER_ADDRESS, "forged",
                                   forged)
        self.assertEqual(status, 403, text)
        self.assertEqual(rows(self.database), before)

    def test_forged_forwarded_for_from_an_untrusted_peer_changes_nothing(self):
        forged = {"X-Forwarded-For": self.OTHER_ADDRESS}
        self.assertEqual(self.ask_address(self.serve_port, self.CLIENT_ADDRESS, forged),
                         self.CLIENT_ADDRESS)
        before = rows(self.database)
        self.assertEqual(
            self.update(self.serve_port, self.CLIENT_ADDRESS, self.OTHER_ADDRESS, "direct",
                        forged),
            (403, "Error: the signed address %s is not the address this request comes from "
                  "(%s)" % (self.OTHER_ADDRESS, self.CLIENT_ADDRESS)))
        self.assertEqual(rows(self.database), before)


# ---------------------------------------------------------------------------
# Section 6: upgrading from the original, without a web server.
# ---------------------------------------------------------------------------

class UpgradeThroughServeTest(unittest.TestCase):
    """The upgrade recipe, then the original's client and ours with the
    original's command line, against `serve` (the web server tests above do the
    same through the old URLs)."""

    def test_old_database_and_old_client_keep_working(self):
        directory = tempfile.mkdtemp(prefix="ipupdate-deploy-")
        self.addCleanup(shutil.rmtree, directory)
        site = os.path.join(directory, "site")
        os.makedirs(os.path.join(site, "data"))
        database = os.path.join(site, "data", "ipupdate.sqlite")
        ts = now()
        make_original_database(database, {
            "log_ipv4": [("192.0.2.1", "home", ts - 7200, ts - 600)],
            "log_ipv6": [("2001:db8::1", "home", ts - 7200, ts - 600)]})
        run_shell(recipe("upgrade-config", ("/srv/ipupdate", site),
                         ("the PASSWORD from config.php", "hunter2"),
                         ("chgrp www-data", "chgrp " + grp.getgrgid(os.getgid()).gr_name)),
                  cwd=support.ROOT)
        with support.LocalServer(os.path.join(site, "ipupdate.conf")) as server:
            code, output, errors = run_program([
                support.PYTHON, ORIGINAL_CLIENT, "-w", "127.0.0.1:%d" % server.port,
                "-p", "hunter2", "-n", "home"])
            self.assertEqual((code, output, errors), (0, "Response: OK: New IP updated\n", ""))
            # Our client, with the original's command line, next to it.
            code, output, errors = run_program([
                support.PYTHON, support.CLIENT, "-w", "127.0.0.1:%d" % server.port,
                "-u", "ipupdate.php", "-p", "hunter2", "-n", "office"])
            self.assertEqual((code, output), (0, "office: 127.0.0.1 -> OK: New IP updated\n"),
                             errors)
            status, _, text = request(server.port, "GET", "/getip.php?name=home&format=ip&family=4")
            self.assertEqual((status, text), (200, "127.0.0.1\n"))
            status, _, text = request(server.port, "GET", "/?name=home&format=json")
            self.assertEqual(json.loads(text)["timezone"], "Europe/Lisbon")
        self.assertEqual([row[:2] for row in rows(database)], [
            ("192.0.2.1", "home"), ("127.0.0.1", "home"), ("127.0.0.1", "office")])
        self.assertEqual(rows(database)[0], ("192.0.2.1", "home", ts - 7200, ts - 600))
        self.assertEqual(rows(database, "log_ipv6"), [("2001:db8::1", "home", ts - 7200, ts - 600)])
        self.assertTrue(os.path.exists(database + ".before-upgrade"))


class RecipesAreTestedTest(unittest.TestCase):

    def test_every_recipe_in_deploy_md_is_tested(self):
        self.assertEqual(sorted(all_recipes()), sorted(TESTED_RECIPES))


if __name__ == "__main__":
    unittest.main()
