"""No config error echoes a value: a key left on a line of its own, in any
section, is reported by file, line and section, and never quoted, in the error
log of a CGI request and in the output of `check` (which cron mails).

A setting's name is quoted only when it looks like one of ours (a short word of
lower-case letters and underscores), so that a typo stays easy to find.
"""

import os
import shutil
import subprocess
import tempfile
import unittest

from tests import support
from tests.support import KEY, HOME_KEY

ROUTER_PW = "router-pw-4d0b8e2c7a19f365"
BASE64_KEY = "q7Zt0VbK3mXw9pLc2RfY8uNh=="      # '=' padding: read as a setting with a value
BASE64_KEY_PLUS = "Qm9i+Kx/7vTz0aLw3yRe5uMn=="  # ... whose name is not a valid name either
GARBAGE = "key-like-garbage = value"

# The config of every test; a pasted line goes right under a section's header.
LINES = ["[ipupdate]", "secret = " + KEY, "database = ipupdate.sqlite", "",
         "[names]", "home = " + HOME_KEY, "",
         "[name:home]", "on_change =", "",
         "[dyndns2]", "home.example.org = " + ROUTER_PW, ""]

UNPARSABLE = "cannot parse it (expected 'setting = value')"
NOT_A_SETTING = "unknown setting (not shown: it does not look like a setting name)"
NOT_A_NAME_SETTING = ("unknown setting (not shown: it does not look like a setting name; "
                      "expected on_change, hook_timeout)")
NOT_A_NAME = ("not a valid name (a letter or digit followed by up to 62 of letters, "
              "digits, '.', '_', '-')")
SHORT_KEY = ("key shorter than 16 characters (make one with 'ipupdate_server.py genkey', "
             "or set allow_short_secrets = yes)")
SHORT_PASSWORD = ("password shorter than 16 characters (make one with "
                  "'ipupdate_server.py genkey')")


def genkey():
    done = subprocess.run([support.PYTHON, support.SERVER, "genkey"], stdout=subprocess.PIPE,
                          env=support.clean_env(), timeout=30, check=True)
    return done.stdout.decode().strip()


class ConfigCase(unittest.TestCase):

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="ipupdate-config-")
        self.addCleanup(shutil.rmtree, self.directory)
        self.config = os.path.join(self.directory, "ipupdate.conf")

    def write(self, lines):
        support.write_config(self.directory, body="\n".join(lines))

    def paste(self, section, text):
        """The config with `text` on a line of its own under `section`; its line number."""
        lines = list(LINES)
        at = lines.index("[%s]" % section) + 1
        lines.insert(at, text)
        self.write(lines)
        return at + 1

    def assertReported(self, message, *hidden):
        """`message` (without 'config file F: ') is the one line that a CGI request's
        error log and `check`'s output give, and nothing in `hidden` is in either."""
        message = "config file %s: %s" % (self.config, message)
        status, _, body, errors, code = support.run_cgi(
            support.SERVER, self.config, "type=ip&ts=%d" % support.now())
        self.assertEqual((code, status, body), (0, 500, "Error: server not configured"),
                         errors)
        self.assertEqual(errors, "ipupdate: configuration error: %s\n" % message)
        done = subprocess.run([support.PYTHON, support.SERVER, "check", "--config",
                               self.config], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=support.clean_env(), timeout=30)
        self.assertEqual((done.returncode, done.stdout.decode(), done.stderr.decode()),
                         (3, "UNKNOWN: %s\n" % message, ""))
        said = (errors + body + done.stdout.decode()).lower()
        for secret in hidden + (KEY, HOME_KEY, ROUTER_PW):
            # In any letter case (names are folded), and without the '=' padding
            # that the reader takes for the delimiter.
            self.assertNotIn(secret.rstrip("=").lower(), said)


