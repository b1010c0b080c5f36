"""docs/DEPLOY.md section 5, executed: `serve` as examples/ipupdate-serve.service
starts it, behind a real nginx configured as the recipe says.

nginx not installed is skipped, or fails under IPUPDATE_REQUIRE_WEBSERVERS=1
(the machinery: tests/deploy.py).
"""

import os
import re
import shlex
import shutil
import subprocess
import tempfile
import unittest

from tests import support
from tests.deploy import (NONCE, Daemon, example, free_port, program, recipe, replace_values,
                          request, run_program, run_shell, unit_setting, write_nginx_conf)
from tests.support import sign, rows, now


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


if __name__ == "__main__":
    unittest.main()
