"""How the viewer reads the database: the original's tables as they are, the
query plans of the server's read_history() (shared with `check`), every
request reading what is there now under `serve`, and the one declared import
surface between the viewer and the server.
"""

import ast
import http.client
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import unittest

from tests import support
from tests.support import (FOREVER, T0, T_SUMMER, TEXT, ViewerTestCase,  # noqa: F401
                           fill_database, tokyo, utc)

sys.path.insert(0, support.ROOT)
import getip_cgi  # noqa: E402  (its SQL)
import ipupdate_server  # noqa: E402  (its SQL and SHARED_WITH_VIEWER)

VIEW_KEY = "view-key-3b9d2f61c0a84e57"


class OriginalDatabaseTest(ViewerTestCase):
    """A database the original PHP wrote: its tables, none of our indexes, empty names."""
    settings = {"stale_after": FOREVER}

    def setUp(self):
        ViewerTestCase.setUp(self)
        fill_database(self.database, [
            (4, "", "198.51.100.1", T0, T0 + 3600),
            (4, "", "198.51.100.2", T0 + 3700, T0 + 7200),
            (6, "", "2001:db8::5", T0, T0 + 10),
            (4, "laptop", "192.0.2.4", T0 + 50, T0 + 40),  # the original accepted older ts
        ], original_schema=True)

    def test_its_rows_are_shown_and_the_empty_name_reads_unnamed(self):
        self.assertAnswer("", 200, "(unnamed) ipv4 198.51.100.2 2023-11-15T00:13:20+00:00\n"
                                   "(unnamed) ipv6 2001:db8::5 2023-11-14T22:13:30+00:00\n"
                                   "laptop ipv4 192.0.2.4 2023-11-14T22:14:00+00:00\n")

    def test_an_empty_name_parameter_selects_the_unnamed(self):
        self.assertAnswer("name=&family=4&format=ip", 200, "198.51.100.2\n")
        self.assertAnswer("name=&family=4&history=5", 200,
                          "(unnamed) ipv4 198.51.100.2 2023-11-14T23:15:00+00:00 "
                          "2023-11-15T00:13:20+00:00 58m20s\n"
                          "(unnamed) ipv4 198.51.100.1 2023-11-14T22:13:20+00:00 "
                          "2023-11-14T23:13:20+00:00 1h00m\n")
        _, _, body, _ = self.view("format=html&name=")
        self.assertIn("<h2>(unnamed)</h2>", body)

    def test_without_the_servers_log_every_count_is_zero(self):
        _, _, body, _ = self.view("format=json")
        self.assertEqual([(entry["name"], entry["refused_24h"])
                          for entry in json.loads(body)["names"]], [("", 0), ("laptop", 0)])
        self.assertNotIn('class="refused"', self.view("format=html")[2])

    def test_the_viewer_changes_nothing_in_it(self):
        with open(self.database, "rb") as before_file:
            before = before_file.read()
        self.view("format=json&history=3")
        with open(self.database, "rb") as after_file:
            self.assertEqual(after_file.read(), before)


