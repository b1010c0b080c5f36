#!/usr/bin/env python3
"""Mutation run of the security path: do the tests notice when a defence goes?

Each mutant below is one change a maintainer might make while simplifying:
an exact snippet of a script and what it becomes. For each, the working tree
is copied (never edited in place), the change applied to the copy, and the
chosen test modules run there. A mutant is killed when some test fails that
passed on the unchanged copy; it SURVIVED when none does. A snippet that is
not found exactly once is a STALE mutant: the table no longer matches the
code, and must be brought up to date with it.

    python3 tools/mutate.py                  # all mutants, the default tests
    python3 tools/mutate.py --jobs 2 -v      # two at a time; name the failing tests
    python3 tools/mutate.py --only 3,17      # these mutants only
    python3 tools/mutate.py --tests tests.test_server_handler tests.test_names
    python3 tools/mutate.py --list           # the table, and whether it is stale

Exit status: 0 every mutant killed, 1 one survived or is stale, 2 usage.
Standard library only.
"""

import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER, CLIENT, VIEWER = "ipupdate_server.py", "ipupdater.py", "getip_cgi.py"
DYNDNS2 = "ipupdate_dyndns2.py"
DEFAULT_TESTS = ("tests.test_security_path", "tests.test_server_handler",
                 "tests.test_server_config", "tests.test_server_command_line",
                 "tests.test_dyndns2_protocol", "tests.test_dyndns2_config",
                 "tests.test_dyndns2_clients", "tests.test_signed_outcome",
                 "tests.test_client_outcome", "tests.test_client_replies",
                 "tests.test_viewer_access", "tests.test_forwarded_headers",
                 "tests.test_names", "tests.test_vectors")
TIMEOUT_S = 900                  # per run of the tests; a hang counts as killed

