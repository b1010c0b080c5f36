"""on_change hooks: the owner's program, run after an update changed a name's
address. Real CGI executions and a real `serve`; the hooks are real programs
written by the tests, which record what they were given."""

import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
import unittest

from tests import support
from tests.support import KEY, HOME_KEY, update_body, rows, now

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples", "hooks")

# Records its arguments, the environment it was started with (as execve passed
# it: /proc/self/environ, before Python adds anything of its own), and its
# working directory, one JSON line per run.
RECORDING_HOOK = """#!%(python)s
import json, os, sys
try:
    with open("/proc/self/environ", "rb") as started_with:
        env = dict(item.decode().split("=", 1)
                   for item in started_with.read().split(b"\\0") if item)
except OSError:
    env = dict(os.environ)
with open(%(record)r, "a") as record:
    record.write(json.dumps({"hook": %(label)r, "argv": sys.argv[1:], "env": env,
                             "cwd": os.getcwd()}) + "\\n")
"""


def expected_env(name, family, old, new, **ours):
    """The whole environment a hook gets: PATH and the locale from ours, plus the change."""
    env = dict((key, value) for key, value in dict(os.environ, **ours).items()
               if key in ("PATH", "LANG", "LC_ALL", "TZ"))
    env.update({"IPUPDATE_NAME": name, "IPUPDATE_FAMILY": family, "IPUPDATE_OLD_IP": old,
                "IPUPDATE_NEW_IP": new})
    return env


class HookHarness(object):

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="ipupdate-test-")
        self.addCleanup(shutil.rmtree, self.directory)
        self.database = os.path.join(self.directory, "ipupdate.sqlite")
        self.record = os.path.join(self.directory, "hook-runs.jsonl")
        self.hook = self.write_hook("hook")

    def write_hook(self, label, text=None):
        """An executable in the test directory; by default a recording hook."""
        path = os.path.join(self.directory, label)
        with open(path, "w") as hook:
            hook.write(text if text is not None else RECORDING_HOOK % {
                "python": support.PYTHON, "record": self.record, "label": label})
        os.chmod(path, stat.S_IRWXU)
        return path

    def configure(self, extra="", names="", **settings):
        """The default test config plus `settings` in [ipupdate] and `extra` sections."""
        lines = ["[ipupdate]", "secret = " + KEY, "database = ipupdate.sqlite"]
        lines += ["%s = %s" % item for item in sorted(settings.items())]
        lines += ["", "[names]", "home = " + HOME_KEY, names, extra, ""]
        self.config = support.write_config(self.directory, body="\n".join(lines))

    def runs(self):
        """What the recording hooks saw, oldest first."""
        if not os.path.exists(self.record):
            return []
        with open(self.record) as record:
            return [json.loads(line) for line in record]

    def update(self, address="127.0.0.1", name="home", ts=None, key=HOME_KEY, extra_env=None):
        """A CGI execution of one update; returns (status, body, error log)."""
        ts = now() if ts is None else ts
        status, _, text, errors, code = support.run_cgi(
            support.SERVER, self.config, update_body(address, name, ts, key),
            remote_addr=address, extra_env=extra_env)
        self.assertEqual(code, 0, errors)
        self.assertNotIn("Traceback", errors)
        for secret in (KEY, HOME_KEY):
            self.assertNotIn(secret, text + errors)
        return status, text, errors


