"""Exit 0 means recorded: the real client against the real server (`serve`),
and through lying proxies on loopback that drop the update, forge or swap
its signed outcome, or dress a refusal as success. Each must fail, exit 4,
for the right reason (docs/PROTOCOL.md, "The signed outcome")."""

import http.client
import unittest

from tests import support
from tests.support import HOME_KEY

NOT_SIGNED = ("ipupdater: the answer to the update is not signed by the server for this "
              "update (forged, or for another one): it may not be recorded\n")
NO_OUTCOME = ("ipupdater: the answer to the update carries no signed outcome: it may not be "
              "recorded (someone in the middle, or a server older than this client; --legacy "
              "for the original ipupdate.php)\n")


class SignedOutcomeTest(support.RealServerCase):

    def lying(self, answer_update):
        """A proxy that relays the address request to the real server, and
        answers the update with answer_update(request) -> (status, body)."""
        def respond(request):
            if request.fields["type"] == "update":
                status, body = answer_update(request)
                return status, [], body
            status, _, body = support.http_request(self.server.host, self.server.port,
                                                   body=request.body)
            return status, [], body
        return self.fake(respond)

    def relayed(self, request, body=None):
        """The real server's (status, answer) to the update, or to `body`."""
        status, _, text = support.http_request(self.server.host, self.server.port,
                                               body=body or request.body)
        return status, text

    def run_home(self, proxy, *args):
        return self.client("--url", proxy.url, "-n", "home", "-p", HOME_KEY, *args)

    def test_the_real_server_signs_and_the_client_says_so(self):
        self.assertEqual(self.home(), (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))
        self.assertEqual([row[:2] for row in support.rows(self.database)],
                         [("127.0.0.1", "home")])

    def test_a_dropped_update_answered_ok_is_exit_4(self):
        proxy = self.lying(lambda request: (200, "OK: New IP updated"))
        self.assertEqual(self.run_home(proxy), (4, "", NO_OUTCOME))
        self.assertEqual(support.rows(self.database), [])

    def test_a_forged_outcome_is_exit_4(self):
        def forge(request):
            status, text = self.relayed(request)
            return status, text[:-64] + "0" * 64
        self.assertEqual(self.run_home(self.lying(forge)), (4, "", NOT_SIGNED))

    def test_an_outcome_for_another_nonce_name_or_address_is_exit_4(self):
        def other_nonce(request):   # the server signs the nonce it was sent
            return self.relayed(request, request.body.replace(
                request.fields["nonce"].encode(), b"f" * 32))
        self.assertEqual(self.run_home(self.lying(other_nonce)), (4, "", NOT_SIGNED))
        for change in ({"name": "cabin"}, {"ip": "192.0.2.9"}, {"ts": "1"}):
            proxy = self.lying(lambda request: (200, support.outcome_answer(
                request.fields, key=HOME_KEY, **change)))
            self.assertEqual(self.run_home(proxy), (4, "", NOT_SIGNED), change)

    def test_a_refusal_dressed_as_success_is_exit_4(self):
        proxy = self.lying(lambda request: (200, support.outcome_answer(
            request.fields, "replayed", key=HOME_KEY, line="OK: New IP updated")))
        self.assertEqual(self.run_home(proxy), (4, "", (
            "ipupdater: the server signed 'replayed' for this update, but the answer says "
            "'OK: New IP updated'\n")))
        proxy = self.lying(lambda request: (200, support.outcome_answer(
            request.fields, "unchanged", key=HOME_KEY, line="OK: New IP updated")))
        self.assertEqual(self.run_home(proxy)[0], 4)

    def test_a_real_refusal_is_signed_and_says_which(self):
        def from_elsewhere(request):   # relayed from another address than the one signed
            connection = http.client.HTTPConnection(self.server.host, self.server.port,
                                                    timeout=10, source_address=("127.0.0.2", 0))
            connection.request("POST", "/", request.body, {
                "Content-Type": "application/x-www-form-urlencoded"})
            response = connection.getresponse()
            answer = response.status, response.read().decode()
            connection.close()
            return answer
        self.assertEqual(self.run_home(self.lying(from_elsewhere)), (5, "", (
            "ipupdater: the server refused the update (HTTP 403): Error: the signed address "
            "127.0.0.1 is not the address this request comes from (127.0.0.2) (signed by the "
            "server: wrong_address)\n")))
        self.assertEqual(support.rows(self.database), [])

    def test_legacy_sends_no_nonce_and_takes_the_one_line(self):
        proxy = self.proxy(lambda request: support.legacy_reply(request.fields, key=HOME_KEY))
        self.assertEqual(self.run_home(proxy, "--legacy"),
                         (0, "home: 127.0.0.1 -> OK: New IP updated\n", ""))
        self.assertNotIn("nonce", proxy.requests[1])


if __name__ == "__main__":
    unittest.main()
