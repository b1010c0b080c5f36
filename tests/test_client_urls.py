"""The client pointed at the wrong place says what to fix; --verbose shows
each request and answer line, never the key; --source picks the local
address, and IPv6 sockets prefer the stable source address. The real client
against the real server (`serve`, and the scripts run as CGI programs)."""

import socket
import sys
import types
import unittest

from tests import support
from tests.support import HOME_KEY, KEY

sys.path.insert(0, support.ROOT)
import ipupdater  # noqa: E402


class ScriptFront(support.FakeServer):
    """An HTTP front that runs `script` as a CGI program per request."""

    def __init__(self, script, config_path):
        def respond(request):
            status, _, body, _, _ = support.run_cgi(script, config_path, body=request.body,
                                                    remote_addr=request.peer)
            return status, [], body
        support.FakeServer.__init__(self, respond)


class WrongPlacesTest(support.RealServerCase):

    def front(self, script):
        front = ScriptFront(script, self.config)
        self.addCleanup(front.stop)
        return front

    def test_dash_w_takes_a_scheme_too(self):
        code, out, err = self.client("-w", "http://%s:%d/" % (self.server.host, self.server.port),
                                     "-n", "home", "-p", HOME_KEY)
        self.assertEqual((code, out, err), (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))
        code, out, err = self.client("-w", "ftp://example.org", "-p", KEY)
        self.assertEqual((code, out), (2, ""))
        self.assertEqual(err, "ipupdater: the URL must start with http:// or https:// "
                              "(see --help)\n")

    def test_a_404_says_check_the_url(self):
        fake = self.fake(lambda request: (404, [], "<html>Not Found</html>"))
        self.assertEqual(self.run_against(fake), (5, "", (
            "ipupdater: the server refused the address request (HTTP 404): an HTML page: no "
            "such script there, check --url\n")))

    def test_the_viewer_is_not_the_update_handler(self):
        code, out, err = self.client("--url", self.front(support.VIEWER).url, "-p", KEY)
        self.assertEqual((code, out, err), (5, "", (
            "ipupdater: the server refused the address request (HTTP 405): Error: only GET "
            "and HEAD are accepted here: that URL takes no POST; if it is the viewer "
            "(getip_cgi.py), that is not the update handler: give ipupdate_server.py's URL\n")))

    def test_a_500_says_where_to_look(self):
        support.write_config(self.directory.name, body="[ipupdate]\nsecret = short\n")
        code, out, err = self.client("--url", self.front(support.SERVER).url, "-p", KEY)
        self.assertEqual((code, out, err), (5, "", (
            "ipupdater: the server refused the address request (HTTP 500): Error: server not "
            "configured: look at the server's error log, or run 'ipupdate_server.py check' "
            "there\n")))

    def test_verbose_shows_each_line_and_no_key(self):
        code, out, err = self.home("--verbose")
        self.assertEqual((code, out), (0, "home: 127.0.0.1 -> OK: New IP updated\n"))
        lines = err.splitlines()
        self.assertEqual(len(lines), 7, err)
        self.assertRegex(lines[0], r"^ipupdater: > POST %s type=ip&ts=\d+&nonce=[0-9a-f]{32}"
                                   r"&name=home$" % self.url)
        self.assertEqual(lines[1], "ipupdater: < 200 OK")
        self.assertRegex(lines[2], r"^ipupdater: < ip=127\.0\.0\.1&ts=\d+&nonce=[0-9a-f]{32}"
                                   r"&now=\d+&h=[0-9a-f]{64}$")
        self.assertRegex(lines[3], r"^ipupdater: > POST \S+ type=update&ip=127\.0\.0\.1&"
                                   r"name=home&ts=\d+&h=[0-9a-f]{64}&nonce=[0-9a-f]{32}$")
        self.assertEqual(lines[4:6], ["ipupdater: < 200 OK", "ipupdater: < OK: New IP updated"])
        self.assertRegex(lines[6], r"^ipupdater: < outcome=new&now=\d+&h=[0-9a-f]{64}$")


class SourceAddressTest(support.RealServerCase):

    def test_source_picks_the_local_address(self):
        self.assertEqual(self.home("--source", "127.0.0.2"),
                         (0, "home: 127.0.0.2 -> OK: New IP updated\n", ""))
        self.assertEqual([row[:2] for row in support.rows(self.database)],
                         [("127.0.0.2", "home")])

    def test_a_source_that_is_not_ours_or_of_another_family_is_a_usage_error(self):
        code, out, err = self.home("--source", "192.0.2.1")
        self.assertEqual((code, out), (2, ""))
        self.assertTrue(err.startswith("ipupdater: IPv4: --source 192.0.2.1: "), err)
        self.assertTrue(err.endswith(" (it must be an address of this machine)\n"), err)
        self.assert_one_error_line(err)
        self.assertEqual(self.home("--source", "127.0.0.2", "--both")[:2], (2, ""))
        self.assertEqual(self.home("--source", "not-an-address")[:2], (2, ""))
        self.assertEqual(support.rows(self.database), [])


class AFamilyThisHostCannotOpenTest(support.RealServerCase):
    """A host with IPv6 disabled cannot even create an IPv6 socket: the next
    address is tried, as socket.create_connection() does. (The kernel's refusal
    is simulated: this machine can open both.)"""

    def test_the_next_address_is_tried(self):
        real_socket, real_getaddrinfo = socket.socket, socket.getaddrinfo
        port = self.server.port

        def no_ipv6(family=socket.AF_INET, *args):
            if family == socket.AF_INET6:
                raise OSError(97, "Address family not supported by protocol")
            return real_socket(family, *args)
        self.addCleanup(setattr, socket, "socket", real_socket)
        self.addCleanup(setattr, socket, "getaddrinfo", real_getaddrinfo)
        socket.socket = no_ipv6
        socket.getaddrinfo = lambda *args: [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        settings = types.SimpleNamespace(host="localhost", port=port, tls=None, source=None)
        sock = ipupdater.open_socket(settings, None)
        self.addCleanup(sock.close)
        self.assertEqual(sock.getpeername(), ("127.0.0.1", port))


@unittest.skipUnless(support.ipv6_loopback_works(), "no IPv6 loopback here")
class SourceAddressIPv6Test(support.RealServerCase):
    bind = "::1"

    def test_source_on_ipv6_loopback(self):
        self.assertEqual(self.home("--source", "::1"),
                         (0, "home: ::1 -> OK: New IP updated\n", ""))

    @unittest.skipUnless(sys.platform.startswith("linux"), "IPV6_PREFER_SRC_PUBLIC is Linux's")
    def test_ipv6_sockets_prefer_the_stable_source_address(self):
        settings = types.SimpleNamespace(host="::1", port=self.server.port, tls=None,
                                         source=None)
        sock = ipupdater.open_socket(settings, 6)
        self.addCleanup(sock.close)
        preferences = sock.getsockopt(socket.IPPROTO_IPV6, ipupdater.IPV6_ADDR_PREFERENCES)
        self.assertEqual(preferences & ipupdater.IPV6_PREFER_SRC_PUBLIC,
                         ipupdater.IPV6_PREFER_SRC_PUBLIC)


if __name__ == "__main__":
    unittest.main()
