"""docs/DEPLOY.md section 1, "On a shared host", executed: the recipes for a
cgi-bin beside the document root and inside it, for the old URLs and for
dyndns2, run as the customer against a real Apache that runs the customer's
scripts as the customer.

Apache not installed is skipped, or fails under IPUPDATE_REQUIRE_WEBSERVERS=1
(the machinery: tests/deploy.py).
"""

import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

from tests import dyndns2
from tests import support
from tests.deploy import (IS_ROOT, ORIGINAL_CLIENT, SQLITE_SIDE_FILES, WEB_GROUP, WEB_USER,
                          as_web_user, check_apache, check_web_account, free_port,
                          interpreter_wrapper, plant_side_files, recipe, replace_values,
                          request, run_program, start_apache)
from tests.support import rows, now


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
        conf = dyndns2.ddclient_conf(port, password,
                                     "/cgi-bin/ipupdate_server.py/nic/update")
        conf = replace_values(conf, [("/checkip", "/cgi-bin/ipupdate_server.py/checkip")],
                              "recipe ddclient-conf")
        conf_path = os.path.join(self.directory, "ddclient.conf")
        with open(conf_path, "w") as conf_file:
            conf_file.write(conf)
        os.chmod(conf_path, 0o600)
        code, output, errors = run_program([
            dyndns2.client_program("ddclient"), "-foreground", "-daemon=0", "-noquiet",
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


if __name__ == "__main__":
    unittest.main()
