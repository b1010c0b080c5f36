"""What the tests of docs/DEPLOY.md share (tests/test_deploy_*.py, and the
dyndns2 tests for its section 7): the recipes read out of it, the web servers
started as a host runs them, and the daemons, stopped with everything they
started. Not a test module: the tests import it.

The tests run or install every recipe as written, with only its example values
replaced, against real web servers (Apache with mod_cgid, nginx with fcgiwrap,
nginx in front of `serve`), the real client and viewer, the crontab line and
the systemd units of examples/.

A web server (or systemd-analyze) that is not installed is skipped, with the
reason printed, unless IPUPDATE_REQUIRE_WEBSERVERS=1 (CI sets it): then its
absence fails. The scripts run under support.PYTHON, the interpreter of the
moment in `make test-matrix`, written into their first line as DEPLOY.md
tells a person to do. Run as root, the web servers run the scripts as their
own unprivileged user (www-data), as on a real host.
"""

import grp
import os
import pwd
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

from tests import support

DEPLOY = os.path.join(support.ROOT, "docs", "DEPLOY.md")
EXAMPLES = os.path.join(support.ROOT, "examples")
ORIGINAL_CLIENT = os.path.join(support.ROOT, "tests", "original_client.py")
REQUIRE = os.environ.get("IPUPDATE_REQUIRE_WEBSERVERS") == "1"
IS_ROOT = os.geteuid() == 0
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
START_TIMEOUT_S = 10.0
NONCE = "00112233445566778899aabbccddeeff"


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
    sys.stderr.write("\ndeploy: skipped: %s\n" % reason)
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
# Web servers, as a host configures them, around a site from DEPLOY.md.
# ---------------------------------------------------------------------------

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
