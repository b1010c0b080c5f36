"""Under load, faults and floods, nothing is lost and no one gets in.

Real CGI executions and real `serve` processes on 127.0.0.0/8, driven by the
engines of tests/battery.py with small counts (`make stress` runs them long).
Every test ends by checking that no reply, log line or command line it saw
held a key. docs/SECURITY.md says which test backs which claim.
"""

import json
import os
import socket
import sqlite3
import stat
import subprocess
import threading
import time
import unittest

from tests import battery
from tests import support
from tests.support import HOME_KEY, KEY, update_body

FORBIDDEN = "Error: authentication failed: wrong key for this name, or the message was altered"


class BatteryTest(unittest.TestCase):
    """A Result and a Workspace per test; the test fails on any violation."""

    settings = {}
    fast_disk = False

    def setUp(self):
        self.result = battery.Result(self.id().rsplit(".", 1)[-1])
        self.workspace = battery.Workspace(self.result, fast_disk=self.fast_disk,
                                           **self.settings)

    def tearDown(self):
        self.workspace.close()

    def assertNoViolations(self):
        self.assertEqual(self.result.violations, [], self.result.report())
        self.assertEqual(self.result.violation_count, 0, self.result.report())


# --- 1. Concurrency ----------------------------------------------------------

class ConcurrentWritersTest(BatteryTest):

    def test_parallel_cgi_and_serve_lose_nothing_and_refuse_only_stale_messages(self):
        with battery.Serve(self.workspace) as serve:
            battery.run_load(self.result, self.workspace, serve, names=9, per_name=6,
                             cgi_workers=3, serve_workers=3, deadline_s=60)
            log = serve.stop()
        battery.check_log(self.result, log, "the serve error log")
        self.assertNoViolations()
        figures = self.result.figures
        self.assertEqual(figures["requests"], figures["accepted"] +
                         figures.get("refused (409)", 0))
        self.assertNotIn("messages not sent (time bound)", figures)
        self.assertGreater(figures["accepted"], 20)
        self.assertGreater(figures["reads"], 0)


# --- 2. Crash safety -----------------------------------------------------------

