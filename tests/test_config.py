"""The config reader: configparser's reading of our files, stricter, and never
quoting a line (a line may hold a key)."""

import configparser
import os
import shutil
import tempfile
import unittest

from tests import support

import ipupdate_server

ACCEPTED = [
    "[ipupdate]\nsecret = abc\n",
    "[ipupdate]\nsecret=abc\ndatabase : data/x.sqlite\n",
    "# comment\n; another\n\n[ipupdate]\n  # indented comment\nsecret = a=b:c ; not a comment\n",
    "[ipupdate]\nsecret = \ntimezone = Europe/Lisbon   \n[names]\nHome = K%(x)s\n",
    "[ipupdate]\ntrusted_proxies = ::1, 127.0.0.1\n[dyndns2]\nhome.example.org = pw\n",
    "[ipupdate]\nsecret: x = y\n[name:home]\non_change = hooks/a b\n",
]


def configparser_reading(text):
    parser = configparser.RawConfigParser(strict=True, empty_lines_in_values=False,
                                          default_section="\0none")
    parser.optionxform = str
    parser.read_string(text)
    return dict((section, dict(parser.items(section))) for section in parser.sections())


class ReadIniTest(unittest.TestCase):

    def test_reads_what_configparser_reads(self):
        for text in ACCEPTED:
            self.assertEqual(ipupdate_server.read_ini(text, "c.conf")[0],
                             configparser_reading(text), text)

    def test_gives_the_line_of_every_setting_and_section(self):
        text = "# comment\n[ipupdate]\nsecret = a\n\n[names]\n; x\nHome = b\n"
        self.assertEqual(ipupdate_server.read_ini(text, "c.conf")[1], {
            ("ipupdate", None): 2, ("ipupdate", "secret"): 3,
            ("names", None): 5, ("names", "Home"): 7})

    def test_refuses_with_the_line_number_and_never_the_line(self):
        cases = [
            ("secret = KEYKEYKEY\n", "config file c.conf: line 1 comes before any [section]"),
            ("[ipupdate]\nsecret = a\n  KEYKEYKEY\n",
             "config file c.conf: line 3 in [ipupdate] is indented (a value must fit on one "
             "line)"),
            ("[ipupdate]\nKEYKEYKEY\n", "config file c.conf: line 2 in [ipupdate]: cannot "
                                        "parse it (expected 'setting = value')"),
            ("[ipupdate]\n= KEYKEYKEY\n", "config file c.conf: line 2 in [ipupdate]: cannot "
                                          "parse it (expected 'setting = value')"),
            ("[ipupdate\nsecret = KEYKEYKEY\n", "config file c.conf: line 1: cannot parse it"),
            ("[ipupdate]\nsecret = KEYKEYKEY\nsecret = KEYKEYKEY\n",
             "config file c.conf: line 3 in [ipupdate]: 'secret' appears twice (first on "
             "line 2)"),
            ("[names]\nKEYKEYKEY = a\nKEYKEYKEY = b\n",
             "config file c.conf: line 3 in [names]: an entry appears twice (first on line 2)"),
            ("[names]\n[ipupdate]\n[names]\n",
             "config file c.conf: line 3: section [names] appears twice"),
        ]
        for text, message in cases:
            with self.assertRaises(ipupdate_server.ConfigError) as caught:
                ipupdate_server.read_ini(text, "c.conf")
            self.assertEqual(str(caught.exception), message)
            self.assertNotIn("KEYKEYKEY", str(caught.exception))


class LoadConfigTest(unittest.TestCase):

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="ipupdate-config-")
        self.addCleanup(shutil.rmtree, self.directory)

    def test_settings_reach_the_config(self):
        path = support.write_config(self.directory, window="90s", timezone="Asia/Tokyo")
        config = ipupdate_server.load_config(path)
        self.assertEqual((config.secret, config.key_for("home"), config.key_for("x"),
                          config.window_s, config.timezone, config.database),
                         (support.KEY, support.HOME_KEY, support.KEY, 90, "Asia/Tokyo",
                          os.path.join(self.directory, "ipupdate.sqlite")))


if __name__ == "__main__":
    unittest.main()