class AKeyOnALineOfItsOwnIsNeverEchoedTest(ConfigCase):
    """In each section: support.KEY, genkey's output, base64 keys with '=' padding,
    and a line of garbage that looks like a key."""

    @classmethod
    def setUpClass(cls):
        cls.generated = genkey()

    def test_the_base_config_is_accepted(self):
        self.write(LINES)
        status, _, _, errors, _ = support.run_cgi(
            support.SERVER, self.config, "type=ip&ts=%d" % support.now())
        self.assertEqual((status, errors), (200, ""))

    def check_section(self, section, expected):
        for pasted, problem in zip((KEY, self.generated, BASE64_KEY, BASE64_KEY_PLUS, GARBAGE),
                                   expected):
            with self.subTest(pasted=pasted):
                line = self.paste(section, pasted)
                self.assertReported("line %d in [%s]: %s" % (line, section, problem),
                                    pasted.split(" ")[0])

    def test_in_ipupdate(self):
        self.check_section("ipupdate", [UNPARSABLE, UNPARSABLE, NOT_A_SETTING, NOT_A_SETTING,
                                        NOT_A_SETTING])

    def test_in_names(self):
        self.check_section("names", [UNPARSABLE, UNPARSABLE, SHORT_KEY, NOT_A_NAME,
                                     SHORT_KEY])

    def test_in_a_name_section(self):
        self.check_section("name:home", [UNPARSABLE, UNPARSABLE, NOT_A_NAME_SETTING,
                                         NOT_A_NAME_SETTING, NOT_A_NAME_SETTING])

    def test_in_dyndns2(self):
        self.check_section("dyndns2", [UNPARSABLE, UNPARSABLE, SHORT_PASSWORD, NOT_A_NAME,
                                       SHORT_PASSWORD])

    def test_an_indented_key_names_its_section(self):
        line = self.paste("names", "  " + KEY)
        self.assertReported("line %d in [names] is indented (a value must fit on one line)"
                            % line)


class OtherMistakesNameTheirLineTest(ConfigCase):
    """The rest of what [names] and [dyndns2] refuse, by line, never by value."""

    def replace(self, old, new):
        lines = [new if line == old else line for line in LINES]
        self.write(lines)
        return lines.index(new) + 1

    def test_a_setting_that_looks_like_ours_is_quoted(self):
        line = self.paste("ipupdate", "windwo = 30")
        self.assertReported("line %d in [ipupdate]: unknown setting 'windwo'" % line)
        line = self.paste("name:home", "on_chnage = x")
        self.assertReported("line %d in [name:home]: unknown setting 'on_chnage' (expected "
                            "on_change, hook_timeout)" % line)

    def test_a_setting_given_twice(self):
        line = self.paste("ipupdate", "secret = " + KEY)
        self.assertReported("line %d in [ipupdate]: 'secret' appears twice (first on line %d)"
                            % (line + 1, line))

    def test_an_entry_given_twice_is_not_quoted_unless_it_looks_like_a_setting(self):
        line = self.paste("dyndns2", "home.example.org = " + ROUTER_PW)
        self.assertReported("line %d in [dyndns2]: an entry appears twice (first on line %d)"
                            % (line + 1, line))

    def test_an_empty_key(self):
        line = self.replace("home = " + HOME_KEY, "home =")
        self.assertReported("line %d in [names]: the key is empty" % line)

    def test_names_that_differ_only_in_case(self):
        line = self.paste("names", "HOME = " + KEY[::-1])
        self.assertReported("line %d in [names]: this name and that on line %d differ only "
                            "in letter case (names are case-insensitive)" % (line + 1, line),
                            KEY[::-1])
        line = self.paste("dyndns2", "Home.Example.org = " + ROUTER_PW[::-1])
        self.assertReported("line %d in [dyndns2]: this name and that on line %d differ only "
                            "in letter case (hostnames are case-insensitive)"
                            % (line + 1, line), ROUTER_PW[::-1])

    def test_a_wrong_trusted_proxy_is_counted_not_quoted(self):
        line = self.paste("ipupdate", "trusted_proxies = 127.0.0.1, " + KEY)
        self.assertReported("line %d in [ipupdate]: trusted_proxies: entry 2 is not an "
                            "address or network" % line)

    def test_a_dyndns2_password_that_is_a_key(self):
        line = self.replace("home.example.org = " + ROUTER_PW, "home.example.org = " + KEY)
        self.assertReported(
            "line %d in [dyndns2]: password is also a key in [ipupdate] or [names]: give "
            "dyndns2 a password of its own (its clients send it as it is, and the key must "
            "never leave its machines)" % line)


if __name__ == "__main__":
    unittest.main()
