"""dyndns2 with the real clients: Debian's ddclient and inadyn, configured by
the recipes of docs/DEPLOY.md section 7, against a real `serve`; and that
section's recipes on a real Apache, ddclient through it.

A client or web server that is not installed is skipped, or fails under
IPUPDATE_REQUIRE_WEBSERVERS=1 (the machinery: tests/dyndns2.py, tests/deploy.py).
"""

import os
import re
import shutil
import tempfile
import time
import unittest

from tests import deploy
from tests import support
from tests.dyndns2 import CHALLENGE, ROUTER_PW, RealClients, ThroughServe, basic, sources
from tests.support import rows


# ---------------------------------------------------------------------------
# The real clients, against `serve`.
# ---------------------------------------------------------------------------

class RealClientsThroughServeTest(RealClients, ThroughServe, unittest.TestCase):

    def viewer_line(self):
        return support.http_request(self.server.host, self.server.port, "GET",
                                    "/?name=home.example.org", content_type=None)[::2]

    def test_ddclient_updates_a_name_and_the_viewer_shows_it(self):
        code, output = self.ddclient(self.server.port, ROUTER_PW)
        self.assertEqual(code, 0, output)
        self.assertRegex(output, r"SUCCESS: +updating home\.example\.org: good: IP address set "
                                 r"to 127\.0\.0\.1")
        self.assertEqual(sources(self.database), [("home.example.org", "127.0.0.1", "dyndns2")])
        status, text = self.viewer_line()
        self.assertEqual(status, 200)
        self.assertRegex(text, r"^home\.example\.org ipv4 127\.0\.0\.1 \S+ dyndns2\n$")

    def test_ddclient_with_a_wrong_password_gets_badauth_and_changes_nothing(self):
        code, output = self.ddclient(self.server.port, "not-the-password-0123456789")
        self.assertEqual(code, 1, output)
        self.assertRegex(output, r"FAILED: +updating home\.example\.org: authorization failed "
                                 r"\(HTTP/1\.1 401 Unauthorized")
        self.assertIn("badauth", output)
        self.assertEqual(rows(self.database), [])

    def test_inadyn_updates_a_name_and_the_viewer_shows_it(self):
        code, output = self.inadyn(self.server.port, ROUTER_PW)
        self.assertEqual(code, 0, output)
        self.assertIn("Successful alias table update for home.example.org => new IP# 127.0.0.1",
                      output)
        self.assertEqual(sources(self.database), [("home.example.org", "127.0.0.1", "dyndns2")])
        status, text = self.viewer_line()
        self.assertRegex(text, r"^home\.example\.org ipv4 127\.0\.0\.1 \S+ dyndns2\n$")
        # Again (a new cache, so inadyn sends it): the same address is nochg, a success.
        code, output = self.inadyn(self.server.port, ROUTER_PW)
        self.assertEqual(code, 0, output)
        self.assertIn("Successful alias table update for home.example.org", output)
        self.assertEqual(len(rows(self.database)), 1)

    def test_inadyn_with_a_wrong_password_gets_badauth_and_changes_nothing(self):
        code, output = self.inadyn(self.server.port, "not-the-password-0123456789")
        self.assertNotEqual(code, 0, output)
        self.assertIn("[401 Unauthorized] badauth", output)
        self.assertEqual(rows(self.database), [])


# ---------------------------------------------------------------------------
# DEPLOY.md section 7 on a real Apache.
# ---------------------------------------------------------------------------

