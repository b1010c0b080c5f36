"""The protocol's fixed vectors: one table, under one key, that both scripts
must reproduce exactly (the signed strings and their HMAC-SHA256), so that
the client's and the server's copies of the protocol cannot drift apart.

If the server's functions are renamed, change SERVER_FUNCTIONS only.
"""

import importlib.util
import time
import unittest
import urllib.parse

try:
    from tests import support
except ImportError:  # run from inside tests/ (unittest discover -s tests)
    import support

KEY = "vector-key-3c9f1e7a"
NONCE = "00112233445566778899aabbccddeeff"

# (function, arguments, the exact signed string, its HMAC-SHA256 under KEY)
VECTORS = [
    ("ip_reply_message", ("203.0.113.7", "1700000000"),
     "ip=203.0.113.7&ts=1700000000",
     "2f40b8a98b52c05a761219850950b4f3c25524bf16602c9820c398b1ad8e2573"),
    ("ip_reply_message", ("2001:db8::1", "1700000000"),
     "ip=2001:db8::1&ts=1700000000",
     "f81f0c1469a067312ba825583ae194b88eacc6a7d35fc2794638e73833382df6"),
    ("ip_reply_message", ("203.0.113.7", "1700000000", NONCE, 1700000003),
     "ip=203.0.113.7&ts=1700000000&nonce=%s&now=1700000003" % NONCE,
     "f9c6e9d4203f1cc124d5e09938d825c96ccf1afc7299532ad4b80672f863b3de"),
    ("ip_reply_message", ("2001:db8::1", "1700000000", NONCE, 1700000003),
     "ip=2001:db8::1&ts=1700000000&nonce=%s&now=1700000003" % NONCE,
     "0995524590977391400ada443ca1f6851f2f996edd002ccb97d4b693141d2c1f"),
    ("update_message", ("203.0.113.7", "home", "1700000003"),
     "type=update&ip=203.0.113.7&name=home&ts=1700000003",
     "ed7e680a3874bfadf8d03f3f2f4b02cd77c788dbf930670c7a2c3e71b2f8f8b3"),
    ("update_message", ("2001:db8::1", "home", "1700000003"),
     "type=update&ip=2001:db8::1&name=home&ts=1700000003",
     "9f4548c167d6d9a4be0cb437a41fab0c7797c2694fba95f78962ce5ed823a484"),
    ("update_message", ("203.0.113.7", "", "1700000003"),
     "type=update&ip=203.0.113.7&name=&ts=1700000003",
     "fcd114525644d018f65ec4d7831d0d8e9bc6c57749cc86898d1718d2d3274043"),
    ("outcome_message", ("new", "203.0.113.7", "home", "1700000003", NONCE, 1700000004),
     "type=outcome&outcome=new&ip=203.0.113.7&name=home&ts=1700000003&nonce=%s"
     "&now=1700000004" % NONCE,
     "4de38be239f5d435ccabb5ae16cd35e95b7a337454334fc036bd5afe8738cfd0"),
    ("outcome_message", ("unchanged", "2001:db8::1", "Home", "1700000003", NONCE, 1700000004),
     "type=outcome&outcome=unchanged&ip=2001:db8::1&name=Home&ts=1700000003&nonce=%s"
     "&now=1700000004" % NONCE,
     "9ac6b63014fc519856c08c99cf3b83edcf65bfff38e26daf8c69d9c92b1e5c23"),
    ("outcome_message", ("replayed", "203.0.113.7", "", "1700000003", NONCE, 1700000004),
     "type=outcome&outcome=replayed&ip=203.0.113.7&name=&ts=1700000003&nonce=%s"
     "&now=1700000004" % NONCE,
     "c34f6e5965bcf9cf270649b710af8138281f79616897ee5c0100e1682ea5394f"),
]

SERVER_FUNCTIONS = {"sign": "sign", "ip_reply_message": "ip_reply_message",
                    "update_message": "update_message", "outcome_message": "outcome_message"}


def load(path, name):
    """Import a script by path, as a module."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestBothScriptsProduceTheVectors(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        client = load(support.CLIENT, "ipupdater")
        server = load(support.SERVER, "ipupdate_server")
        cls.sides = {"client": lambda name: getattr(client, name),
                     "server": lambda name: getattr(server, SERVER_FUNCTIONS[name])}

    def test_the_reference_mac_is_hmac_sha256_hex(self):
        for _, _, message, mac in VECTORS:
            self.assertEqual(support.sign(KEY, message), mac, message)

    def test_each_script_builds_and_signs_exactly_the_table(self):
        for side, function in self.sides.items():
            for name, args, message, mac in VECTORS:
                self.assertEqual(function(name)(*args), message, (side, name, args))
                self.assertEqual(function("sign")(KEY, message), mac, (side, message))


class TestTheClientsUpdateOnTheWire(support.ClientCase):
    """The real client's update, as a fake server receives it, is the table's.
    Its clock is set near the table's ts; the fake server's signed time is the
    table's, so the update is dated 1700000003 (the reply is under 1 s old)."""

    def run_client(self, address, name):
        def respond(request):
            fields = request.fields
            if fields["type"] == "ip":
                message = "ip=%s&ts=%s&nonce=%s&now=1700000003" % (address, fields["ts"],
                                                                   fields["nonce"])
                return 200, [], message + "&h=" + support.sign(KEY, message)
            return 200, [], support.outcome_answer(fields, key=KEY, now=1700000004)
        fake = self.fake(respond)
        offset_s = 1700000000.5 - time.time()
        args = ["--url", fake.url, "-p", KEY] + (["-n", name] if name else [])
        code, out, err = self.client(*args, IPUPDATE_TEST_CLOCK_OFFSET_S=str(offset_s))
        label = "%s: %s" % (name, address) if name else address
        self.assertEqual((code, out, err), (0, label + " -> OK: New IP updated\n", ""))
        self.assertEqual(fake.types(), ["ip", "update"])
        return fake.requests[1]

    def test_updates_for_ipv4_ipv6_and_no_name_are_the_tables(self):
        for name, args, message, mac in VECTORS:
            if name != "update_message":
                continue
            address, update_name, _ = args
            received = self.run_client(address, update_name)
            nonce = received.pop("nonce")  # fresh each time: it asks for a signed outcome
            self.assertRegex(nonce, r"^[0-9a-f]{32}$")
            self.assertEqual(received, dict(urllib.parse.parse_qsl(
                message + "&h=" + mac, keep_blank_values=True)))


if __name__ == "__main__":
    unittest.main()
