"""What the dyndns2 tests share (tests/test_dyndns2_*.py): the routers'
passwords and the config that enables them, the same requests through a real
CGI execution of ipupdate_server.py (PATH_INFO=/nic/update, HTTPS=on) and
through a real `serve`, and Debian's real ddclient and inadyn with the recipes
of docs/DEPLOY.md section 7 for them. Not a test module: the tests import it.

A client or web server that is not installed is skipped, with the reason
printed, unless IPUPDATE_REQUIRE_WEBSERVERS=1 (CI sets it): then its absence
fails. Debian: apt-get install ddclient inadyn apache2.
"""

import base64
import os
import shutil
import sqlite3
import sys
import tempfile
import unittest

from tests import deploy
from tests import support
from tests.support import KEY, HOME_KEY

ROUTER_PW = "router-pw-3c9e1f7a5b2d4608"    # home.example.org and nas.example.org
CABIN_PW = "cabin-pw-7d2a9c4e1b6f3085"      # cabin.example.org
DYNDNS2 = (("home.example.org", ROUTER_PW), ("nas.example.org", ROUTER_PW),
           ("cabin.example.org", CABIN_PW))
SECRETS = (KEY, HOME_KEY, ROUTER_PW, CABIN_PW)
TEXT = "text/plain; charset=utf-8"
CHALLENGE = 'Basic realm="ipupdate dyndns2"'
OFF = "Error: dyndns2 is not enabled on this server (no names in a [dyndns2] section)"
REQUIRE = os.environ.get("IPUPDATE_REQUIRE_WEBSERVERS") == "1"


def config_body(settings=None, dyndns2=DYNDNS2, extra=""):
    """The test config: the shared secret KEY, [names] home = HOME_KEY, and the
    dyndns2 names, plus `settings` in [ipupdate] and `extra` at the end."""
    lines = ["[ipupdate]", "secret = " + KEY, "database = ipupdate.sqlite"]
    lines += ["%s = %s" % item for item in sorted((settings or {}).items())]
    lines += ["", "[names]", "home = " + HOME_KEY]
    if dyndns2:
        lines += ["", "[dyndns2]"] + ["%s = %s" % entry for entry in dyndns2]
    return "\n".join(lines) + "\n" + extra


def basic(password, user="router"):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def sources(database, table="log_ipv4"):
    """(name, ip, source) of every row, oldest first."""
    connection = sqlite3.connect(database)
    try:
        return connection.execute("SELECT name, ip, source FROM %s ORDER BY id"
                                  % table).fetchall()
    finally:
        connection.close()


def database_text(database):
    """Every row of every table, as text: to look for passwords in it."""
    if not os.path.exists(database):
        return ""
    connection = sqlite3.connect(database)
    try:
        tables = [row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        return repr([connection.execute("SELECT * FROM %s" % table).fetchall()
                     for table in tables])
    finally:
        connection.close()


def unavailable(reason):
    if REQUIRE:
        raise AssertionError(reason + " (required: IPUPDATE_REQUIRE_WEBSERVERS=1)")
    sys.stderr.write("\ndyndns2: skipped: %s\n" % reason)
    raise unittest.SkipTest(reason)


def client_program(name):
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":" + deploy.SBIN_PATH)
    if path is None:
        unavailable("%s is not installed (Debian: apt-get install %s)" % (name, name))
    return path


# ---------------------------------------------------------------------------
# Transports: the same requests through CGI and through `serve`.
# ---------------------------------------------------------------------------

class Harness(object):
    """A throwaway config and database; every response, log and row is
    searched for the keys and passwords at the end of each test."""

    settings = {}
    transport_settings = {}
    dyndns2 = DYNDNS2
    extra_config = ""

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="ipupdate-dyndns2-")
        self.config = support.write_config(self.directory, config_body(
            dict(self.transport_settings, **self.settings), self.dyndns2, self.extra_config))
        self.database = os.path.join(self.directory, "ipupdate.sqlite")
        self.seen = []

    def tearDown(self):
        self.seen.append(database_text(self.database))
        for text in self.seen:
            for secret in SECRETS:
                self.assertNotIn(secret, text)
                self.assertNotIn(base64.b64encode(secret.encode()).decode(), text)
        shutil.rmtree(self.directory)

    def nic_update(self, query, password=ROUTER_PW, **options):
        """A dyndns2 update with basic auth (authorization=None: without)."""
        authorization = options.pop("authorization", basic(password))
        headers = dict(options.pop("headers", {}))
        if authorization is not None:
            headers["Authorization"] = authorization
        return self.get("/nic/update", query, headers=headers, **options)