class QueryPlanTest(unittest.TestCase):
    """Each query of read_history() (the server's, shared with `check`) seeks in the
    (name, id) index: flat on a long history."""

    def setUp(self):
        directory = tempfile.mkdtemp(prefix="viewer-plan-")
        self.addCleanup(shutil.rmtree, directory)
        self.path = os.path.join(directory, "ipupdate.sqlite")

    def connect(self, rows, original_schema=False):
        fill_database(self.path, rows, original_schema)
        connection = sqlite3.connect(self.path)
        self.addCleanup(connection.close)
        return connection

    def plans(self, connection, table):
        statements = [(ipupdate_server.FIRST_NAME_SQL, ()),
                      (ipupdate_server.NEXT_NAME_SQL, ("home",)),
                      (ipupdate_server.PERIODS_SQL.replace("{source}", ""), ("home", 10))]
        return [" / ".join(row[-1] for row in connection.execute(
            "EXPLAIN QUERY PLAN " + sql.format(table=table), parameters))
            for sql, parameters in statements]

    def test_every_query_is_an_index_search_without_sorting(self):
        connection = self.connect([(4, "home", "192.0.2.1", T0, T0)])
        for table in ("log_ipv4", "log_ipv6"):
            first, following, periods = self.plans(connection, table)
            self.assertRegex(first, r"^SEARCH (TABLE )?%s USING COVERING INDEX %s_folded_name_"
                             % (table, table))
            self.assertRegex(following, r"^SEARCH (TABLE )?%s USING COVERING INDEX %s_folded_"
                                        r"name_\w+ \(name>\?\)$" % (table, table))
            self.assertRegex(periods, r"^SEARCH (TABLE )?%s USING INDEX %s_folded_name_id "
                                      r"\(name=\?\)$" % (table, table))

    def test_the_refused_count_is_a_search_in_the_name_time_index(self):
        connection = self.connect([(4, "home", "192.0.2.1", T0, T0)])
        connection.executescript(ipupdate_server.REFUSED_SCHEMA)
        plan = " / ".join(row[-1] for row in connection.execute(
            "EXPLAIN QUERY PLAN " + getip_cgi.REFUSED_SQL, ("home", T0)))
        self.assertRegex(plan, r"^SEARCH (TABLE )?refused USING COVERING INDEX "
                               r"refused_name_time \(name=\? AND time>\?\)$")

    def test_the_same_queries_scan_a_table_without_the_index(self):
        # The assertions above can fail: the original's tables have no index.
        connection = self.connect([(4, "home", "192.0.2.1", T0, T0)], original_schema=True)
        first, following, periods = self.plans(connection, "log_ipv4")
        self.assertNotIn("INDEX", first + following + periods)
        self.assertIn("SCAN", periods)

    def test_without_the_index_the_names_cost_one_pass_not_one_per_name(self):
        connection = self.connect([(4, name, "192.0.2.1", T0 + i, T0 + i) for i in range(2000)
                                   for name in ("cabin", "home", "office", "pi")],
                                  original_schema=True)
        steps = []
        connection.set_progress_handler(lambda: steps.append(1), 1)
        connection.execute("SELECT name FROM log_ipv4").fetchall()
        one_pass = len(steps)
        del steps[:]
        names = ipupdate_server.history_names(connection, "log_ipv4", indexed=False)
        connection.set_progress_handler(None, 1)
        self.assertEqual(sorted(names), ["cabin", "home", "office", "pi"])
        self.assertLess(len(steps), 2 * one_pass, (one_pass, len(steps)))

    def work_to_read(self, rows):
        """SQLite virtual machine steps for everything read_history() asks."""
        connection = self.connect(rows)
        steps = []
        connection.set_progress_handler(lambda: steps.append(1), 1)
        names = ipupdate_server.history_names(connection, "log_ipv4")
        for name in names:
            connection.execute(ipupdate_server.PERIODS_SQL.format(table="log_ipv4", source=""),
                               (name, 10)).fetchall()
        connection.set_progress_handler(None, 1)
        return names, len(steps)

    def test_the_work_does_not_grow_with_the_history(self):
        def history(periods):
            return [(4, name, "192.0.2.%d" % (i % 250), T0 + i, T0 + i)
                    for i in range(periods) for name in ("cabin", "home", "office")]
        names, small = self.work_to_read(history(12))  # more than the 10 asked for
        os.remove(self.path)
        big_names, big = self.work_to_read(history(20000))
        self.assertEqual(names, ["cabin", "home", "office"])
        self.assertEqual(big_names, names)
        self.assertLess(big, small * 1.2, (small, big))