class ApacheDyndns2Test(RealClients, unittest.TestCase):
    """The install recipe, the dyndns2 recipes, and the Apache site of section 1
    with the /nic/update alias; ddclient through it. Apache here has no
    certificate, so the recipe as written is refused over plain HTTP; the
    other tests then allow plain HTTP in the config, as DEPLOY.md says tests do."""

    @classmethod
    def setUpClass(cls):
        cls.apache = deploy.check_apache()
        deploy.check_web_account()
        cls.directory = tempfile.mkdtemp(prefix="ipupdate-dyndns2-apache-")
        os.chmod(cls.directory, 0o755)   # the web server's user walks through it
        cls.site = os.path.join(cls.directory, "site")
        cls.daemons = []
        try:
            deploy.run_shell(deploy.recipe(
                "cgi-install", ("/srv/ipupdate", cls.site), ("/usr/bin/python3", support.PYTHON),
                ("WEB_USER=www-data", "WEB_USER=" + deploy.WEB_USER),
                ("WEB_GROUP=www-data", "WEB_GROUP=" + deploy.WEB_GROUP)), cwd=support.ROOT)
            output, _ = deploy.run_shell(deploy.recipe(
                "dyndns2-config", ("/srv/ipupdate", cls.site),
                ("/usr/bin/python3", support.PYTHON)), cwd=support.ROOT)
            cls.password = re.search(r"^The dyndns2 password for home\.example\.org: "
                                     r"([0-9a-f]{32})$", output, re.M).group(1)
            cls.config = os.path.join(cls.site, "ipupdate.conf")
            with open(cls.config, "rb") as config_file:
                cls.config_bytes = config_file.read()
            cls.port = deploy.free_port()
            site = deploy.recipe("apache-site", ("/srv/ipupdate", cls.site),
                                 ("*:80", "*:%d" % cls.port))
            alias = deploy.recipe("apache-dyndns2", ("/srv/ipupdate", cls.site))
            site = deploy.replace_values(site, [("</VirtualHost>", alias + "</VirtualHost>")],
                                         "recipe apache-site")
            cls.log_path = os.path.join(cls.directory, "apache-error.log")
            cls.daemons.append(deploy.start_apache(cls.apache, cls.directory, [cls.port], site,
                                                   cls.log_path))
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for daemon in reversed(cls.daemons):
            daemon.stop()
        shutil.rmtree(cls.directory, ignore_errors=True)

    def setUp(self):
        data = os.path.join(self.site, "data")
        for entry in os.listdir(data):
            os.remove(os.path.join(data, entry))
        with open(self.config, "wb") as config_file:   # the same file: mode and group kept
            config_file.write(self.config_bytes)
        self.database = os.path.join(data, "ipupdate.sqlite")
        self.log_mark = len(self.error_log())

    def error_log(self):
        with open(self.log_path, "rb") as log_file:
            return log_file.read().decode("utf-8", "replace")

    def allow_plain_http(self):
        with open(self.config, "wb") as config_file:
            config_file.write(self.config_bytes.replace(
                b"[ipupdate]\n", b"[ipupdate]\ndyndns2_allow_plain_http = yes\n", 1))

    def nic_update(self, path, password):
        return deploy.request(self.port, "GET", path, headers={
            "Authorization": basic(password)})

    def test_the_recipe_refuses_plain_http(self):
        status, _, text = self.nic_update("/nic/update?hostname=home.example.org",
                                          self.password)
        self.assertEqual((status, text), (403, "badagent"))
        self.wait_for_log("ipupdate: refused dyndns2 update from 127.0.0.1 for name "
                          "'home.example.org': refused over plain HTTP")
        self.assertNotIn(self.password, self.error_log())
        self.assertEqual(rows(self.database), [])

    def wait_for_log(self, text):
        """Apache writes a CGI program's stderr to its log asynchronously: wait a little."""
        deadline = time.monotonic() + 5
        while text not in self.error_log()[self.log_mark:] and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertIn(text, self.error_log()[self.log_mark:])

    def test_ddclient_through_apache_and_the_viewer_shows_it(self):
        self.allow_plain_http()
        code, output = self.ddclient(self.port, self.password)
        self.assertEqual(code, 0, output)
        self.assertRegex(output, r"SUCCESS: +updating home\.example\.org: good: IP address set "
                                 r"to 127\.0\.0\.1")
        self.assertEqual(sources(self.database), [("home.example.org", "127.0.0.1", "dyndns2")])
        status, _, text = deploy.request(self.port, "GET",
                                         "/cgi-bin/getip_cgi.py?name=home.example.org")
        self.assertEqual(status, 200)
        self.assertRegex(text, r"^home\.example\.org ipv4 127\.0\.0\.1 \S+ dyndns2\n$")
        self.assertNotIn(self.password, self.error_log())

    def test_the_script_url_with_the_path_after_it(self):
        self.allow_plain_http()
        path = "/cgi-bin/ipupdate_server.py/nic/update?hostname=home.example.org"
        status, headers, text = self.nic_update(path, "not-the-password-0123456789")
        self.assertEqual((status, text, headers["www-authenticate"]),
                         (401, "badauth", CHALLENGE))
        self.assertEqual(rows(self.database), [])
        status, headers, text = self.nic_update(path, self.password)
        self.assertEqual((status, text), (200, "good 127.0.0.1"))
        # Not chunked (see the recipe): the script's own Content-Length.
        self.assertEqual((headers.get("content-length"), headers.get("transfer-encoding")),
                         ("14", None))
        code, output = self.ddclient(self.port, self.password,
                                     script="/cgi-bin/ipupdate_server.py/nic/update")
        self.assertEqual(code, 0, output)
        self.assertRegex(output, r"WARNING: +updating home\.example\.org: nochg")


if __name__ == "__main__":
    unittest.main()