class HookArgumentsTest(HookHarness, unittest.TestCase):

    def setUp(self):
        HookHarness.setUp(self)
        self.configure(on_change=self.hook)

    def test_first_address_runs_the_hook_with_an_empty_old_address(self):
        self.assertEqual(self.update(), (200, "OK: New IP updated", ""))
        self.assertEqual(self.runs(), [{
            "hook": "hook", "argv": ["home", "ipv4", "", "127.0.0.1"],
            "env": expected_env("home", "ipv4", "", "127.0.0.1"), "cwd": self.directory}])

    def test_address_change_passes_old_and_new_address(self):
        ts = now()
        self.update(ts=ts - 1)
        self.assertEqual(self.update("198.51.100.4", ts=ts), (200, "OK: New IP updated", ""))
        self.assertEqual([run["argv"] for run in self.runs()],
                         [["home", "ipv4", "", "127.0.0.1"],
                          ["home", "ipv4", "127.0.0.1", "198.51.100.4"]])
        self.assertEqual(self.runs()[1]["env"],
                         expected_env("home", "ipv4", "127.0.0.1", "198.51.100.4"))

    def test_ipv6_and_the_empty_name(self):
        self.update("2001:db8::7", name="", key=KEY)
        self.assertEqual(self.runs()[0]["argv"], ["", "ipv6", "", "2001:db8::7"])
        self.assertEqual(self.runs()[0]["env"], expected_env("", "ipv6", "", "2001:db8::7"))

    def test_timestamp_update_runs_no_hook(self):
        ts = now()
        self.update(ts=ts - 1)
        self.assertEqual(self.update(ts=ts), (200, "OK: Timestamp updated", ""))
        self.assertEqual(len(self.runs()), 1)

    def test_refused_update_runs_no_hook(self):
        ts = now()
        self.update(ts=ts)
        status, _, _ = self.update("198.51.100.4", ts=ts)            # a replayed ts
        self.assertEqual(status, 409)
        status, _, _ = self.update("198.51.100.4", ts=ts + 1, key=KEY)  # the wrong key
        self.assertEqual(status, 403)
        self.assertEqual(len(self.runs()), 1)

    def test_request_headers_and_proxy_settings_never_reach_the_hook(self):
        self.update(extra_env={"HTTP_PROXY": "http://192.0.2.66:3128", "HTTP_X_FOO": "bar",
                               "http_proxy": "http://192.0.2.66:3128",
                               "HTTPS_PROXY": "http://192.0.2.66:3128",
                               "SERVER_SOFTWARE": "test", "LANG": "C.UTF-8",
                               "PATH": "/usr/bin:/bin"})
        self.assertEqual(self.runs()[0]["env"], expected_env(
            "home", "ipv4", "", "127.0.0.1", LANG="C.UTF-8", PATH="/usr/bin:/bin"))


class HookFailureTest(HookHarness, unittest.TestCase):
    """A hook that fails or hangs is logged; the update and the reply stand."""

    def test_failing_hook_is_logged_and_changes_nothing_else(self):
        hook = self.write_hook("failing", "#!/bin/sh\necho 'cannot reach the DNS server' >&2"
                                          "\nexit 1\n")
        self.configure(on_change=hook)
        ts = now()
        self.assertEqual(self.update(ts=ts), (
            200, "OK: New IP updated",
            "ipupdate: on_change hook for home (ipv4): cannot reach the DNS server\n"
            "ipupdate: on_change hook for home (ipv4): %s exited with status 1\n" % hook))
        self.assertEqual(rows(self.database), [("127.0.0.1", "home", ts, ts)])

    def test_hanging_hook_is_killed_after_hook_timeout_with_its_children(self):
        pid_file = os.path.join(self.directory, "sleeper.pid")
        hook = self.write_hook("hanging", "#!/bin/sh\necho started\nsleep 60 &\n"
                                          "echo $! > %s\nwait\n" % pid_file)
        self.configure(on_change=hook, hook_timeout="1")
        ts, started = now(), time.monotonic()
        self.assertEqual(self.update(ts=ts), (
            200, "OK: New IP updated",
            "ipupdate: on_change hook for home (ipv4): started\n"
            "ipupdate: on_change hook for home (ipv4): %s timed out after 1 s "
            "(hook_timeout) and was killed\n" % hook))
        self.assertLess(time.monotonic() - started, 5)
        self.assertEqual(rows(self.database), [("127.0.0.1", "home", ts, ts)])
        with open(pid_file) as pid:
            self.assertFalse(is_running(int(pid.read())))

    def test_missing_hook_program_is_logged(self):
        missing = os.path.join(self.directory, "no-such-hook")
        self.configure(on_change=missing)
        self.assertEqual(self.update(), (
            200, "OK: New IP updated", "ipupdate: on_change hook for home (ipv4): cannot run "
                                       "%s: No such file or directory\n" % missing))

    def test_hook_that_is_not_executable_is_logged(self):
        os.chmod(self.hook, stat.S_IRUSR | stat.S_IWUSR)
        self.configure(on_change=self.hook)
        self.assertEqual(self.update(), (
            200, "OK: New IP updated", "ipupdate: on_change hook for home (ipv4): cannot run "
                                       "%s: Permission denied\n" % self.hook))

    def test_hook_killed_by_a_signal_is_logged(self):
        hook = self.write_hook("crashing", "#!/bin/sh\nkill -TERM $$\n")
        self.configure(on_change=hook)
        self.assertEqual(self.update()[2], "ipupdate: on_change hook for home (ipv4): %s was "
                                           "killed by signal 15\n" % hook)

    def test_output_goes_to_the_log_line_by_line_and_is_capped(self):
        hook = self.write_hook("chatty", "#!/bin/sh\necho one\necho two >&2\nprintf '\\n'\n"
                                         "i=0; while [ $i -lt 30 ]; do echo line $i; "
                                         "i=$((i+1)); done\n")
        self.configure(on_change=hook)
        lines = self.update()[2].splitlines()
        prefix = "ipupdate: on_change hook for home (ipv4): "
        self.assertEqual(lines, [prefix + "one", prefix + "two"] +
                         [prefix + "line %d" % i for i in range(18)] +
                         [prefix + "(12 more lines of output not logged)"])


