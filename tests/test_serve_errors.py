"""`serve` fails in one line with a usage exit code: a busy port, an address
that is not ours; and takes a config edit without a restart. A real
`ipupdate_server.py serve`."""

import shutil
import socket
import subprocess
import tempfile
import unittest

from tests import support


class ServeErrorsAreOneLineTest(unittest.TestCase):

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="ipupdate-test-")
        self.addCleanup(shutil.rmtree, self.directory)
        self.config = support.write_config(self.directory)

    def serve(self, bind, port):
        done = subprocess.run([support.PYTHON, support.SERVER, "serve", "--config", self.config,
                               "--bind", bind, "--port", str(port)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=support.clean_env(), timeout=30)
        return done.returncode, done.stdout.decode(), done.stderr.decode()

    def test_a_busy_port_is_one_line_and_exit_2(self):
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        self.addCleanup(busy.close)
        port = busy.getsockname()[1]
        code, output, errors = self.serve("127.0.0.1", port)
        self.assertEqual((code, output), (2, ""))
        self.assertRegex(errors, r"^ipupdate_server\.py: cannot listen on 127\.0\.0\.1 port %d: "
                                 r"[^\n]+\n$" % port)

    def test_an_address_that_is_not_ours_is_one_line_and_exit_2(self):
        code, output, errors = self.serve("192.0.2.1", 0)  # TEST-NET-1: never local
        self.assertEqual((code, output), (2, ""))
        self.assertRegex(errors, r"^ipupdate_server\.py: cannot listen on 192\.0\.2\.1 port 0: "
                                 r"[^\n]+\n$")


if __name__ == "__main__":
    unittest.main()


class AConfigEditNeedsNoRestartTest(unittest.TestCase):
    """`serve` reads its config for each request, as CGI does: a key added,
    a mistake made and mended, each shows at the next request."""

    def test_edits_take_effect_at_the_next_request(self):
        directory = tempfile.mkdtemp(prefix="ipupdate-serve-")
        self.addCleanup(shutil.rmtree, directory)
        config = support.write_config(directory)
        cabin_key = "cabin-key-4e1b9d0c7a62f385"
        with support.LocalServer(config) as server:
            def update(ts):
                return support.http_request(server.host, server.port, body=support.update_body(
                    "127.0.0.1", "cabin", ts, cabin_key))[::2]

            ts = support.now()
            self.assertEqual(update(ts)[0], 403)  # cabin has no key of its own yet
            with open(config, "a") as config_file:
                config_file.write("cabin = %s\n" % cabin_key)
            self.assertEqual(update(ts + 1), (200, "OK: New IP updated"))
            with open(config, "a") as config_file:
                config_file.write("[nonsense]\n")
            self.assertEqual(update(ts + 2), (500, "Error: server not configured"))
            with open(config) as config_file:
                mended = config_file.read().replace("[nonsense]\n", "")
            support.write_config(directory, body=mended)
            self.assertEqual(update(ts + 3), (200, "OK: Timestamp updated"))
            server.stop()
            self.assertIn("ipupdate: configuration error: config file %s: line " % config,
                          server.stderr())
