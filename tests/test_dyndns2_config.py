"""dyndns2 as configured: off without a [dyndns2] section, refused over plain
HTTP (unless a trusted proxy says HTTPS), myip believed only with
dyndns2_trust_myip, a wrong [dyndns2] refused with the reason in the log (never
a password), and enabling it costs a request that is not dyndns2 one import.
Through real CGI executions and a real `serve` (the transports: tests/dyndns2.py).
"""

import os
import shutil
import subprocess
import tempfile
import unittest

from tests import support
from tests.dyndns2 import (CABIN_PW, DYNDNS2, OFF, ROUTER_PW, SECRETS, ThroughCGI,
                           ThroughServe, basic, config_body, sources)
from tests.support import KEY, HOME_KEY, rows, now, update_body


# ---------------------------------------------------------------------------
# Off by default, HTTPS only, the configuration.
# ---------------------------------------------------------------------------

class CgiOffByDefaultTest(ThroughCGI, unittest.TestCase):
    dyndns2 = ()

    def test_without_a_dyndns2_section_the_path_does_not_exist(self):
        self.assertEqual(self.nic_update("hostname=home.example.org"), (404, OFF))
        self.assertEqual(rows(self.database), [])

    def test_the_ipupdate_protocol_is_unchanged_beside_it(self):
        self.assertEqual(self.post_update(update_body("127.0.0.1", "home", now(), HOME_KEY)),
                         (200, "OK: New IP updated"))


class ServeOffByDefaultTest(ThroughServe, unittest.TestCase):
    dyndns2 = ()

    def test_without_a_dyndns2_section_the_path_does_not_exist(self):
        # Not the viewer's answer to a GET: the path is dyndns2's, and off.
        self.assertEqual(self.nic_update("hostname=home.example.org"), (404, OFF))
        self.assertEqual(rows(self.database), [])


class CgiHttpsOnlyTest(ThroughCGI, unittest.TestCase):
    settings = {"trusted_proxies": "127.0.0.1", "proxy_sets_forwarded_proto": "yes"}

    def test_plain_http_is_refused_and_says_why_in_the_log(self):
        self.assertEqual(self.nic_update("hostname=home.example.org", https=False),
                         (403, "badagent"))
        self.assertIn("refused dyndns2 update from 127.0.0.1 for name 'home.example.org': "
                      "refused over plain HTTP: the password would cross the network "
                      "readable (use https://, or set dyndns2_allow_plain_http = yes)",
                      self.log_text())
        self.assertEqual(rows(self.database), [])
        self.assertEqual(self.nic_update("hostname=home.example.org"), (200, "good 127.0.0.1"))

    def test_a_trusted_proxy_may_say_https(self):
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.4"}
        self.assertEqual(self.nic_update("hostname=home.example.org", https=False,
                                         headers=headers), (200, "good 198.51.100.4"))

    def test_anyone_else_may_not(self):
        headers = {"X-Forwarded-Proto": "https"}
        self.assertEqual(self.nic_update("hostname=home.example.org", https=False,
                                         headers=headers, remote_addr="192.0.2.9"),
                         (403, "badagent"))
        self.assertEqual(self.nic_update("hostname=home.example.org", https=False,
                                         headers={"X-Forwarded-Proto": "http"}),
                         (403, "badagent"))
        self.assertEqual(rows(self.database), [])


class ServeHttpsOnlyTest(ThroughServe, unittest.TestCase):
    transport_settings = {}   # the default: plain HTTP refused
    settings = {"trusted_proxies": "127.0.0.1", "proxy_sets_forwarded_proto": "yes"}

    def test_plain_http_is_refused(self):
        self.assertEqual(self.nic_update("hostname=home.example.org"), (403, "badagent"))
        self.assertEqual(rows(self.database), [])

    def test_behind_a_trusted_proxy_that_says_https(self):
        self.assertEqual(self.nic_update("hostname=home.example.org", headers={
            "X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.4"}),
            (200, "good 198.51.100.4"))


class CgiTrustMyipTest(ThroughCGI, unittest.TestCase):
    settings = {"dyndns2_trust_myip": "yes"}

    def test_with_dyndns2_trust_myip_any_address_is_recorded(self):
        self.assertEqual(self.nic_update("hostname=home.example.org&myip=2001:DB8::7"),
                         (200, "good 2001:db8::7"))
        self.assertEqual(sources(self.database, "log_ipv6"),
                         [("home.example.org", "2001:db8::7", "dyndns2")])