class HookChoiceTest(HookHarness, unittest.TestCase):
    """[name:NAME] on_change overrides the global one; empty means none."""

    def setUp(self):
        HookHarness.setUp(self)
        self.write_hook("global-hook")
        self.write_hook("home-hook")
        self.configure(on_change="global-hook",  # relative: to the config file's directory
                       extra="[name:home]\non_change = home-hook\n\n"
                             "[name:quiet]\non_change =\n\n"
                             "[name:slow]\nhook_timeout = 30\n")

    def test_per_name_hook_replaces_the_global_one(self):
        ts = now()
        self.update(ts=ts)
        self.update(name="office", key=KEY, ts=ts)
        self.update(name="slow", key=KEY, ts=ts)
        self.assertEqual([(run["hook"], run["argv"][0]) for run in self.runs()],
                         [("home-hook", "home"), ("global-hook", "office"),
                          ("global-hook", "slow")])

    def test_empty_per_name_setting_turns_the_hook_off(self):
        self.assertEqual(self.update(name="quiet", key=KEY), (200, "OK: New IP updated", ""))
        self.assertEqual(self.runs(), [])


class HookThroughServeTest(HookHarness, unittest.TestCase):

    def test_serve_runs_the_hook_before_it_replies(self):
        self.configure(on_change=self.hook)
        with support.LocalServer(self.config) as server:
            status, _, text = support.http_request(
                server.host, server.port, body=update_body("127.0.0.1", "home", now(),
                                                           HOME_KEY))
            self.assertEqual((status, text), (200, "OK: New IP updated"))
            self.assertEqual([run["argv"] for run in self.runs()],
                             [["home", "ipv4", "", "127.0.0.1"]])
            self.assertEqual(self.runs()[0]["env"], expected_env("home", "ipv4", "",
                                                                 "127.0.0.1"))
        self.assertEqual(server.stderr(), "")


