"""The database file itself: it is never reached through a symbolic link, and
no file of it that group or others may read is left so. Through real CGI
executions of both scripts and the command lines of `check` and the viewer.
(tests/test_deploy_cgi.py does the same through a real Apache and nginx.)"""

import os
import shutil
import sqlite3
import stat
import subprocess
import tempfile
import unittest

from tests import support
from tests.support import HOME_KEY, KEY, now, rows, update_body

IS_ROOT = os.geteuid() == 0
SIDE_FILES = ("-journal", "-wal", "-shm")


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


class Workspace(object):
    """A throwaway config (database = ipupdate.sqlite beside it) and helpers."""

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="ipupdate-test-")
        self.config = support.write_config(self.directory)
        self.database = os.path.join(self.directory, "ipupdate.sqlite")

    def tearDown(self):
        shutil.rmtree(self.directory)

    def update(self, ts):
        """A signed update of 'home' through CGI: (status, text, error log)."""
        status, _, text, errors, code = support.run_cgi(
            support.SERVER, self.config, update_body("127.0.0.1", "home", ts, HOME_KEY))
        self.assertEqual(code, 0, errors)
        self.assertNotIn(KEY, errors + text)
        self.assertNotIn(HOME_KEY, errors + text)
        return status, text, errors

    def view(self):
        """The viewer through CGI, text format: (status, text, error log)."""
        status, _, text, errors, code = support.run_cgi(
            support.VIEWER, self.config, method="GET", content_type=None,
            query="name=home&format=ip")
        self.assertEqual(code, 0, errors)
        return status, text, errors

    def run_command(self, *argv):
        done = subprocess.run([support.PYTHON] + list(argv), env=support.clean_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        return done.returncode, done.stdout.decode(), done.stderr.decode()


class DatabaseThroughALinkIsRefusedTest(Workspace, unittest.TestCase):
    """A symbolic link at the database path, or at one of SQLite's files beside
    it, dangling or not: SQLite would follow it, and create or write the file it
    names. Refused by every reader and writer, with a line naming the path."""

    def refusal_line(self, path):
        return ("ipupdate: configuration error: database file %s is a symbolic link: "
                "refused (set 'database' to the file itself)\n" % path)

    def test_update_through_a_dangling_link_is_500_and_creates_nothing(self):
        planted = os.path.join(self.directory, "planted.sqlite")
        os.symlink(planted, self.database)
        status, text, errors = self.update(now())
        self.assertEqual((status, text, errors),
                         (500, "Error: server not configured", self.refusal_line(self.database)))
        self.assertFalse(os.path.lexists(planted))
        self.assertEqual(os.readlink(self.database), planted)
        self.assertEqual(sorted(os.listdir(self.directory)), ["ipupdate.conf", "ipupdate.sqlite"])

    def test_update_through_a_link_to_a_database_is_500_and_changes_nothing(self):
        ts = now()
        self.assertEqual(self.update(ts)[:2], (200, "OK: New IP updated"))
        elsewhere = os.path.join(self.directory, "elsewhere.sqlite")
        os.rename(self.database, elsewhere)
        os.symlink(elsewhere, self.database)
        self.assertEqual(self.update(ts + 1),
                         (500, "Error: server not configured", self.refusal_line(self.database)))
        self.assertEqual(rows(elsewhere), [("127.0.0.1", "home", ts, ts)])

    def test_a_link_beside_the_database_is_refused_too(self):
        ts = now()
        self.assertEqual(self.update(ts)[:2], (200, "OK: New IP updated"))
        for suffix in SIDE_FILES:
            with self.subTest(suffix):
                planted = os.path.join(self.directory, "planted" + suffix)
                os.symlink(planted, self.database + suffix)
                self.assertEqual(self.update(ts + 1), (
                    500, "Error: server not configured",
                    self.refusal_line(self.database + suffix)))
                self.assertEqual(self.view(), (
                    500, "Error: server not configured",
                    self.refusal_line(self.database + suffix)))
                self.assertFalse(os.path.lexists(planted))
                os.remove(self.database + suffix)
        self.assertEqual(rows(self.database), [("127.0.0.1", "home", ts, ts)])

    def test_viewer_refuses_a_link_dangling_or_not(self):
        elsewhere = os.path.join(self.directory, "elsewhere.sqlite")
        os.symlink(elsewhere, self.database)
        self.assertEqual(self.view(), (500, "Error: server not configured",
                                       self.refusal_line(self.database)))
        self.assertFalse(os.path.lexists(elsewhere))
        # A history someone else can point the link at is not shown either.
        connection = sqlite3.connect(elsewhere)
        connection.execute("CREATE TABLE log_ipv4 (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                           "ip VARCHAR, name VARCHAR, first_seen UNSIGNED INT, timestamp "
                           "UNSIGNED INT)")
        connection.execute("INSERT INTO log_ipv4 (ip, name, first_seen, timestamp) VALUES "
                           "('192.0.2.7', 'home', 1, 2)")
        connection.commit()
        connection.close()
        self.assertEqual(self.view(), (500, "Error: server not configured",
                                       self.refusal_line(self.database)))

    def test_check_and_the_viewers_command_line_refuse_a_link(self):
        os.symlink(os.path.join(self.directory, "planted.sqlite"), self.database)
        reason = self.refusal_line(self.database)[len("ipupdate: configuration error: "):]
        self.assertEqual(self.run_command(support.SERVER, "check", "--config", self.config),
                         (3, "UNKNOWN: " + reason, ""))
        self.assertEqual(self.run_command(support.VIEWER, "--config", self.config),
                         (2, "", "getip_cgi.py: " + reason))
        self.assertEqual(sorted(os.listdir(self.directory)), ["ipupdate.conf", "ipupdate.sqlite"])


class LooseModesAreTightenedTest(Workspace, unittest.TestCase):
    """A database file of ours that group or others may open (the original PHP
    version's was 0644) is made its owner's alone, with one line in the error
    log for each file, by the next update; SQLite's files beside it too."""

    def tightened_line(self, path, old):
        return ("ipupdate: database file %s was open to group or others (mode %04o): "
                "made %04o\n" % (path, old, old & 0o700))

    def make_database(self, file_mode):
        ts = now() - 10
        self.assertEqual(self.update(ts)[:2], (200, "OK: New IP updated"))
        os.chmod(self.database, file_mode)
        return ts

    def test_an_update_tightens_the_database_and_its_wal_files(self):
        ts = self.make_database(0o644)
        # Left in WAL mode, with a connection open: SQLite gives -wal and -shm
        # the database's mode.
        holder = sqlite3.connect(self.database, isolation_level=None)
        self.addCleanup(holder.close)
        self.assertEqual(holder.execute("PRAGMA journal_mode = WAL").fetchone(), ("wal",))
        holder.execute("SELECT COUNT(*) FROM log_ipv4").fetchall()
        self.assertEqual((mode(self.database + "-wal"), mode(self.database + "-shm")),
                         (0o644, 0o644))
        os.chmod(self.database + "-shm", 0o640)
        status, text, errors = self.update(ts + 1)
        self.assertEqual((status, text), (200, "OK: Timestamp updated"))
        self.assertEqual(errors, self.tightened_line(self.database, 0o644)
                         + self.tightened_line(self.database + "-wal", 0o644)
                         + self.tightened_line(self.database + "-shm", 0o640))
        self.assertEqual([mode(self.database + suffix) for suffix in ("", "-wal", "-shm")],
                         [0o600, 0o600, 0o600])
        self.assertEqual(self.update(ts + 2), (200, "OK: Timestamp updated", ""))

    def test_an_update_tightens_the_hot_journal_a_killed_writer_left(self):
        ts = self.make_database(0o604)
        support.kill_writer_mid_transaction(self.database)
        self.assertEqual(mode(self.database + "-journal"), 0o604)
        status, text, errors = self.update(ts + 1)
        self.assertEqual((status, text), (200, "OK: Timestamp updated"))
        self.assertEqual(errors, self.tightened_line(self.database, 0o604)
                         + self.tightened_line(self.database + "-journal", 0o604))
        self.assertEqual(mode(self.database), 0o600)
        self.assertEqual(rows(self.database), [("127.0.0.1", "home", ts, ts + 1)])

    def test_owner_bits_are_kept(self):
        ts = self.make_database(0o755)
        self.assertEqual(self.update(ts + 1), (200, "OK: Timestamp updated",
                                               self.tightened_line(self.database, 0o755)))
        self.assertEqual(mode(self.database), 0o700)

    def test_readers_change_no_mode(self):
        """The viewer and `check` only read: the next update tightens."""
        self.make_database(0o644)
        self.assertEqual(self.view(), (200, "127.0.0.1\n", ""))
        code, output, errors = self.run_command(support.SERVER, "check", "--config",
                                                self.config)
        self.assertEqual((code, output, errors), (0, "", ""))
        self.assertEqual(mode(self.database), 0o644)

    @unittest.skipUnless(IS_ROOT, "needs root, to give the database to another user")
    def test_a_database_of_another_user_is_left_alone(self):
        ts = self.make_database(0o644)
        os.chown(self.database, 65534, 65534)
        self.assertEqual(self.update(ts + 1), (200, "OK: Timestamp updated", ""))
        self.assertEqual(mode(self.database), 0o644)


if __name__ == "__main__":
    unittest.main()


class AMissingDatabaseDirectoryIsAConfigErrorTest(Workspace, unittest.TestCase):
    """A misspelt or never-created directory is the owner's to fix, not a
    moment's trouble: 500 and the reason in the log, UNKNOWN from `check`,
    never 503 "try again later", never "no updates recorded yet"."""

    def setUp(self):
        Workspace.setUp(self)
        self.config = support.write_config(self.directory, body=(
            "[ipupdate]\nsecret = %s\ndatabase = dta/ipupdate.sqlite\n\n[names]\nhome = %s\n"
            % (KEY, HOME_KEY)))
        self.reason = ("the database's directory %s does not exist: create it, writable by "
                       "the user the scripts run as, or correct 'database' in the config"
                       % os.path.join(self.directory, "dta"))

    def test_update_viewer_and_check_name_the_directory(self):
        status, text, errors = self.update(now())
        self.assertEqual((status, text, errors), (500, "Error: server not configured",
                                                  "ipupdate: configuration error: %s\n"
                                                  % self.reason))
        status, text, errors = self.view()
        self.assertEqual((status, text, errors), (500, "Error: server not configured",
                                                  "ipupdate: configuration error: %s\n"
                                                  % self.reason))
        self.assertEqual(self.run_command(support.SERVER, "check", "--config", self.config),
                         (3, "UNKNOWN: %s\n" % self.reason, ""))
        self.assertFalse(os.path.exists(os.path.join(self.directory, "dta")))


class APercentInTheDatabasePathTest(Workspace, unittest.TestCase):
    """The read-only connection names the file by URI: a '%' in its path is
    the path's, not an escape (a directory named 'a%20b' is not 'a b')."""

    def test_the_viewer_and_check_read_it(self):
        directory = os.path.join(self.directory, "a%20b")
        os.mkdir(directory)
        self.config = support.write_config(self.directory, body=(
            "[ipupdate]\nsecret = %s\ndatabase = a%%20b/ipupdate.sqlite\n\n[names]\nhome = %s\n"
            % (KEY, HOME_KEY)))
        self.assertEqual(self.update(now())[:2], (200, "OK: New IP updated"))
        self.assertTrue(os.path.exists(os.path.join(directory, "ipupdate.sqlite")))
        self.assertEqual(self.view()[:2], (200, "127.0.0.1\n"))
        code, out, _ = self.run_command(support.SERVER, "check", "--config", self.config)
        self.assertEqual((code, out), (0, ""))
