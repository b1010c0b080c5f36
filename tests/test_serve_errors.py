"""`serve` fails in one line with a usage exit code: a busy port, an address
that is not ours. A real `ipupdate_server.py serve`."""

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