class ConfigurationTest(unittest.TestCase):
    """A wrong [dyndns2] makes the server answer 911 (500) and log why, never a password."""

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="ipupdate-dyndns2-config-")
        self.addCleanup(shutil.rmtree, self.directory)

    def nic_update(self, body):
        config = support.write_config(self.directory, body)
        status, _, text, errors, code = support.run_cgi(
            support.SERVER, config, method="GET", content_type=None,
            query="hostname=home.example.org",
            extra_env={"PATH_INFO": "/nic/update", "HTTPS": "on",
                       "HTTP_AUTHORIZATION": basic(ROUTER_PW)})
        self.assertEqual(code, 0, errors)
        for secret in SECRETS:
            self.assertNotIn(secret, errors + text)
        return status, text, errors

    def test_a_password_that_is_an_ipupdate_key_is_refused(self):
        for key in (KEY, HOME_KEY):
            status, text, errors = self.nic_update(config_body(dyndns2=[
                ("home.example.org", ROUTER_PW), ("nas.example.org", key)]))
            self.assertEqual((status, text), (500, "911"))
            self.assertIn("ipupdate: configuration error: config file %s: line 10 in "
                          "[dyndns2]: password is also a key in [ipupdate] or [names]"
                          % os.path.join(self.directory, "ipupdate.conf"), errors)

    def test_other_mistakes_are_refused_with_the_reason(self):
        cases = [
            ([("home.example.org", "short-password")],
             "line 9 in [dyndns2]: password shorter than 16 characters"),
            ([("home.example.org", ROUTER_PW), ("Home.Example.org", CABIN_PW)],
             "line 10 in [dyndns2]: this name and that on line 9 differ only in letter case"),
            ([("-home", ROUTER_PW)], "line 9 in [dyndns2]: not a valid name"),
        ]
        for dyndns2, reason in cases:
            status, text, errors = self.nic_update(config_body(dyndns2=dyndns2))
            self.assertEqual((status, text), (500, "911"), reason)
            self.assertIn("ipupdate: configuration error: config file %s: %s" % (
                os.path.join(self.directory, "ipupdate.conf"), reason), errors)
        status, text, errors = self.nic_update(config_body(
            {"dyndns2_allow_plain_http": "perhaps"}))
        self.assertIn("dyndns2_allow_plain_http must be yes or no", errors)
        # allow_short_secrets is for the original's old passwords, not for these.
        status, text, errors = self.nic_update(config_body(
            {"allow_short_secrets": "yes"}, [("home.example.org", "short-password")]))
        self.assertEqual((status, text), (500, "911"))

    def test_a_config_with_dyndns2_names_only_is_enough(self):
        status, text, errors = self.nic_update(
            "[ipupdate]\ndatabase = ipupdate.sqlite\n\n[dyndns2]\nhome.example.org = %s\n"
            "\n[name:home.example.org]\nhook_timeout = 5\n" % ROUTER_PW)
        self.assertEqual((status, text, errors), (200, "good 127.0.0.1", ""))


class LazyImportTest(unittest.TestCase):
    """Enabling dyndns2 costs a normal CGI request one import: ipupdate_dyndns2,
    which checks its [dyndns2] section, so a mistake there shows at once."""

    def setUp(self):
        version = subprocess.run([support.PYTHON, "-c", "import sys; print(sys.version_info "
                                  ">= (3, 7))"], stdout=subprocess.PIPE).stdout
        if version.strip() != b"True":
            self.skipTest("PYTHONPROFILEIMPORTTIME is Python 3.7+")

    def imports(self, dyndns2, body):
        directory = tempfile.mkdtemp(prefix="ipupdate-dyndns2-imports-")
        self.addCleanup(shutil.rmtree, directory)
        config = support.write_config(directory, config_body(dyndns2=dyndns2))
        status, _, _, errors, _ = support.run_cgi(support.SERVER, config, body,
                                                  extra_env={"PYTHONPROFILEIMPORTTIME": "1"})
        self.assertEqual(status, 200, errors)
        return sorted(line.rsplit("|", 1)[1].strip() for line in errors.splitlines()
                      if line.startswith("import time:") and "|" in line)

    def test_type_ip_and_type_update_import_only_ipupdate_dyndns2_more(self):
        for body in ("type=ip&ts=%d" % now(),
                     update_body("127.0.0.1", "home", now(), HOME_KEY)):
            imports = self.imports((), body)
            self.assertIn("hmac", imports)   # the list is real
            self.assertEqual(self.imports(DYNDNS2, body),
                             sorted(imports + ["ipupdate_dyndns2"]))


if __name__ == "__main__":
    unittest.main()
