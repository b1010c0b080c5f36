"""docs/DNS.md, end to end: a real BIND (named) on 127.0.0.1 configured with the
recipe's zone and a TSIG key, ipupdate_server.py with examples/hooks/nsupdate-dns
installed and configured as the recipe says, and `dig` asking BIND afterwards.

Needs named, tsig-keygen, nsupdate and dig (Debian: bind9, bind9-dnsutils).
Without them it is skipped, unless IPUPDATE_REQUIRE_WEBSERVERS=1 (as in CI)."""

import http.client
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from tests import support
from tests.support import KEY, HOME_KEY, update_body, now

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DNS_MD = os.path.join(ROOT, "docs", "DNS.md")
ZONE = "dyn.example.org"
TOOLS = ("named", "tsig-keygen", "nsupdate", "dig")
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])

# The test's own plumbing around the recipe's zone: a private named on a free
# port, writing nothing outside its directory, with no control channel.
NAMED_OPTIONS = """\
options {{
    directory "{dir}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    pid-file none;
    session-keyfile "{dir}/session.key";
    managed-keys-directory "{dir}";
}};
controls {{ }};
"""


def recipes():
    """{name: text} of every fenced block in DNS.md preceded by <!-- recipe: NAME -->."""
    with open(DNS_MD) as doc:
        text = doc.read()
    return dict(re.findall(r"<!-- recipe: ([\w-]+) -->\n```\w*\n(.*?)\n```", text, re.S))


def recipe(name, *replacements):
    """A recipe with its example values replaced; each value must occur in it."""
    text = recipes()[name]
    for example, value in replacements:
        if example not in text:
            raise AssertionError("recipe %s no longer contains %r" % (name, example))
        text = text.replace(example, value)
    return text


def find_tools():
    """{tool: path}, or the reason the test cannot run."""
    found = dict((tool, shutil.which(tool, path=SEARCH_PATH)) for tool in TOOLS)
    missing = [tool for tool in TOOLS if not found[tool]]
    if missing:
        return None, ("needs %s (Debian: apt-get install bind9 bind9-dnsutils)"
                      % ", ".join(missing))
    return found, None


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1 (DNS listens on both)."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no port free for both UDP and TCP for named")


class RecipeTest(unittest.TestCase):

    def test_recipes_are_all_there(self):
        self.assertEqual(sorted(recipes()), ["hook-config", "hook-install", "named-zone",
                                             "zone-file"])


