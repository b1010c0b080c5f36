"""The client's command line, run as a real process: where the password
comes from (and the checks on a password file), usage errors, --help.
"""

import os
import unittest

try:
    from tests import support
except ImportError:  # run from inside tests/ (unittest discover -s tests)
    import support

AUTH_FAILED = ("ipupdater: the address reply fails authentication: wrong password (for "
               "this name), or someone on the path altered the reply; nothing was sent\n")

class TestPasswordSources(support.RealServerCase):

    def write_key(self, text, mode):
        path = os.path.join(self.directory.name, "key")
        with open(path, "w") as key_file:
            key_file.write(text)
        os.chmod(path, mode)
        return path

    def test_password_file_with_trailing_newline(self):
        path = self.write_key(support.HOME_KEY + "\n", 0o600)
        self.assertEqual(self.client("--url", self.url, "-n", "home", "--password-file", path),
                         (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))

    def test_password_file_with_crlf(self):
        path = self.write_key(support.HOME_KEY + "\r\n", 0o400)
        self.assertEqual(self.client("--url", self.url, "-n", "home", "--password-file", path),
                         (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))

    def test_only_one_newline_is_stripped(self):
        path = self.write_key(support.HOME_KEY + "\n\n", 0o600)
        self.assertEqual(self.client("--url", self.url, "-n", "home", "--password-file", path),
                         (4, "", AUTH_FAILED))

    def test_password_file_readable_by_others_is_refused(self):
        path = self.write_key(support.HOME_KEY, 0o644)
        code, out, err = self.client("--url", self.url, "-n", "home", "--password-file", path)
        self.assertEqual((code, out), (2, ""))
        self.assertEqual(err, "ipupdater: password file %s may be read by group or others "
                              "(mode 644): chmod 600 it, or pass "
                              "--allow-readable-password-file (see --help)\n" % path)
        self.assertEqual(support.rows(self.database), [])

    def test_password_file_readable_by_group_is_refused(self):
        path = self.write_key(support.HOME_KEY, 0o640)
        code, out, err = self.client("--url", self.url, "-n", "home", "--password-file", path)
        self.assertEqual((code, out), (2, ""))
        self.assertIn("(mode 640)", err)

    def test_readable_password_file_when_allowed(self):
        path = self.write_key(support.HOME_KEY, 0o644)
        self.assertEqual(self.client("--url", self.url, "-n", "home", "--password-file", path,
                                     "--allow-readable-password-file"),
                         (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))

    def test_missing_password_file(self):
        path = os.path.join(self.directory.name, "absent")
        code, out, err = self.client("--url", self.url, "--password-file", path)
        self.assertEqual((code, out, err), (2, "", "ipupdater: cannot read password file %s: "
                                                   "No such file or directory (see --help)\n"
                                                   % path))

    def test_password_from_the_environment(self):
        self.assertEqual(self.client("--url", self.url, "-n", "home",
                                     IPUPDATE_PASSWORD=support.HOME_KEY),
                         (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))

    def test_an_option_wins_over_the_environment(self):
        path = self.write_key(support.HOME_KEY, 0o600)
        self.assertEqual(self.client("--url", self.url, "-n", "home", "--password-file", path,
                                     IPUPDATE_PASSWORD=support.WRONG_KEY),
                         (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))

    def test_no_password_at_all_is_a_usage_error(self):
        code, out, err = self.client("--url", self.url, "-n", "home")
        self.assertEqual((code, out), (2, ""))
        self.assertEqual(err, "ipupdater: no password: give --password-file FILE, set "
                              "IPUPDATE_PASSWORD, or give -p PASSWORD (see --help)\n")

    def test_two_password_options_are_a_usage_error(self):
        path = self.write_key(support.HOME_KEY, 0o600)
        code, out, err = self.client("--url", self.url, "-p", support.HOME_KEY,
                                     "--password-file", path)
        self.assertEqual((code, out), (2, ""))
        self.assert_one_error_line(err)
        self.assertEqual(support.rows(self.database), [])


class TestUsage(support.ClientCase):

    def test_help_documents_the_crontab_line_and_exit_codes(self):
        code, out, err = self.client("--help")
        self.assertEqual((code, err), (0, ""))
        self.assertIn("*/10 * * * * /usr/bin/python3 /home/pi/ipupdater.py -q --url "
                      "http://example.org/cgi-bin/ipupdate_server.py -n home --password-file "
                      "/home/pi/.ipupdate.key\n", out)
        self.assertIn("(default: cgi-bin/ipupdate_server.py)", out)
        for line in ("  0  success", "  2  usage", "  3  network failure",
                     "  4  the server's reply failed authentication", "  5  the server refused"):
            self.assertIn(line, out)

    def test_bad_command_lines_exit_2_with_one_line(self):
        for args in (["--frobnicate"], ["-p", "x"], ["-w", "h", "--url", "http://h/", "-p", "x"],
                     ["--url", "ftp://h/", "-p", "x"], ["--url", "http://u@h/", "-p", "x"],
                     ["--url", "http://h/", "-p", "x", "--timeout", "soon"],
                     ["--url", "http://h/", "-p", "x", "--retries", "99"],
                     ["--url", "http://h/", "-p"], ["--url", "http://h/", "-p", "x", "extra"],
                     ["--url", "http://h:99999/", "-p", "x"],
                     ["--url", "http://h/a b", "-p", "x"]):
            code, out, err = self.client(*args)
            self.assertEqual((code, out), (2, ""), args)
            self.assert_one_error_line(err)
            self.assertTrue(err.endswith(" (see --help)\n"), err)

    def test_bundled_flags_and_attached_values_parse(self):
        # -q46 with an invalid URL: parsing passed when the URL is what is refused.
        code, out, err = self.client("-q46", "-wh/x y", "-pSECRET")
        self.assertEqual((code, out), (2, ""))
        self.assertIn("spaces or control characters", err)



if __name__ == "__main__":
    unittest.main()
