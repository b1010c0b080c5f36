"""The server misconfigured: a missing or broken config, through a real CGI
execution of ipupdate_server.py."""

import os
import shutil
import tempfile
import unittest

from tests import support
from tests.support import KEY, now, update_body


class CgiConfigurationTest(unittest.TestCase):
    """A missing or broken config: 500 to the peer, the reason in the error log."""

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="ipupdate-test-")

    def tearDown(self):
        shutil.rmtree(self.directory)

    def run_with(self, config_body):
        path = os.path.join(self.directory, "ipupdate.conf")
        if config_body is not None:
            support.write_config(self.directory, body=config_body)
        status, _, text, errors, code = support.run_cgi(
            support.SERVER, path, "type=ip&ts=%d" % now())
        self.assertEqual((code, status, text), (0, 500, "Error: server not configured"))
        return errors

    def test_missing_config(self):
        errors = self.run_with(None)
        self.assertIn("ipupdate: configuration error: cannot read config file", errors)
        self.assertIn("No such file or directory", errors)

    def test_short_secret_is_refused_at_start(self):
        errors = self.run_with("[ipupdate]\nsecret = short-secret\n")
        self.assertEqual(errors, "ipupdate: configuration error: secret shorter than 16 "
                                 "characters (make one with 'ipupdate_server.py genkey', or "
                                 "set allow_short_secrets = yes)\n")

    def test_short_secret_allowed_when_asked(self):
        support.write_config(self.directory,
                             body="[ipupdate]\nsecret = short\nallow_short_secrets = yes\n")
        status, _, text, _, _ = support.run_cgi(
            support.SERVER, os.path.join(self.directory, "ipupdate.conf"),
            "type=ip&ts=%d" % now())
        self.assertEqual(status, 200)

    def test_unparsable_line_is_reported_without_its_content(self):
        errors = self.run_with("[ipupdate]\nsecret = %s\nthis line holds %s\n" % (KEY, KEY))
        self.assertIn("line 3 in [ipupdate]: cannot parse it", errors)
        self.assertNotIn(KEY, errors)

    def test_unknown_setting_is_reported(self):
        errors = self.run_with("[ipupdate]\nsecret = %s\nwindwo = 30\n" % KEY)
        self.assertIn("line 3 in [ipupdate]: unknown setting 'windwo'", errors)

    def test_database_in_missing_directory_is_a_configuration_error(self):
        support.write_config(self.directory, body="[ipupdate]\nsecret = %s\ndatabase = "
                                                  "nowhere/db.sqlite\n" % KEY)
        status, _, text, errors, _ = support.run_cgi(
            support.SERVER, os.path.join(self.directory, "ipupdate.conf"),
            update_body("127.0.0.1", "", now(), KEY))
        self.assertEqual((status, text), (500, "Error: server not configured"))
        self.assertEqual(errors, "ipupdate: configuration error: the database's directory %s "
                                 "does not exist: create it, writable by the user the scripts "
                                 "run as, or correct 'database' in the config\n"
                         % os.path.join(self.directory, "nowhere"))


if __name__ == "__main__":
    unittest.main()