class HookConfigurationTest(HookHarness, unittest.TestCase):
    """Mistakes in the hook settings stop `serve` at start, with the reason."""

    def serve_error(self, extra="", **settings):
        self.configure(extra=extra, **settings)
        done = subprocess.run([support.PYTHON, support.SERVER, "serve", "--config",
                               self.config, "--port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=support.clean_env(), timeout=30)
        self.assertEqual(done.returncode, 2)
        return done.stderr.decode()

    def test_invalid_name_in_section(self):
        self.assertEqual(self.serve_error(extra="[name:no way]\non_change = x\n"),
                         "ipupdate_server.py: config file %s: line 8: [name:no way] is not "
                         "a valid name\n" % self.config)

    def test_unknown_setting_in_name_section(self):
        self.assertEqual(self.serve_error(extra="[name:home]\non_chnage = x\n"),
                         "ipupdate_server.py: config file %s: line 9 in [name:home]: unknown "
                         "setting 'on_chnage' (expected on_change, hook_timeout)\n"
                         % self.config)

    def test_section_for_a_name_no_key_signs(self):
        body = "[ipupdate]\n\n[names]\nhome = %s\n\n[name:hoem]\non_change = x\n" % HOME_KEY
        self.config = support.write_config(self.directory, body=body)
        done = subprocess.run([support.PYTHON, support.SERVER, "check", "--config",
                               self.config], stdout=subprocess.PIPE, env=support.clean_env(),
                              timeout=30)
        self.assertEqual((done.returncode, done.stdout.decode()), (
            3, "UNKNOWN: config file %s: line 6 in [name:hoem]: no key signs this name (add "
               "it to [names], or set 'secret' in [ipupdate])\n" % self.config))

    def test_bad_hook_timeout(self):
        self.assertEqual(self.serve_error(hook_timeout="soon"),
                         "ipupdate_server.py: hook_timeout must be a positive number of "
                         "seconds (or with s, m, h, d)\n")
        self.assertEqual(self.serve_error(extra="[name:home]\nhook_timeout = 0\n"),
                         "ipupdate_server.py: hook_timeout in [name:home] must be a positive "
                         "number of seconds (or with s, m, h, d)\n")

    def test_unknown_section_names_the_expected_ones(self):
        self.assertEqual(self.serve_error(extra="[hooks]\non_change = x\n"),
                         "ipupdate_server.py: config file %s: line 8: unknown section "
                         "[hooks] (expected [ipupdate], [names], [name:NAME], [dyndns2])\n"
                         % self.config)


class LazyImportTest(HookHarness, unittest.TestCase):
    """A CGI request starts no subprocess machinery unless a hook actually runs."""

    def imports(self, ts, address="127.0.0.1"):
        verbose = {"PYTHONVERBOSE": "1"}
        status, _, errors = self.update(address, ts=ts, extra_env=verbose)
        self.assertEqual(status, 200)
        return set(line.split()[1] for line in errors.splitlines()
                   if line.startswith("import "))

    def test_subprocess_is_imported_only_when_a_hook_runs(self):
        ts = now()
        self.configure()
        self.assertNotIn("'subprocess'", self.imports(ts - 2))
        self.configure(on_change=self.hook)
        self.assertNotIn("'subprocess'", self.imports(ts - 1))  # timestamp only: no hook
        self.assertIn("'subprocess'", self.imports(ts, "198.51.100.4"))
        self.assertEqual(len(self.runs()), 1)


class ExampleHooksTest(HookHarness, unittest.TestCase):
    """examples/hooks/, copied as an owner would, with a settings file beside them.
    (nsupdate-dns is tested against a real BIND in test_dns_hook.py.)"""

    def install(self, example, settings):
        path = os.path.join(self.directory, example)
        shutil.copy(os.path.join(EXAMPLES, example), path)
        with open(path + ".conf", "w") as conf:
            conf.write(settings)
        return path

    def test_append_to_file(self):
        self.configure(on_change=self.install("append-to-file", ""))
        ts = now()
        self.update(ts=ts - 1)
        self.update("198.51.100.4", ts=ts)
        with open(os.path.join(self.directory, "ipupdate-changes.log")) as changes:
            lines = changes.read().splitlines()
        self.assertEqual(len(lines), 2)
        self.assertRegex(lines[0], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ home ipv4 - -> "
                                   r"127\.0\.0\.1$")
        self.assertRegex(lines[1], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ home ipv4 127\.0\.0\.1 "
                                   r"-> 198\.51\.100\.4$")

    def test_mail_on_change_hands_a_message_to_sendmail(self):
        # sendmail is the one outside program here: a stand-in records what it gets.
        mailbox = os.path.join(self.directory, "mailbox")
        sendmail = self.write_hook("sendmail", "#!/bin/sh\necho \"argv: $*\" > %s\n"
                                               "cat >> %s\n" % (mailbox, mailbox))
        hook = self.install("mail-on-change", "MAIL_TO=owner@example.org\n"
                                              "SENDMAIL=%s\n" % sendmail)
        self.configure(on_change=hook)
        ts = now()
        self.update(ts=ts - 1)
        self.assertEqual(self.update("198.51.100.4", ts=ts), (200, "OK: New IP updated", ""))
        with open(mailbox) as mail:
            text = mail.read()
        self.assertRegex(text, r"^argv: -t -i\nFrom: ipupdate\nTo: owner@example.org\n"
                               r"Subject: ipupdate: home has a new ipv4 address 198\.51\.100\.4"
                               r"\n\nThe ipv4 address of home changed\n  from 127\.0\.0\.1\n"
                               r"  to   198\.51\.100\.4\nat \d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
                               r"UTC, as reported to ipupdate_server\.py\.\n$")


def is_running(pid):
    """True while `pid` exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as stat_file:
            return stat_file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True


if __name__ == "__main__":
    unittest.main()
