"""Our own checkip for routers, ddclient and inadyn (docs/DEPLOY.md): the
answer of checkip.dyndns.org, the peer's address as the server sees it,
through CGI and `serve`. (tests/test_dyndns2_clients.py runs the real clients on it.)"""

import shutil
import tempfile
import unittest

from tests import support


class CheckipTest(unittest.TestCase):

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="ipupdate-checkip-")
        self.addCleanup(shutil.rmtree, self.directory)
        self.config = support.write_config(self.directory, trusted_proxies="127.0.0.1")

    def cgi(self, remote_addr, forwarded_for=None):
        extra = {"PATH_INFO": "/checkip"}
        if forwarded_for:
            extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
        status, headers, text, errors, code = support.run_cgi(
            support.SERVER, self.config, method="GET", content_type=None,
            remote_addr=remote_addr, extra_env=extra)
        self.assertEqual((code, errors), (0, ""))
        self.assertEqual(headers["cache-control"], "no-store")
        return status, text

    def test_cgi_answers_the_peer_address(self):
        self.assertEqual(self.cgi("192.0.2.7"), (200, "Current IP Address: 192.0.2.7"))
        self.assertEqual(self.cgi("::ffff:192.0.2.7"), (200, "Current IP Address: 192.0.2.7"))
        self.assertEqual(self.cgi("2001:DB8::1"), (200, "Current IP Address: 2001:db8::1"))

    def test_forwarded_for_only_from_a_trusted_proxy(self):
        self.assertEqual(self.cgi("127.0.0.1", "198.51.100.9"),
                         (200, "Current IP Address: 198.51.100.9"))
        self.assertEqual(self.cgi("192.0.2.7", "198.51.100.9"),
                         (200, "Current IP Address: 192.0.2.7"))

    def test_serve_answers_it_too_and_not_the_viewer(self):
        with support.LocalServer(self.config) as server:
            self.assertEqual(support.http_request(server.host, server.port, "GET", "/checkip",
                                                  content_type=None)[::2],
                             (200, "Current IP Address: 127.0.0.1"))


if __name__ == "__main__":
    unittest.main()