# (file, exact snippet, replacement, what a maintainer would have done)
MUTANTS = [
    (SERVER, "return hmac.compare_digest(sign(key, message), received_mac)",
     "return sign(key, message) == received_mac", "MAC compared with =="),
    (SERVER, 'return hmac.compare_digest(offered.encode("utf-8"), expected.encode("utf-8"))',
     "return offered == expected", "dyndns2 password / view key compared with =="),
    (SERVER, 'self.connection.execute("BEGIN IMMEDIATE")',
     'self.connection.execute("BEGIN")',
     "update transaction BEGIN (deferred), not BEGIN IMMEDIATE"),
    (SERVER, "last_ts is not None and ts <= as_int(last_ts):",
     "last_ts is not None and ts < as_int(last_ts):", "replay: ts <= last_ts -> ts < last_ts"),
    (SERVER, "if not dyndns2 and last_ts is not None", "if dyndns2 and last_ts is not None",
     "replay check dropped for type=update"),
    (SERVER, "if ts > now + window_s:", "if ts >= now + window_s:", "window: ahead `>` -> `>=`"),
    (SERVER, "if ts < now - window_s:", "if ts <= now - window_s:", "window: behind `<` -> `<=`"),
    (SERVER, "if ts > now + window_s:", "if ts > now + window_s + 1:",
     "window: one second more ahead"),
    (SERVER, "if ts < now - window_s:", "if ts < now - window_s - 1:",
     "window: one second more behind"),
    (SERVER, "        check_window(ts, now, config.window_s)\n        if address_text != peer:",
     "        if address_text != peer:", "window not checked for type=update"),
    (SERVER, "    if nonce is None:\n        check_window(ts, now, config.window_s)",
     "    if False:\n        check_window(ts, now, config.window_s)",
     "legacy type=ip signed for any ts"),
    (SERVER, "    if address_text != peer:", "    if False:", "peer-address check skipped"),
    (SERVER, "while hops and in_networks(peer, trusted_proxies):", "while hops:",
     "X-Forwarded-For trusted from any peer"),
    (SERVER, "peer = parse_peer(hops.pop())", "peer = parse_peer(hops.pop(0))",
     "X-Forwarded-For read from the left"),
    (DYNDNS2, "    return (in_networks(direct, config.trusted_proxies)\n",
     "    return (True\n", "X-Forwarded-Proto trusted from any peer"),
    (SERVER, "        if field in fields:\n            raise Refused(400, \"field '%s' given",
     "        if False:\n            raise Refused(400, \"field '%s' given",
     "a field given twice: the last one counts"),
    (SERVER, "    if canonical != text:\n", "    if False:\n", "non-canonical address accepted"),
    (SERVER, "        check_nonce(nonce)\n    key = key_of(config, check_name",
     "        pass\n    key = key_of(config, check_name", "type=ip: nonce not checked for form"),
    (SERVER, "        check_nonce(nonce)\n    check_address(address_text)",
     "        pass\n    check_address(address_text)", "type=update: nonce not checked for form"),
    (SERVER, "outcome_message(outcome, address_text, name, ts_text, nonce, now)",
     "outcome_message(outcome, address_text, name, ts_text, \"\", now)",
     "signed outcome not bound to the update's nonce"),
    (SERVER, "refusal.proof = signed(refusal.outcome) if refusal.outcome else \"\"",
     "refusal.proof = signed(\"new\")", "a refusal signed as recorded"),
    (SERVER, "return config.key_for(name) or os.urandom(32).hex()",
     'return config.key_for(name) or ""', "a name without a key: the empty key signs"),
    (SERVER, "for start in range(len(labels)):", "for start in range(1):",
     "names below a keyed name signed by the shared secret"),
    (DYNDNS2, "if passwords_match(password, expected)]", "if True]",
     "dyndns2 password check bypassed"),
    (DYNDNS2, "        if name not in matches:", "        if False:",
     "dyndns2: a password updates every dyndns2 name"),
    (DYNDNS2, "    if address != peer and not trust_myip:", "    if False:",
     "dyndns2 myip trusted always"),
    (DYNDNS2, "if not (config.dyndns2_allow_plain_http or arrived_over_https(environ, config)):",
     "if False:", "dyndns2 allowed over plain HTTP"),
    (CLIENT, 'if not hmac.compare_digest(sign(key, message).encode(), values["h"].encode("utf-8")):',
     'if sign(key, message) != values["h"]:', "client: reply MAC compared with =="),
    (CLIENT, 'if values["ts"] != ts or values.get("nonce", nonce) != nonce:', "if False:",
     "client: ts/nonce echo not checked"),
    (CLIENT, 'values.get("nonce", nonce) != nonce:', "False:",
     "client: nonce echo not checked"),
    (CLIENT, 'if fields == ["ip", "ts", "h"] and not legacy:', "if False:",
     "client: legacy reply accepted without --legacy"),
    (CLIENT, "or not hmac.compare_digest(\n            sign(key, message).encode(), "
             "values[\"h\"].encode(\"utf-8\")):", "or False:",
     "client: the outcome's MAC not checked"),
    (CLIENT, "        if RECORDED.get(signed) != line:", "        if False:",
     "client: a signed refusal taken for success"),
    (CLIENT, "        if signed is None:\n            raise Failure(EXIT_AUTH, \"the answer to the "
             "update carries", "        if False:\n            raise Failure(EXIT_AUTH, \"the "
             "answer to the update carries", "client: an unsigned OK accepted"),
    (VIEWER, "    if not passwords_match(offered_key, view_key):", "    if False:",
     "viewer: view key bypassed"),
    (VIEWER, "    if not passwords_match(offered_key, view_key):",
     "    if offered_key != view_key:", "viewer: view key compared with =="),
]

FAILED_LINE = re.compile(r"^(?:FAIL|ERROR): (.+)$", re.MULTILINE)


def stale(mutant, tree):
    """None, or why the snippet cannot be applied exactly once in `tree`."""
    path, snippet = os.path.join(tree, mutant[0]), mutant[1]
    if not os.path.exists(path):
        return "%s missing" % mutant[0]
    with open(path, encoding="utf-8") as source:
        count = source.read().count(snippet)
    return None if count == 1 else "snippet found %d times in %s" % (count, mutant[0])


def copy_tree(source, target):
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(
        ".git", "__pycache__", "*.pyc", "*.sqlite*"))