class ServeReadsWhatIsThereTest(unittest.TestCase):
    """Under `serve` every request opens the database, reads and closes it: it
    shows every change, the server's and other processes', to the rows and to
    the schema, on the next request, and holds no lock between requests."""

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="viewer-serve-reads-")
        self.addCleanup(shutil.rmtree, self.directory)
        self.config = support.write_config(self.directory, stale_after=FOREVER)
        self.database = os.path.join(self.directory, "ipupdate.sqlite")
        self.server = support.LocalServer(self.config)
        self.addCleanup(self.server.stop)
        self.client = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        self.addCleanup(self.client.close)

    def get(self, query=""):
        """A GET on one keep-alive connection: one thread of the server."""
        self.client.request("GET", "/?" + query)
        response = self.client.getresponse()
        return response.status, response.read().decode()

    def post(self, name="home", key=support.HOME_KEY, mac=None):
        return support.http_request("127.0.0.1", self.server.port, body=support.update_body(
            "127.0.0.1", name, support.now(), key, mac))[::2]

    def assertNoLockHeld(self):
        writer = sqlite3.connect(self.database, timeout=0, isolation_level=None)
        try:
            writer.execute("BEGIN EXCLUSIVE")  # fails at once if a reader holds a lock
            writer.execute("ROLLBACK")
        finally:
            writer.close()

    def counts(self):
        status, body = self.get("format=json")
        self.assertEqual(status, 200, body)
        return [(entry["name"], entry["refused_24h"]) for entry in json.loads(body)["names"]]

    def test_it_sees_new_rows_and_the_tables_and_indexes_the_server_adds(self):
        fill_database(self.database, [(4, "home", "192.0.2.1", T0, T0)], original_schema=True)
        self.assertEqual(self.get("format=ip&name=home"), (200, "192.0.2.1\n"))
        self.assertEqual(self.counts(), [("home", 0)])   # no refused table yet
        self.assertNoLockHeld()
        self.assertEqual(self.post(), (200, "OK: New IP updated"))   # adds the indexes
        self.assertEqual(self.get("format=ip&name=home"), (200, "127.0.0.1\n"))
        self.assertEqual(self.post(mac="0" * 64)[0], 403)             # adds the refused table
        self.assertEqual(self.counts(), [("home", 1)])
        self.assertEqual(self.post(mac="0" * 64)[0], 403)
        self.assertEqual(self.counts(), [("home", 2)])
        self.assertNoLockHeld()

    def test_every_update_of_the_server_shows_on_the_next_request(self):
        for number in range(1, 6):
            name = "pi%d" % number
            self.assertEqual(self.get("format=ip&name=" + name),
                             (404, "Error: no updates recorded for name '%s'" % name))
            self.assertEqual(self.post(name=name, key=support.KEY),
                             (200, "OK: New IP updated"))
            self.assertEqual(self.get("format=ip&name=" + name), (200, "127.0.0.1\n"))

    def test_commits_of_other_processes_show_on_the_next_request(self):
        fill_database(self.database, [(4, "home", "192.0.2.1", T0, T0)])
        for number in range(2, 6):   # in quick succession, well within a second
            writer = sqlite3.connect(self.database)
            writer.execute("UPDATE log_ipv4 SET ip = ?", ("192.0.2.%d" % number,))
            writer.commit()
            writer.close()
            self.assertEqual(self.get("format=ip&name=home"), (200, "192.0.2.%d\n" % number))

    def test_a_database_file_replaced_or_removed_is_read_anew(self):
        self.assertEqual(self.get(), (200, "no updates recorded yet\n"))
        self.assertEqual(self.post(), (200, "OK: New IP updated"))
        self.assertEqual(self.get("format=ip&name=home"), (200, "127.0.0.1\n"))
        restored = os.path.join(self.directory, "restored.sqlite")
        fill_database(restored, [(4, "cabin", "198.51.100.9", T0, T0)])
        os.replace(restored, self.database)   # as a restore from a backup would
        self.assertEqual(self.get(), (200, "cabin ipv4 198.51.100.9 %s\n" % utc(T0)))
        os.remove(self.database)
        self.assertEqual(self.get(), (200, "no updates recorded yet\n"))

    def test_the_hot_journal_of_a_killed_writer_is_rolled_back_not_an_error(self):
        self.assertEqual(self.post(), (200, "OK: New IP updated"))
        self.assertEqual(self.get("format=ip&name=home"), (200, "127.0.0.1\n"))
        support.kill_writer_mid_transaction(self.database)
        self.assertTrue(os.path.exists(self.database + "-journal"))
        status, body = self.get()
        self.assertEqual((status, body.split()[:3]), (200, ["home", "ipv4", "127.0.0.1"]))
        self.assertNotIn("ghost", body)
        self.assertNotIn("database error", self.server.stderr())
        self.assertNoLockHeld()

    @unittest.skipUnless(os.path.isdir("/proc/self/fd"), "needs /proc to count descriptors")
    def test_no_request_leaves_a_file_descriptor_behind(self):
        self.assertEqual(self.post(), (200, "OK: New IP updated"))
        descriptors = "/proc/%d/fd" % self.server.process.pid
        before = len(os.listdir(descriptors))
        for _ in range(40):   # a new client connection each: a new thread each
            status, _, _ = support.http_request("127.0.0.1", self.server.port, method="GET",
                                                content_type=None)
            self.assertEqual(status, 200)
        deadline = time.monotonic() + 5
        while len(os.listdir(descriptors)) > before + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertLessEqual(len(os.listdir(descriptors)), before + 2)


class OneDeclaredSurfaceTest(unittest.TestCase):
    """The viewer imports from the server exactly the names the server declares
    it shares (SHARED_WITH_VIEWER), in one import line, and uses no others."""

    def test_the_import_line_lists_exactly_the_declared_names(self):
        with open(support.VIEWER) as source:
            tree = ast.parse(source.read())
        imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import,
                                                                         ast.ImportFrom))]
        from_server = [node for node in imports if isinstance(node, ast.ImportFrom)
                       and node.module == "ipupdate_server"]
        self.assertEqual(len(from_server), 1)
        self.assertEqual(sorted(alias.name for alias in from_server[0].names),
                         sorted(ipupdate_server.SHARED_WITH_VIEWER))
        self.assertFalse([node for node in imports if isinstance(node, ast.Import) and any(
            alias.name == "ipupdate_server" for alias in node.names)])
        self.assertEqual(len(set(ipupdate_server.SHARED_WITH_VIEWER)),
                         len(ipupdate_server.SHARED_WITH_VIEWER))
        for name in ipupdate_server.SHARED_WITH_VIEWER:
            self.assertTrue(hasattr(ipupdate_server, name), name)


if __name__ == "__main__":
    unittest.main()
