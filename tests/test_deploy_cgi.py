"""docs/DEPLOY.md sections 1 and 2, executed: the CGI scripts as the install
recipe lays them out, behind a real Apache with mod_cgid and a real nginx with
fcgiwrap, each configured as its recipe says. The rules every CGI deployment
must keep are written once (CgiDeployment) and run on both web servers.

A web server that is not installed is skipped, or fails under
IPUPDATE_REQUIRE_WEBSERVERS=1 (the machinery: tests/deploy.py).
"""

import base64
import grp
import json
import os
import pwd
import re
import shutil
import stat
import tempfile
import time
import unittest

from tests import support
from tests.deploy import (IS_ROOT, NONCE, ORIGINAL_CLIENT, SQLITE_SIDE_FILES, WEB_GROUP,
                          WEB_USER, Daemon, as_web_user, check_apache, check_web_account,
                          chown_to_web_user, free_port, interpreter_wrapper,
                          make_original_database, plant_side_files, program, recipe,
                          replace_values, request, run_program, run_shell, start_apache,
                          unavailable, write_nginx_conf)
from tests.support import sign, rows, now


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


if __name__ == "__main__":
    unittest.main()