def run_tests(tree, tests):
    """(set of failing test ids, tests run); a run that hangs fails as 'timeout'."""
    environment = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    try:
        done = subprocess.run([sys.executable, "-m", "unittest"] + list(tests), cwd=tree,
                              env=environment, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"timeout"}, 0
    output = done.stdout.decode("utf-8", "replace")
    failed = set(FAILED_LINE.findall(output))
    if done.returncode != 0 and not failed:
        failed = {"the test run itself (exit %d)" % done.returncode}
    ran = re.search(r"^Ran (\d+) test", output, re.MULTILINE)
    return failed, int(ran.group(1)) if ran else 0


def run_mutant(number, base, work, tests):
    """Copy `base`, apply mutant `number` (from 1) there, run the tests."""
    path, snippet, replacement, _ = MUTANTS[number - 1]
    tree = os.path.join(work, "mutant-%d" % number)
    copy_tree(base, tree)
    try:
        with open(os.path.join(tree, path), encoding="utf-8") as source:
            text = source.read()
        with open(os.path.join(tree, path), "w", encoding="utf-8") as source:
            source.write(text.replace(snippet, replacement, 1))
        return run_tests(tree, tests)[0]
    finally:
        shutil.rmtree(tree, ignore_errors=True)


def main(argv):
    parser = argparse.ArgumentParser(
        description="Mutation run of the security path (see the module docstring).")
    parser.add_argument("--tests", nargs="+", default=list(DEFAULT_TESTS),
                        help="test modules to run (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once")
    parser.add_argument("--only", help="comma-separated mutant numbers")
    parser.add_argument("--list", action="store_true", help="print the table and stop")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="name the tests that killed each mutant")
    args = parser.parse_args(argv)
    chosen = range(1, len(MUTANTS) + 1)
    if args.only:
        chosen = [int(number) for number in args.only.split(",")]
        if not all(1 <= number <= len(MUTANTS) for number in chosen):
            parser.error("--only: mutants are numbered 1 to %d" % len(MUTANTS))
    started = time.monotonic()
    work = tempfile.mkdtemp(prefix="ipupdate-mutate-")
    try:
        base = os.path.join(work, "base")
        copy_tree(ROOT, base)  # one snapshot: the tree may change while we run
        stale_reasons = dict((n, stale(MUTANTS[n - 1], base)) for n in chosen)
        if args.list:
            for number in chosen:
                path, _, _, description = MUTANTS[number - 1]
                print("%3d  %-18s %-55s %s" % (number, path, description,
                                               "STALE mutant: " + stale_reasons[number]
                                               if stale_reasons[number] else "ok"))
            return 1 if any(stale_reasons.values()) else 0
        print("tests: %s" % " ".join(args.tests))
        baseline, ran = run_tests(base, args.tests)
        print("unchanged tree: %d tests, %d failing%s" % (
            ran, len(baseline), "".join("\n    already failing: " + name
                                        for name in sorted(baseline))))
        results = {}
        runnable = [number for number in chosen if not stale_reasons[number]]
        with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
            futures = dict((pool.submit(run_mutant, number, base, work, args.tests), number)
                           for number in runnable)
            for future in concurrent.futures.as_completed(futures):
                results[futures[future]] = future.result() - baseline
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n%3s  %-18s %-55s %-8s %s" % ("#", "file", "mutant", "result", "tests failed"))
    bad = 0
    for number in chosen:
        path, _, _, description = MUTANTS[number - 1]
        if stale_reasons[number]:
            bad += 1
            print("%3d  %-18s %-55s STALE mutant: %s" % (number, path, description,
                                                         stale_reasons[number]))
            continue
        failed = results[number]
        bad += not failed
        print("%3d  %-18s %-55s %-8s %d" % (number, path, description,
                                             "killed" if failed else "SURVIVED", len(failed)))
        if args.verbose:
            for name in sorted(failed):
                print("       by %s" % name)
    killed = len(chosen) - bad
    print("\n%d of %d mutants killed, %d survived or stale; %.0f s with --jobs %d"
          % (killed, len(chosen), bad, time.monotonic() - started, args.jobs))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
