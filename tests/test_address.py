"""The server's address rule, held to ipaddress as the oracle.

It must accept only what ipaddress accepts (less: no zone index, no leading
zeros in IPv4), read the same value, and print what ipaddress prints (an
IPv4-mapped address as every version before 3.13 prints it). The
random cases are seeded; the seed is in every failure message, and
IPUPDATE_FUZZ_SEED=N repeats a run.
"""

import ipaddress
import os
import random
import sys
import time
import unittest

import ipupdate_server

SEED = int(os.environ.get("IPUPDATE_FUZZ_SEED") or int(time.time()) % 100000)
RANDOM_CASES = 20000

CANONICAL = [
    ("0.0.0.0", "0.0.0.0"), ("255.255.255.255", "255.255.255.255"),
    ("192.0.2.7", "192.0.2.7"),
    ("::", "::"), ("::1", "::1"), ("1::", "1::"), ("0:0:0:0:0:0:0:0", "::"),
    ("2001:DB8::0001", "2001:db8::1"), ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
    ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),  # one zero group: not "::"
    ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),                 # the longer run
    ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"), ("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"),
    ("::ffff:192.0.2.7", "::ffff:c000:207"), ("::192.0.2.7", "::c000:207"),
    ("64:ff9b::192.0.2.7", "64:ff9b::c000:207"),
    ("fe80:0000:0000:0000:0204:61ff:fe9d:f156", "fe80::204:61ff:fe9d:f156"),
]

REFUSED = [
    "", " ", "1.2.3", "1.2.3.4.5", "1.2.3.256", "01.2.3.4", "1.2.3.04", "1.2.3.-1",
    "1.2.3.4 ", " 1.2.3.4", "1.2.3.4\n", "1..2.3", "1.2.3.", "+1.2.3.4", "1.2.3.0x1",
    "1_0.2.3.4", "\u0661.2.3.4", "1.2.3.4/32",
    ":", ":::", "1:::2", "::1::", "1::2::3", ":1::2", "1::2:", "1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:8:9", "1:2:3:4::5:6:7:8", "12345::", "g::", "1:2:3:4:5:6:7:8:",
    "::1.2.3", "1.2.3.4::", "::1.2.3.4:5", "1.2.3.4:5::", "::ffff:01.2.3.4",
    "fe80::1%eth0", "::1 ", "1_0::", "\u0661::", "::+1", "::-1",
]


def oracle(text):
    """ipaddress's reading of `text`, or None."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def ours(text):
    try:
        return ipupdate_server.canonical_address(text)
    except ValueError:
        return None


def oracle_text(address):
    """What ipaddress prints. Since 3.13 it prints an IPv4-mapped address with a
    dotted quad (::ffff:192.0.2.7); ours prints it as every version before did
    (CANONICAL holds the exact texts)."""
    if sys.version_info >= (3, 13) and address.version == 6 \
            and address.ipv4_mapped is not None:
        return "::ffff:%x:%x" % (int(address) >> 16 & 0xFFFF, int(address) & 0xFFFF)
    return str(address)


def spellings(generator):
    """Random texts near addresses: written in every legal way, and mutated."""
    if generator.random() < 0.3:
        value = generator.getrandbits(32) if generator.random() < 0.5 else generator.choice(
            [0, 255, 256, 0x7F000001])
        octets = [str(value >> shift & 255) for shift in (24, 16, 8, 0)]
        text = ".".join(octets)
    else:
        groups = [generator.choice([0, 0, 0, 1, 0xFFFF, generator.getrandbits(16)])
                  for _ in range(8)]
        texts = [("%0" + str(generator.randint(1, 4)) + "x") % g for g in groups]
        texts = [t.upper() if generator.random() < 0.2 else t for t in texts]
        if generator.random() < 0.2:
            texts[6:] = ["%d.%d.%d.%d" % (groups[6] >> 8, groups[6] & 255,
                                          groups[7] >> 8, groups[7] & 255)]
        text = ":".join(texts)
        zero_runs = [(i, j) for i in range(len(texts)) for j in range(i + 1, len(texts) + 1)
                     if all(t.strip("0") == "" for t in texts[i:j])]
        if zero_runs and generator.random() < 0.7:
            i, j = generator.choice(zero_runs)
            text = ":".join(texts[:i]) + "::" + ":".join(texts[j:])
    for _ in range(generator.choice([0, 0, 1, 1, 2, 3])):
        position = generator.randint(0, len(text))
        action = generator.random()
        alphabet = ":.0123456789abcdefABCDEFg% _+\u0661\n"
        if action < 0.4:
            text = text[:position] + generator.choice(alphabet) + text[position:]
        elif action < 0.8:
            text = text[:position] + text[position + 1:]
        else:
            text = text[:position] + generator.choice(alphabet) + text[position + 1:]
    return text


class AddressParserTest(unittest.TestCase):

    def test_canonical_forms(self):
        for text, canonical in CANONICAL:
            self.assertEqual(ipupdate_server.canonical_address(text), canonical, text)
            self.assertEqual(oracle_text(oracle(text)), canonical, text)

    def test_refused(self):
        for text in REFUSED:
            with self.assertRaises(ValueError, msg=repr(text)):
                ipupdate_server.canonical_address(text)

    def test_agrees_with_ipaddress_on_random_texts(self):
        generator = random.Random(SEED)
        accepted = 0
        for _ in range(RANDOM_CASES):
            text = spellings(generator)
            mine, theirs = ours(text), oracle(text)
            where = "seed %d: %r: ours %r, ipaddress %r" % (SEED, text, mine, theirs)
            if mine is not None:
                accepted += 1
                self.assertIsNotNone(theirs, where)
                self.assertEqual(int(oracle(mine)), int(theirs), where)
                self.assertEqual(mine, oracle_text(theirs), where)
            elif theirs is not None:
                # Only what we refuse on purpose: a zone index, or a leading zero
                # in IPv4 (which older ipaddress versions read as decimal).
                self.assertTrue("%" in text or any(
                    len(part) > 1 and part[0] == "0" and part.isdigit()
                    for part in text.replace(":", ".").split(".")), where)
        self.assertGreater(accepted, RANDOM_CASES // 4, "seed %d" % SEED)

    def test_peer_forms(self):
        parse_peer = ipupdate_server.parse_peer
        self.assertEqual(parse_peer("::ffff:192.0.2.7"), "192.0.2.7")
        self.assertEqual(parse_peer("::FFFF:c000:0207"), "192.0.2.7")
        self.assertEqual(parse_peer(" fe80::1%eth0 "), "fe80::1")
        self.assertEqual(parse_peer("::192.0.2.7"), "::c000:207")  # not mapped
        self.assertEqual(parse_peer("2001:db8::ffff:c000:207"), "2001:db8::ffff:c000:207")
        with self.assertRaises(ValueError):
            parse_peer("?")

    def test_refusal_source_is_the_ipv6_64(self):
        source = ipupdate_server.refusal_source
        self.assertEqual(source("192.0.2.7"), "192.0.2.7")
        self.assertEqual(source("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64")
        self.assertEqual(source("2001:db8::1"), "2001:db8::/64")
        self.assertEqual(source("::1"), "::/64")
        self.assertEqual(source("2001:db8:1:2:3:4:5:6"),
                         str(ipaddress.ip_network("2001:db8:1:2:3:4:5:6/64", strict=False)))


if __name__ == "__main__":
    unittest.main()
