"""What a request says about where it came from is believed only from a trusted
proxy, and a header cannot pass itself off as another: real `serve` (which makes
the CGI-style environment itself) and real CGI executions."""

import os
import shutil
import tempfile
import unittest

from tests import support
from tests.support import HOME_KEY, now, rows, update_body
from tests.dyndns2 import ROUTER_PW, basic, config_body

NONCE = "0123456789abcdef0123456789abcdef"


def signed_address(text):
    """The address a type=ip reply signs."""
    return dict(pair.split("=", 1) for pair in text.split("&"))["ip"]


class ServeHarness(object):
    settings = {"trusted_proxies": "127.0.0.1"}

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="ipupdate-test-")
        self.addCleanup(shutil.rmtree, self.directory)
        self.database = os.path.join(self.directory, "ipupdate.sqlite")
        self.config = support.write_config(self.directory, config_body(self.settings))
        self.server = support.LocalServer(self.config)
        self.addCleanup(self.server.stop)

    def post(self, body, headers):
        status, _, text = support.http_request(self.server.host, self.server.port,
                                               body=body, headers=headers)
        return status, text


class UnderscoreHeadersAreDroppedTest(ServeHarness, unittest.TestCase):
    """127.0.0.1 is the trusted proxy; what it passes on from a client is the
    client's to choose, and X_Forwarded_For must not join X-Forwarded-For."""

    def test_an_underscore_twin_cannot_choose_the_signed_address(self):
        status, text = self.post("type=ip&ts=%d&nonce=%s" % (now(), NONCE), {
            "X-Forwarded-For": "198.51.100.20", "X_Forwarded_For": "203.0.113.66"})
        self.assertEqual(status, 200, text)
        self.assertEqual(signed_address(text), "198.51.100.20")

    def test_an_underscore_header_alone_counts_for_nothing(self):
        status, text = self.post("type=ip&ts=%d&nonce=%s" % (now(), NONCE),
                                 {"X_Forwarded_For": "203.0.113.66"})
        self.assertEqual((status, signed_address(text)), (200, "127.0.0.1"))

    def test_an_update_signed_for_the_chosen_address_is_refused(self):
        before = rows(self.database)
        status, text = self.post(update_body("203.0.113.66", "home", now(), HOME_KEY), {
            "X-Forwarded-For": "198.51.100.20", "X_Forwarded_For": "203.0.113.66"})
        self.assertEqual(status, 403, text)
        self.assertEqual(rows(self.database), before)


class ForwardedProtoTest(ServeHarness, unittest.TestCase):
    """dyndns2 is HTTPS only; behind a proxy, only the proxy can say the request
    came over HTTPS, and only if the config says the proxy sets the header (a
    proxy that does not set it passes on the client's own)."""

    settings = {"trusted_proxies": "127.0.0.1"}

    def nic_update(self, headers):
        headers = dict(headers, Authorization=basic(ROUTER_PW))
        status, _, text = support.http_request(
            self.server.host, self.server.port, "GET", "/nic/update?hostname=home.example.org",
            headers=headers, content_type=None)
        return status, text

    def test_a_clients_own_https_claim_through_a_trusted_proxy_is_not_believed(self):
        self.assertEqual(self.nic_update({"X-Forwarded-Proto": "https"}), (403, "badagent"))
        self.assertEqual(rows(self.database), [])
        self.assertIn("refused over plain HTTP", self.server.stderr())


class ForwardedProtoFromAProxyThatSetsItTest(ForwardedProtoTest):
    settings = {"trusted_proxies": "127.0.0.1", "proxy_sets_forwarded_proto": "yes"}

    def test_a_clients_own_https_claim_through_a_trusted_proxy_is_not_believed(self):
        pass  # the config says the proxy sets the header: see the next test

    def test_the_proxy_is_believed_when_the_config_says_it_sets_the_header(self):
        self.assertEqual(self.nic_update({"X-Forwarded-Proto": "https",
                                          "X-Forwarded-For": "198.51.100.4"}),
                         (200, "good 198.51.100.4"))

    def test_a_proxy_that_says_http_is_believed_too(self):
        self.assertEqual(self.nic_update({"X-Forwarded-Proto": "http"}), (403, "badagent"))


class ForwardedProtoThroughCgiTest(unittest.TestCase):

    def test_a_clients_own_https_claim_through_a_trusted_proxy_is_not_believed(self):
        directory = tempfile.mkdtemp(prefix="ipupdate-test-")
        self.addCleanup(shutil.rmtree, directory)
        config = support.write_config(directory, config_body({"trusted_proxies": "127.0.0.1"}))
        status, _, text, log, _ = support.run_cgi(
            support.SERVER, config, method="GET", content_type=None,
            query="hostname=home.example.org", extra_env={
                "PATH_INFO": "/nic/update", "HTTP_X_FORWARDED_PROTO": "https",
                "HTTP_AUTHORIZATION": basic(ROUTER_PW)})
        self.assertEqual((status, text), (403, "badagent"))
        self.assertIn("refused over plain HTTP", log)


if __name__ == "__main__":
    unittest.main()