class ThroughCGI(Harness):
    """As Apache hands a request for .../ipupdate_server.py/nic/update over HTTPS
    to the script."""

    head_body = "badagent"   # the web server drops the body of an answer to HEAD

    def get(self, path, query, headers=None, method="GET", remote_addr="127.0.0.1",
            https=True, script=support.SERVER, body=b""):
        extra = dict(("HTTP_" + k.upper().replace("-", "_"), v)
                     for k, v in (headers or {}).items())
        extra["PATH_INFO"] = path if path != "/" else ""
        if https:
            extra["HTTPS"] = "on"
        status, headers, text, errors, code = support.run_cgi(
            script, self.config, body, method=method,
            content_type="application/x-www-form-urlencoded" if body else None,
            remote_addr=remote_addr, query=query, extra_env=extra)
        self.assertEqual(code, 0, errors)
        self.assertNotIn("Traceback", errors)
        self.seen += [text, errors]
        self.last_log, self.last_headers = errors, headers
        return status, text

    def view(self, query):
        return self.get("/", query, script=support.VIEWER)

    def post_update(self, body):
        return self.get("/", "", method="POST", body=body)

    def log_text(self):
        return self.last_log


class ThroughServe(Harness):
    """Over TCP to `ipupdate_server.py serve`, which has no TLS: the config allows
    dyndns2 over plain HTTP (the rule itself is tested apart)."""

    transport_settings = {"dyndns2_allow_plain_http": "yes"}
    head_body = ""

    def setUp(self):
        Harness.setUp(self)
        self.server = support.LocalServer(self.config)

    def tearDown(self):
        self.server.stop()
        self.seen.append(self.server.stderr())
        Harness.tearDown(self)

    def get(self, path, query, headers=None, method="GET", remote_addr="127.0.0.1",
            https=True, body=b""):
        if remote_addr != "127.0.0.1":
            self.skipTest("serve sees the real peer address (127.0.0.1) only")
        status, response_headers, text = support.http_request(
            self.server.host, self.server.port, method, path + ("?" + query if query else ""),
            body=body, headers=headers,
            content_type="application/x-www-form-urlencoded" if body else None)
        self.seen.append(text)
        self.last_headers = response_headers
        return status, text

    def view(self, query):
        return self.get("/", query)

    def post_update(self, body):
        return self.get("/", "", method="POST", body=body)

    def log_text(self):
        return self.server.stderr()


# ---------------------------------------------------------------------------
# The real clients, against `serve`, with DEPLOY.md's recipes for them.
# ---------------------------------------------------------------------------

def ddclient_conf(port, password, script=None):
    conf = deploy.recipe("ddclient-conf", ("daemon=300", "daemon=0"), ("ssl=yes", "ssl=no"),
                         ("web=https://example.org/checkip", "web=http://127.0.0.1:%d/checkip"
                          % port),
                         ("server=example.org", "server=127.0.0.1:%d" % port),
                         ("PASTE-THE-DYNDNS2-PASSWORD-HERE", password))
    if script:
        conf = deploy.replace_values(conf, [("script=/nic/update", "script=" + script)],
                                     "recipe ddclient-conf")
    return conf


def inadyn_conf(port, password):
    # No TLS here; our checkip answers 127.0.0.1, which inadyn would refuse as
    # "not a valid Internet address" unless told.
    return deploy.recipe("inadyn-conf", ("period = 300", "period = 300\nverify-address = false"),
                         ("ssl = true", "ssl = false\n    checkip-ssl = false"),
                         ("checkip-server = example.org", "checkip-server = 127.0.0.1:%d"
                          % port),
                         ("ddns-server = example.org", "ddns-server = 127.0.0.1:%d" % port),
                         ("PASTE-THE-DYNDNS2-PASSWORD-HERE", password))


class RealClients(object):
    """Run a client once; (exit code, everything it printed)."""

    def write(self, filename, text):
        path = os.path.join(self.directory, filename)
        with open(path, "w") as conf_file:
            conf_file.write(text)
        os.chmod(path, 0o600)   # both clients want their password file private
        return path

    def ddclient(self, port, password, script=None):
        conf = self.write("ddclient.conf", ddclient_conf(port, password, script))
        cache = os.path.join(self.directory, "ddclient.cache")
        if os.path.exists(cache):
            os.remove(cache)
        code, output, errors = deploy.run_program(
            [client_program("ddclient"), "-foreground", "-daemon=0", "-noquiet", "-file", conf,
             "-cache", cache], timeout=60)
        return code, output + errors

    def inadyn(self, port, password):
        conf = self.write("inadyn.conf", inadyn_conf(port, password))
        cache = tempfile.mkdtemp(prefix="inadyn-cache-", dir=self.directory)
        code, output, errors = deploy.run_program(
            [client_program("inadyn"), "-1", "--foreground", "--no-pidfile",
             "--cache-dir=" + cache, "-f", conf, "-l", "info"], timeout=60)
        return code, output + errors
