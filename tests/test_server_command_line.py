"""ipupdate_server.py's command line (genkey, --help, `serve` with a broken
config), and what a CGI request costs in imports."""

import shutil
import subprocess
import tempfile
import unittest

from tests import support
from tests.support import HOME_KEY, update_body, now


class CommandLineTest(unittest.TestCase):

    def run_server(self, *args):
        return subprocess.run([support.PYTHON, support.SERVER] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=support.clean_env(), timeout=30)

    def test_genkey_prints_a_fresh_256_bit_key(self):
        first, second = self.run_server("genkey"), self.run_server("genkey")
        self.assertRegex(first.stdout.decode(), r"^[0-9a-f]{64}\n$")
        self.assertNotEqual(first.stdout, second.stdout)

    def test_help_names_the_commands(self):
        done = self.run_server("--help")
        self.assertEqual(done.returncode, 0)
        for word in (b"serve", b"genkey", b"cgi-bin"):
            self.assertIn(word, done.stdout)

    def test_serve_with_broken_config_exits_2_with_the_reason(self):
        done = self.run_server("serve", "--config", "/nonexistent/ipupdate.conf")
        self.assertEqual(done.returncode, 2)
        self.assertEqual(done.stderr.decode(), "ipupdate_server.py: cannot read config file "
                                               "/nonexistent/ipupdate.conf: No such file or "
                                               "directory\n")

    def test_cgi_requests_import_nothing_beyond_hmac_and_sqlite3(self):
        # Every import is paid on every CGI request (docs/PERFORMANCE.md): type=ip
        # may import what `import hmac` does, an update what `import hmac, sqlite3`
        # does, and nothing more (no ipaddress, re, configparser, http.server...).
        # With -S: start-up hooks in site-packages import what they like.
        directory = tempfile.mkdtemp(prefix="ipupdate-test-")
        self.addCleanup(shutil.rmtree, directory)
        config = support.write_config(directory)
        verbose = {"PYTHONVERBOSE": "1"}

        def imports_of(code):
            return imported_modules(subprocess.run(
                [support.PYTHON, "-S", "-c", code], stderr=subprocess.PIPE,
                env=support.clean_env(**verbose)).stderr.decode())

        floor = imports_of("pass")
        requests = [
            (b"type=ip&name=home&ts=%d&nonce=%s" % (now(), b"5a" * 16), "import os, sys, time, hmac"),
            (update_body("127.0.0.1", "home", now(), HOME_KEY), "import os, sys, time, hmac, sqlite3"),
        ]
        for body, allowed in requests:
            status, _, _, errors, _ = support.run_cgi(support.SERVER, config, body,
                                                      extra_env=verbose, flags=["-S"])
            self.assertEqual(status, 200)
            ours = imported_modules(errors) - floor
            self.assertEqual(ours - imports_of(allowed), set(), body)
            self.assertIn("hmac", ours)
        self.assertIn("sqlite3", ours)


def imported_modules(verbose_log):
    """Module names from the 'import NAME # ...' lines of python -v."""
    return set(line.split()[1].strip("'") for line in verbose_log.splitlines()
               if line.startswith("import "))


if __name__ == "__main__":
    unittest.main()