class CrashSafetyTest(BatteryTest):
    settings = {"window": "1d"}  # messages of many cycles stay fresh

    def test_serve_killed_mid_write_loses_no_accepted_update(self):
        battery.run_serve_crashes(self.result, self.workspace, cycles=6, clients=5)
        self.assertNoViolations()
        self.assertEqual(self.result.figures["serve kills"], 6)
        self.assertGreater(self.result.figures["accepted"], 0)

    def test_cgi_killed_mid_write_loses_no_accepted_update(self):
        battery.run_cgi_crashes(self.result, self.workspace, runs=24, parallel=6)
        self.assertNoViolations()
        self.assertGreater(self.result.figures["CGI kills"], 0)
        self.assertGreater(self.result.figures["accepted"], 0)

    def test_readers_work_over_the_hot_journal_a_killed_writer_leaves(self):
        ts = support.now()
        reply = battery.cgi(self.workspace, update_body("127.0.0.1", "home", ts, HOME_KEY))
        self.assertEqual((reply.status, reply.text), (200, "OK: New IP updated"))
        # A writer killed in mid-transaction, after SQLite had to write pages of
        # it into the database file: what a crash leaves, made on purpose.
        support.kill_writer_mid_transaction(self.workspace.database)
        self.assertTrue(os.path.exists(self.workspace.database + "-journal"))
        # `check` reads through open_database(readonly=True), as the viewer does.
        done = subprocess.run([support.PYTHON, support.SERVER, "check", "--config",
                               self.workspace.config, "--json"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=support.clean_env(), timeout=30)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        report = json.loads(done.stdout.decode())
        self.assertEqual([(entry["name"], entry["address"]) for entry in report["names"]],
                         [("home", "127.0.0.1")])
        self.assertEqual(battery.history(self.workspace.database)[(4, "home")],
                         [("127.0.0.1", ts, ts)])
        self.assertEqual(battery.integrity(self.workspace.database), [("ok",)])


# --- 2b. Faults ------------------------------------------------------------------

class FaultTest(BatteryTest):

    def run_faults(self, transport, faults):
        try:
            battery.run_faults(self.result, transport, faults)
        except battery.Unavailable as reason:
            self.skipTest(str(reason))
        self.assertNoViolations()
        for fault in faults:
            during = 500 if fault == "missing directory" else 503  # a configuration error
            self.assertEqual(self.result.figures["%s: update during -> %d" % (fault, during)], 1)
            self.assertEqual(self.result.figures["%s: update after the fix -> 200" % fault], 1)

    def test_missing_directory_gives_500_and_service_resumes_cgi(self):
        self.run_faults("cgi", ["missing directory"])

    def test_full_disk_and_read_only_filesystem_give_503_and_service_resumes_cgi(self):
        self.run_faults("cgi", ["disk full", "read-only filesystem"])

    def test_full_disk_read_only_and_missing_directory_under_serve(self):
        self.run_faults("serve", list(battery.FAULTS))


# --- 3. Slow clients ---------------------------------------------------------------

class SlowClientTest(BatteryTest):

    def test_valid_requests_are_answered_while_idle_slow_and_huge_clients_hang_on(self):
        battery.run_slow_clients(self.result, self.workspace, idle=50, slowloris=1, huge=1,
                                 probes=15, timeout_s=2.0)
        self.assertNoViolations()
        self.assertEqual(len(self.result.latencies["valid update while held"]), 15)
        self.assertEqual(self.result.figures["idle connections dropped by the server"],
                         "50 of 50")


class ServeHttpTest(BatteryTest):
    """What `serve` refuses that http.server alone would let through."""

    def exchange(self, data):
        with battery.Serve(self.workspace) as serve:
            sock = socket.create_connection(("127.0.0.1", serve.port), timeout=10)
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            received = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
            sock.close()
            battery.check_log(self.result, serve.stop(), "the serve error log")
        self.assertNoViolations()
        return received.decode("latin-1")

    def test_two_content_lengths_are_refused_and_the_connection_closed(self):
        body = b"type=ip&ts=1&nonce=" + b"ab" * 8
        answer = self.exchange(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
                               b"Content-Length: %d\r\nContent-Length: 3\r\n\r\n%s"
                               % (battery.FORM.encode(), len(body), body))
        self.assertTrue(answer.startswith("HTTP/1.1 400 Bad Request\r\n"), answer)
        self.assertIn("\r\nConnection: close\r\n", answer)
        self.assertTrue(answer.endswith("\r\n\r\nError: more than one Content-Length"), answer)

    def test_content_length_is_ascii_digits_of_sane_length(self):
        for length, status in (("\u00b2", 411), ("9" * 5000, 413), ("0004", 400)):
            request = ("POST / HTTP/1.1\r\nContent-Type: %s\r\nContent-Length: %s\r\n\r\n"
                       "ts=1" % (battery.FORM, length))
            answer = self.exchange(request.encode("latin-1"))
            self.assertTrue(answer.startswith("HTTP/1.1 %d " % status), (length[:9], answer))
            reply = battery.cgi(self.workspace, b"ts=1", content_length=length)
            self.assertEqual(reply.status, status, (length[:9], reply))

    def test_http_servers_own_refusals_are_one_plain_line(self):
        answer = self.exchange(b"POST / HTTP/1.1\r\n" + b"".join(
            b"X-H%d: v\r\n" % i for i in range(101)) + b"\r\n")
        self.assertTrue(answer.startswith("HTTP/1.1 431 "), answer)
        self.assertIn("\r\nContent-Type: text/plain; charset=utf-8\r\n", answer)
        self.assertTrue(answer.endswith("\r\n\r\nError: Too many headers"), answer)


# --- 4. The refused-attempt log and the rate limit -------------------------------------

class RefusedLogTest(BatteryTest):
    """Refused updates go to the table `refused`; through CGI, whose peer
    address the test chooses."""

    settings = {"max_refusals_per_minute": "3", "refused_log_rows": "5"}

    def post(self, body, peer="192.0.2.10", **options):
        reply = battery.cgi(self.workspace, body, remote_addr=peer, **options)
        battery.check_log(self.result, reply.log, "the error log")
        return reply

    def forged(self, peer="192.0.2.10", name="home"):
        return self.post(update_body(peer, name, support.now(), None, mac="ab" * 32), peer)

    def refused(self):
        if not os.path.exists(self.workspace.database):
            return []
        connection = sqlite3.connect(self.workspace.database)
        try:
            return connection.execute("SELECT id, time, source, peer, name, status, reason "
                                      "FROM refused ORDER BY id").fetchall()
        except sqlite3.OperationalError:
            return []
        finally:
            connection.close()

    def test_a_refused_update_is_logged_with_reason_peer_name_and_time_never_the_mac(self):
        before = support.now()
        reply = self.forged(peer="192.0.2.10")
        self.assertEqual((reply.status, reply.text), (403, FORBIDDEN))
        rows = self.refused()
        self.assertEqual(len(rows), 1)
        row_id, when, source, peer, name, status, reason = rows[0]
        self.assertTrue(before <= when <= support.now())
        self.assertEqual((source, peer, name, status, reason),
                         ("192.0.2.10", "192.0.2.10", "home", 403, FORBIDDEN[len("Error: "):]))
        self.assertNotIn("ab" * 32, repr(rows))
        # The original's tables are not touched by a refusal.
        self.assertEqual(battery.history(self.workspace.database), {})
        self.assertNoViolations()

    def test_only_attempts_to_change_a_record_are_logged(self):
        ts = support.now()
        not_logged = [
            (dict(method="GET", content_type=None, content_length=False), b"", 405),
            (dict(content_type="text/plain"), update_body("192.0.2.10", "home", ts, KEY), 415),
            (dict(content_length=False), b"type=update", 411),
            ({}, b"type=update&pad=" + b"x" * 5000, 413),
            ({}, b"type=update&name=%ZZ", 400),
            ({}, b"type=ip&ts=12x", 400),
            ({}, b"ts=5", 400),
        ]
        for options, body, status in not_logged:
            self.assertEqual(self.post(body, **options).status, status, body[:40])
        self.assertEqual(self.refused(), [])
        self.workspace_settings_unlimited()
        logged = [
            (update_body("192.0.2.10", "home", "12x", HOME_KEY), 400),
            (update_body("192.0.2.10", "home", ts, KEY), 403),
            (update_body("192.0.2.10", "home", ts - 900, HOME_KEY), 403),
            (update_body("192.0.2.99", "home", ts, HOME_KEY), 403),
            (update_body("192.0.2.10", "home", ts, HOME_KEY), 200),
            (update_body("192.0.2.10", "home", ts, HOME_KEY), 409),
        ]
        for body, status in logged:
            self.assertEqual(self.post(body).status, status, body)
        self.assertEqual([row[5] for row in self.refused()], [400, 403, 403, 403, 409])
        self.assertNoViolations()

    def workspace_settings_unlimited(self):
        with open(self.workspace.config) as config:
            text = config.read()
        with open(self.workspace.config, "w") as config:
            config.write(text.replace("max_refusals_per_minute = 3",
                                      "max_refusals_per_minute = 0"))

    def test_the_log_keeps_only_the_newest_refused_log_rows(self):
        self.workspace_settings_unlimited()
        for index in range(8):
            self.assertEqual(self.forged(peer="192.0.2.%d" % (index + 1)).status, 403)
        rows = self.refused()
        self.assertEqual([(row[0], row[3]) for row in rows],
                         [(index, "192.0.2.%d" % index) for index in range(4, 9)])
        self.assertNoViolations()

    def test_a_source_over_the_limit_gets_429_until_it_slows_down(self):
        for _ in range(3):
            self.assertEqual(self.forged(peer="192.0.2.10").status, 403)
        reply = self.forged(peer="192.0.2.10")
        self.assertEqual(reply.status, 429)
        retry_after = int(reply.headers["retry-after"])
        self.assertTrue(55 <= retry_after <= 60, retry_after)
        self.assertEqual(reply.text, "Error: too many refused requests from this address: "
                                     "try again in %d s" % retry_after)
        self.assertEqual(reply.log, "")          # a flood does not fill the error log
        self.assertEqual(len(self.refused()), 3)  # nor the table
        # A correctly signed update from the very same address is never limited,
        ts = support.now()
        reply = self.post(update_body("192.0.2.10", "home", ts, HOME_KEY))
        self.assertEqual((reply.status, reply.text), (200, "OK: New IP updated"))
        # and another address is not limited by this one.
        self.assertEqual(self.forged(peer="192.0.2.11").status, 403)
        # A minute later (its refusals aged by a minute) it is heard again.
        connection = sqlite3.connect(self.workspace.database)
        connection.execute("UPDATE refused SET time = time - 60 WHERE source = '192.0.2.10'")
        connection.commit()
        connection.close()
        self.assertEqual(self.forged(peer="192.0.2.10").status, 403)
        self.assertNoViolations()

    def test_ipv6_addresses_count_per_64(self):
        for peer in ("2001:db8:1::1", "2001:db8:1::2", "2001:db8:1:0:ffff::3"):
            self.assertEqual(self.forged(peer=peer).status, 403, peer)
        self.assertEqual(self.forged(peer="2001:db8:1::99").status, 429)
        self.assertEqual(self.forged(peer="2001:db8:2::1").status, 403)
        self.assertEqual(self.refused()[0][2:4], ("2001:db8:1::/64", "2001:db8:1::1"))
        self.assertNoViolations()

    def test_the_log_takes_at_most_120_rows_a_minute_from_all_sources(self):
        self.workspace_settings_unlimited()
        with open(self.workspace.config) as config:
            text = config.read()
        with open(self.workspace.config, "w") as config:
            config.write(text.replace("refused_log_rows = 5", "refused_log_rows = 1000"))
        self.assertEqual(self.forged(peer="192.0.2.1").status, 403)
        connection = sqlite3.connect(self.workspace.database)
        now = support.now()
        connection.executemany(
            "INSERT INTO refused (time, source, peer, name, status, reason) "
            "VALUES (?, ?, ?, 'home', 403, 'earlier')",
            [(now, "198.51.100.%d" % i, "198.51.100.%d" % i) for i in range(118)])
        connection.commit()
        connection.close()
        self.assertEqual(self.forged(peer="192.0.2.2").status, 403)   # the 120th: logged
        self.assertEqual(self.forged(peer="192.0.2.3").status, 403)   # answered, not logged
        rows = self.refused()
        self.assertEqual(len(rows), 120)
        self.assertEqual(rows[-1][3], "192.0.2.2")
        self.assertNoViolations()


class RefusalFloodTest(BatteryTest):

    def flood(self, fixed, rotating, enough):
        with battery.Serve(self.workspace) as serve:
            statuses, rows = battery.run_refusal_flood(
                self.result, self.workspace, serve, fixed=fixed, rotating=rotating,
                duration_s=1.2, enough=enough)
            log = serve.stop()
        battery.check_log(self.result, log, "the serve error log")
        self.assertNoViolations()
        legit = self.result.latencies["legitimate update during the flood"]
        self.assertGreaterEqual(len(legit), 10)
        self.assertLess(max(legit), 5.0)  # blocked would be the 10 s lock wait
        return statuses, rows

    def test_a_flood_from_a_few_addresses_is_limited_and_holds_up_no_one(self):
        statuses, rows = self.flood(fixed=3, rotating=0, enough=lambda statuses: (
            statuses[403] >= 3 * 30 and statuses[429] >= 3))
        self.assertEqual(statuses[403], 3 * 30)  # then 429 for each, until a minute passes
        self.assertGreater(statuses[429], 0)
        self.assertEqual(rows, 3 * 30)

    def test_a_flood_from_ever_new_addresses_logs_at_most_120_rows_a_minute(self):
        statuses, rows = self.flood(fixed=0, rotating=4,
                                    enough=lambda statuses: statuses[403] > 150)
        self.assertGreater(statuses[403], 120)
        self.assertEqual(statuses[429], 0)
        self.assertEqual(rows, 120)


# --- 5. Secrets ----------------------------------------------------------------------

class SecretsTest(BatteryTest):

    def test_no_key_in_any_reply_log_line_or_command_line(self):
        watch = battery.ProcessListWatch(self.result)
        watch.start()
        try:
            with battery.Serve(self.workspace) as serve:
                ts = support.now() - 50
                for index in range(6):
                    for key in (HOME_KEY, KEY, "not-the-key-0123456789"):
                        body = update_body("127.0.0.1", "home", ts + index, key)
                        battery.cgi(self.workspace, body)
                        serve.post(body)
                        serve.post("type=ip&ts=%d&name=home" % support.now())
                log = serve.stop()
        finally:
            watch.stop()
        battery.check_log(self.result, log, "the serve error log")
        self.assertNoViolations()
        self.assertGreater(self.result.figures["texts checked for keys"], 60)
        self.assertGreater(self.result.figures["command lines read"], 0)

    def test_database_and_journal_are_0600_whatever_the_umask(self):
        # Created by a refusal (the first thing an attacker can make us write).
        reply = battery.cgi(self.workspace, update_body("127.0.0.1", "home", support.now(),
                                                        None, mac="cd" * 32), umask=0)
        self.assertEqual(reply.status, 403)
        self.assertEqual(stat.S_IMODE(os.stat(self.workspace.database).st_mode), 0o600)
        # Hold a read lock, so the next update waits at its commit with its
        # journal on disk; look at the journal's mode then.
        reader = sqlite3.connect(self.workspace.database, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM refused").fetchall()
        replies = []
        writer = threading.Thread(target=lambda: replies.append(battery.cgi(
            self.workspace, update_body("127.0.0.1", "home", support.now(), HOME_KEY),
            umask=0)))
        writer.start()
        journal = self.workspace.database + "-journal"
        deadline = time.monotonic() + 10
        while not os.path.exists(journal) and time.monotonic() < deadline:
            time.sleep(0.005)
        try:
            mode = stat.S_IMODE(os.stat(journal).st_mode)
        finally:
            reader.execute("COMMIT")
            reader.close()
            writer.join()
        self.assertEqual(mode, 0o600)
        self.assertEqual((replies[0].status, replies[0].text), (200, "OK: New IP updated"))
        self.assertNoViolations()


if __name__ == "__main__":
    unittest.main()