class NsupdateHookTest(unittest.TestCase):
    """The name server side of the recipe, once; the ipupdate side per test."""

    @classmethod
    def setUpClass(cls):
        cls.tools, reason = find_tools()
        if reason:
            if os.environ.get("IPUPDATE_REQUIRE_WEBSERVERS") == "1":
                raise RuntimeError("IPUPDATE_REQUIRE_WEBSERVERS=1, but the DNS test " + reason)
            raise unittest.SkipTest(reason)
        cls.directory = tempfile.mkdtemp(prefix="ipupdate-dns-test-")
        try:
            cls.start_named()
        except BaseException:
            shutil.rmtree(cls.directory)
            raise

    @classmethod
    def start_named(cls):
        directory = cls.directory
        cls.bind_dir = os.path.join(directory, "etc-bind")     # /etc/bind
        cls.zone_dir = os.path.join(directory, "var-lib-bind")  # /var/lib/bind
        os.mkdir(cls.bind_dir)
        os.mkdir(cls.zone_dir)
        cls.key_file = os.path.join(cls.bind_dir, "ipupdate-tsig.key")
        # As the recipe's first command (without its chown: no `bind` user needed).
        with open(cls.key_file, "wb") as key_file:
            subprocess.run([cls.tools["tsig-keygen"], "ipupdate-tsig"], stdout=key_file,
                           check=True, timeout=30)
        with open(os.path.join(cls.zone_dir, ZONE + ".zone"), "w") as zone_file:
            zone_file.write(recipe("zone-file") + "\n")
        cls.port = free_port()
        conf = os.path.join(directory, "named.conf")
        with open(conf, "w") as conf_file:
            conf_file.write(NAMED_OPTIONS.format(dir=directory, port=cls.port))
            conf_file.write(recipe("named-zone", ("/etc/bind", cls.bind_dir),
                                   ("/var/lib/bind", cls.zone_dir)) + "\n")
        cls.named_log = open(os.path.join(directory, "named.log"), "w+")
        # -g: in the foreground, logging to stderr; -4: IPv4 only. As whoever
        # runs the tests (root or not: the port is not a privileged one).
        cls.named = subprocess.Popen([cls.tools["named"], "-g", "-4", "-c", conf],
                                     stdout=cls.named_log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while not cls.dig(ZONE, "SOA"):
            if cls.named.poll() is not None or time.monotonic() > deadline:
                cls.stop_named()
                raise RuntimeError("named did not start:\n" + cls.named_output())
            time.sleep(0.2)

    @classmethod
    def stop_named(cls):
        if cls.named.poll() is None:
            cls.named.terminate()
            try:
                cls.named.wait(10)
            except subprocess.TimeoutExpired:
                cls.named.kill()
                cls.named.wait()

    @classmethod
    def named_output(cls):
        cls.named_log.seek(0)
        return cls.named_log.read()

    @classmethod
    def tearDownClass(cls):
        cls.stop_named()
        cls.named_log.close()
        shutil.rmtree(cls.directory)

    @classmethod
    def dig(cls, name, record_type):
        """BIND's answer, as the lines of `dig +short`."""
        done = subprocess.run([cls.tools["dig"], "@127.0.0.1", "-p", str(cls.port), name,
                               record_type, "+short", "+time=2", "+tries=1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        return done.stdout.decode().split() if done.returncode == 0 else []

    def setUp(self):
        # The ipupdate site (/srv/ipupdate): its config, the key copied beside it,
        # and the hook installed by the recipe, run from the source directory.
        self.site = tempfile.mkdtemp(prefix="ipupdate-test-", dir=self.directory)
        shutil.copy(self.key_file, os.path.join(self.site, "ipupdate-tsig.key"))
        install = recipe("hook-install", ("/srv/ipupdate", self.site),
                         ("SERVER=192.0.2.53", "SERVER=127.0.0.1\nPORT=%d" % self.port))
        done = subprocess.run(["sh", "-eu", "-c", install], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=30)
        self.assertEqual(done.returncode, 0, done.stdout.decode())
        self.config = support.write_config(self.site, body="\n".join([
            "[ipupdate]", "secret = " + KEY, "database = ipupdate.sqlite",
            recipe("hook-config"), "", "[names]", "home = " + HOME_KEY, ""]))

    def post_from(self, server, source, body):
        """An update sent from the local address `source` (all of 127/8 is loopback)."""
        connection = http.client.HTTPConnection(server.host, server.port, timeout=30,
                                                source_address=(source, 0))
        connection.request("POST", "/", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        response = connection.getresponse()
        result = response.status, response.read().decode()
        connection.close()
        return result

    def test_updates_through_serve_and_cgi_reach_dns(self):
        name = "home." + ZONE
        self.assertEqual(self.dig(name, "A"), [])
        ts = now()
        with support.LocalServer(self.config) as server:
            self.assertEqual(self.post_from(server, "127.0.0.1", update_body(
                "127.0.0.1", "home", ts - 2, HOME_KEY)), (200, "OK: New IP updated"))
            self.assertEqual(self.dig(name, "A"), ["127.0.0.1"])
            # The address changes: the old record goes, the new one comes.
            self.assertEqual(self.post_from(server, "127.0.0.2", update_body(
                "127.0.0.2", "home", ts - 1, HOME_KEY)), (200, "OK: New IP updated"))
            self.assertEqual(self.dig(name, "A"), ["127.0.0.2"])
        self.assertEqual(server.stderr(), "", self.named_output())
        # IPv6, as a web server runs the CGI program for a client at 2001:db8::7.
        status, _, text, errors, _ = support.run_cgi(
            support.SERVER, self.config, update_body("2001:db8::7", "home", ts, HOME_KEY),
            remote_addr="2001:db8::7")
        self.assertEqual((status, text, errors), (200, "OK: New IP updated", ""))
        self.assertEqual(self.dig(name, "AAAA"), ["2001:db8::7"])
        self.assertEqual(self.dig(name, "A"), ["127.0.0.2"])

    def test_the_key_may_change_only_addresses(self):
        for record in ("evil.%s. 60 TXT hello" % ZONE, "%s. 60 NS ns.example.net." % ZONE):
            done = subprocess.run([self.tools["nsupdate"], "-k", self.key_file], input=(
                "server 127.0.0.1 %d\nzone %s.\nupdate add %s\nsend\n" % (
                    self.port, ZONE, record)).encode(), stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, timeout=30)
            self.assertEqual(done.returncode, 2, record)
            self.assertIn(b"update failed: REFUSED", done.stdout + done.stderr)
        self.assertEqual(self.dig("evil." + ZONE, "TXT"), [])

    def test_a_refused_dns_update_is_logged_and_the_address_still_stored(self):
        with open(os.path.join(self.site, "hooks", "nsupdate-dns.conf"), "a") as settings:
            settings.write("ZONE=other.example.org\n")  # a zone this BIND does not serve
        ts = now()
        status, _, text, errors, _ = support.run_cgi(
            support.SERVER, self.config, update_body("192.0.2.44", "lab", ts, KEY),
            remote_addr="192.0.2.44")
        self.assertEqual((status, text), (200, "OK: New IP updated"))
        prefix = re.escape("ipupdate: on_change hook for lab (ipv4): ")
        self.assertRegex(errors, r"^%supdate failed: [A-Z]+\n%s%s exited with status 2\n$" % (
            prefix, prefix, re.escape(os.path.join(self.site, "hooks", "nsupdate-dns"))))
        self.assertEqual(support.rows(os.path.join(self.site, "ipupdate.sqlite")),
                         [("192.0.2.44", "lab", ts, ts)])
        self.assertEqual(self.dig("lab." + ZONE, "A"), [])

    def test_an_update_without_a_name_stays_out_of_dns(self):
        status, _, text, errors, _ = support.run_cgi(
            support.SERVER, self.config, update_body("192.0.2.45", "", now(), KEY),
            remote_addr="192.0.2.45")
        self.assertEqual((status, text), (200, "OK: New IP updated"))
        prefix = "ipupdate: on_change hook for (unnamed) (ipv4): "
        self.assertEqual(errors, prefix + "the update has an empty name: give the client one "
                                          "(-n NAME) to have it in DNS\n" +
                         prefix + os.path.join(self.site, "hooks", "nsupdate-dns") +
                         " exited with status 1\n")


if __name__ == "__main__":
    unittest.main()
