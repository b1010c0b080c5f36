"""docs/DEPLOY.md section 3, executed: the client on the home machine, from
the crontab line of examples/ipupdater.cron as cron runs it, and from the
systemd units of examples/ (checked with systemd-analyze verify, which is
skipped where it is not installed unless IPUPDATE_REQUIRE_WEBSERVERS=1).
"""

import os
import pwd
import shlex
import shutil
import stat
import tempfile
import time
import unittest

from tests import support
from tests.deploy import (EXAMPLES, example, program, recipe, replace_values, run_program,
                          run_shell, unit_setting)
from tests.support import rows


class ClientSchedulingTest(unittest.TestCase):

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="ipupdate-deploy-")
        self.addCleanup(shutil.rmtree, self.directory)
        self.config = support.write_config(self.directory)
        self.database = os.path.join(self.directory, "ipupdate.sqlite")
        self.server = support.LocalServer(self.config)
        self.addCleanup(self.server.stop)
        self.url = "http://127.0.0.1:%d/cgi-bin/ipupdate_server.py" % self.server.port

    def test_crontab_line_runs_as_written(self):
        home = os.path.join(self.directory, "home")
        os.mkdir(home, 0o755)
        run_shell(recipe("client-key", ("/home/pi", home),
                         ("PASTE-THE-KEY-HERE", support.HOME_KEY)), cwd=home)
        key_file = os.path.join(home, ".ipupdate.key")
        self.assertEqual(stat.S_IMODE(os.stat(key_file).st_mode), 0o600)
        lines = [line for line in example(
            "ipupdater.cron", ("/usr/bin/python3", support.PYTHON),
            ("/home/pi/ipupdater.py", support.CLIENT), ("/home/pi/.ipupdate.key", key_file),
            ("https://example.org/cgi-bin/ipupdate_server.py", self.url)).splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
        self.assertEqual(len(lines), 1, lines)
        fields = lines[0].split(None, 5)
        self.assertEqual(fields[:5], ["*/10", "*", "*", "*", "*"])
        command = fields[5]
        self.assertNotIn("%", command)  # cron would turn it into a newline
        self.assertIn(" -q ", command)
        # As cron runs it: /bin/sh -c, a bare environment, in the home directory.
        user = pwd.getpwuid(os.getuid()).pw_name
        cron_env = {"PATH": "/usr/bin:/bin", "HOME": home, "SHELL": "/bin/sh",
                    "LOGNAME": user, "USER": user}
        first = run_program(["/bin/sh", "-c", command], env=cron_env, cwd=home)
        self.assertEqual(first, (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))
        time.sleep(1.1)  # the next run's timestamp must be newer
        self.assertEqual(run_program(["/bin/sh", "-c", command], env=cron_env, cwd=home),
                         (0, "", ""))  # -q: nothing to mail when nothing changed
        (row,) = rows(self.database)
        self.assertEqual(row[:2], ("127.0.0.1", "home"))
        self.assertGreater(row[3], row[2])

    def test_systemd_service_command_runs_as_written(self):
        unit = example("ipupdater.service")
        self.assertEqual(unit_setting(unit, "LoadCredential"), "key:/etc/ipupdate/ipupdater.key")
        # What systemd does with LoadCredential=: a private copy, mode 0400.
        credentials = os.path.join(self.directory, "credentials")
        os.mkdir(credentials, 0o700)
        with open(os.path.join(credentials, "key"), "w") as key_file:
            key_file.write(support.HOME_KEY + "\n")
        os.chmod(os.path.join(credentials, "key"), 0o400)
        command = replace_values(unit_setting(unit, "ExecStart"), [
            ("/usr/bin/python3", support.PYTHON),
            ("/opt/ipupdate/ipupdater.py", support.CLIENT),
            ("https://example.org/cgi-bin/ipupdate_server.py", self.url),
            ("${CREDENTIALS_DIRECTORY}", credentials)], "ExecStart of ipupdater.service")
        code, output, errors = run_program(shlex.split(command), env={
            "PATH": "/usr/bin:/bin", "CREDENTIALS_DIRECTORY": credentials, "LANG": "C"})
        self.assertEqual((code, output, errors), (0, "home: 127.0.0.1 -> OK: New IP updated\n",
                                                  ""))

    def test_systemd_units_pass_verify(self):
        analyze = program("systemd-analyze")
        units = [os.path.join(EXAMPLES, name) for name in (
            "ipupdater.service", "ipupdater.timer", "ipupdate-serve.service")]
        code, output, errors = run_program([analyze, "verify"] + units)
        self.assertEqual((code, errors), (0, ""), output)
        timer = example("ipupdater.timer")
        self.assertEqual(unit_setting(timer, "Persistent"), "true")
        self.assertEqual(unit_setting(example("ipupdater.service"), "After"),
                         "network-online.target")


if __name__ == "__main__":
    unittest.main()
