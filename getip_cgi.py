#!/usr/bin/env python3
"""getip_cgi.py - show the addresses ipupdate_server.py recorded, and their history.

One file, standard library only, Python 3.6 to 3.13; about 800 lines, read it.
It is the GET side of ipupdate (the original's getip.php) and only ever reads
the database. It runs:

  as a CGI program, beside ipupdate_server.py in the cgi-bin (same config file);
  under `ipupdate_server.py serve`, which hands it GET and HEAD requests;
  from a shell on the server:   python3 getip_cgi.py --name home --history 5

Per name it shows the newest IPv4 and IPv6 address and when the name last
reported it, in the configured time zone, and marks the name STALE when it has
been silent for longer than `stale_after`; json and html also count the update
attempts for it that the server refused in the last 24 hours. Formats: text
(one line per name and family, for shell scripts), ip (the bare address), json,
html (what a browser gets). With `view_key` in the config, every request must
carry that key.
docs/VIEWER.md has the parameters, the JSON shape and the measurements.
"""

import os
import sys
import time

# The server module beside this file holds the configuration, the database
# access and the HTTP helpers; nothing else of ours is imported.
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.append(HERE)  # appended, not prepended: never shadow the standard library
from ipupdate_server import (  # noqa: E402
    DIGITS, FAMILY_TABLES, STATUS_LINES, ConfigError, DatabaseUnavailable, Refused,
    basic_auth_password, find_config_path, load_config, log, open_database,
    passwords_match, percent_decode, printable, run_cgi)

# Like the server, this file imports nothing else at module level: a CGI
# request pays for every import, so each format imports only what it uses.

FORMATS = ("text", "json", "ip", "html")
PARAMETERS = ("name", "family", "history", "format", "key")
MAX_HISTORY = 1000          # periods per name and family in one response
HTML_HISTORY = 10           # the page's default; the other formats default to 0
UNNAMED = "(unnamed)"       # the original's clients may send an empty name
TEXT_TYPE = "text/plain; charset=utf-8"
UTC_NAMES = ("UTC", "Etc/UTC", "GMT", "Etc/GMT")
TZ_DIRS = ("/usr/share/zoneinfo", "/usr/lib/zoneinfo", "/usr/share/lib/zoneinfo",
           "/etc/zoneinfo")  # where zoneinfo looks too (its default TZPATH)


# ---------------------------------------------------------------------------
# The request: query parameters, checked. Pure functions; each raises Refused.
# ---------------------------------------------------------------------------

class Request(object):
    """What the caller asked for: name (None: all), family (None: both),
    history (periods per name and family, 0: none), format."""

    def __init__(self, name, family, history, output_format):
        self.name, self.family, self.history = name, family, history
        self.format = output_format
        self.families = (family,) if family else (4, 6)


def parse_query(query):
    """QUERY_STRING -> {parameter: value}. Strict: unknown, repeated or
    malformed parameters are refused, never ignored or guessed at."""
    try:
        raw = query.encode("ascii")
    except UnicodeEncodeError:
        raise Refused(400, "the query string must be percent-encoded ASCII")
    params = {}
    for piece in raw.split(b"&"):
        if not piece:
            continue  # "?a=1&" and "?a=1&&b=2" are common and harmless
        field, separator, value = piece.partition(b"=")
        field = percent_decode(field)
        if not separator:
            raise Refused(400, "malformed query parameter '%s' (no '=')" % printable(field))
        if field not in PARAMETERS:
            raise Refused(400, "unknown parameter '%s' (known: %s)"
                          % (printable(field), ", ".join(PARAMETERS)))
        if field in params:
            raise Refused(400, "parameter '%s' given more than once" % field)
        params[field] = percent_decode(value)
    return params


def check_request(params, accept=""):
    """The checked Request for parse_query()'s result (or the command line's)."""
    family = params.get("family")
    if family is not None:
        if family not in ("4", "6"):
            raise Refused(400, "parameter 'family' must be 4 or 6")
        family = int(family)
    history = params.get("history")
    if history is not None:
        if not history or len(history) > 4 or not set(history) <= DIGITS \
                or int(history) > MAX_HISTORY:
            raise Refused(400, "parameter 'history' must be a whole number from 0 to %d"
                          % MAX_HISTORY)
        history = int(history)
    output_format = params.get("format")
    if output_format is None:
        output_format = "html" if prefers_html(accept) else "text"
    elif output_format not in FORMATS:
        raise Refused(400, "parameter 'format' must be text, json, ip or html")
    if output_format == "ip" and history is not None:
        raise Refused(400, "parameter 'history' does not go with format=ip")
    if history is None:
        history = HTML_HISTORY if output_format == "html" else 0
    return Request(params.get("name"), family, history, output_format)


def prefers_html(accept):
    """True when an Accept header ranks text/html above text/plain (a browser's
    does; curl's "*/*" does not). The most specific matching range counts."""
    def quality(media_type):
        best_q, best_rank = 0.0, -1
        for item in accept.lower().split(","):
            media_range, _, parameters = item.partition(";")
            media_range = media_range.strip()
            rank = {media_type: 2, "text/*": 1, "*/*": 0}.get(media_range, -1)
            if rank > best_rank:
                q = 1.0
                for parameter in parameters.split(";"):
                    key, _, value = parameter.partition("=")
                    if key.strip() == "q":
                        try:
                            q = float(value)
                        except ValueError:
                            q = 0.0
                best_q, best_rank = q, rank
        return best_q
    return bool(accept) and quality("text/html") > quality("text/plain")


def check_view_key(view_key, offered_key, authorization):
    """Refuse unless the request carries the configured view key, as ?key= or
    as the password of HTTP basic auth (decoded by the server's dyndns2 code:
    any user name). No view key configured: public."""
    if not view_key:
        return
    if offered_key is None:
        offered_key = basic_auth_password(authorization)
    if offered_key is None:
        raise Refused(401, "this viewer needs the view key: pass it as ?key=KEY or as "
                           "the password of HTTP basic auth")
    # passwords_match: hmac.compare_digest, because a plain == would leak, through
    # its timing, how much of a guessed key is right.
    if not passwords_match(offered_key, view_key):
        raise Refused(401, "wrong view key")


# ---------------------------------------------------------------------------
# Storage: read-only queries, each an index seek: on (name, id) in the history
# tables, on (name, time) in the server's log of refused updates.
# ---------------------------------------------------------------------------

SCHEMA_SQL = ("SELECT name FROM sqlite_master "
              "WHERE tbl_name IN ('log_ipv4', 'log_ipv6', 'refused')")
# The distinct names by skip-scan: one seek in the (name, id) index per name.
# SELECT DISTINCT name would read the whole index, an entry per row: 40 ms, not
# 0.04 ms, on a history of 1,000,000 rows (docs/VIEWER.md).
# Names compare as the server compares them, case-insensitively (an old
# database may hold one name in several spellings): shown in lower case.
FIRST_NAME_SQL = "SELECT lower(MIN(name COLLATE NOCASE)) FROM {table}"
NEXT_NAME_SQL = ("SELECT lower(MIN(name COLLATE NOCASE)) FROM {table} "
                 "WHERE name > ? COLLATE NOCASE")
# Without that index (the original's tables, until the server's first update
# creates it) the skip-scan would read the table once per name: read it once.
ALL_NAMES_SQL = "SELECT DISTINCT lower(name) FROM {table} WHERE name IS NOT NULL"
# The newest periods of one name: the tail of its run in the (name, id) index.
PERIODS_SQL = ("SELECT ip, first_seen, timestamp FROM {table} WHERE name = ? COLLATE NOCASE "
               "ORDER BY id DESC LIMIT ?")
# The same with the column `source`, which the server adds to a table the
# first time a dyndns2 client (a router) reports: 'dyndns2' in the rows those
# began, NULL in the others (the ipupdate protocol, or the original).
PERIODS_SOURCE_SQL = ("SELECT ip, first_seen, timestamp, source FROM {table} "
                      "WHERE name = ? COLLATE NOCASE "
                      "ORDER BY id DESC LIMIT ?")
SOURCE_MARK = "dyndns2"     # how text and html mark a period a dyndns2 client began
# The refused update attempts that named one name since a time, from the
# server's table `refused` (created with its first refusal): a seek in its
# (name, time) index, then a count of that name's rows, of which the log holds
# at most refused_log_rows. Asked only for the names shown.
REFUSED_SQL = "SELECT COUNT(*) FROM refused WHERE name = ? AND time >= ?"
REFUSED_PERIOD_S = 24 * 3600  # json and html count the refusals of the last 24 hours
RECHECK_S = 1.0  # a long-lived process asks SQLite whether the database changed at most this often


class Record(object):
    """One name: its periods per family (4, 6) as (ip, first_seen, last_seen,
    source), newest first; source is "dyndns2" or "ipupdate". `refused`: the
    refused update attempts logged for it in the period asked (0 if not asked)."""

    def __init__(self, name):
        self.name = name
        self.periods = {}
        self.refused = 0

    def last_heard(self):
        """When the name last reported, in any family."""
        return max(periods[0][2] for periods in self.periods.values())

    def is_stale(self, now, stale_after_s):
        return now - self.last_heard() > stale_after_s


def read_records(connection, name=None, depth=1, refused_since=None, kept=None):
    """The Records of every name (or of `name` only), sorted by name, with up
    to `depth` periods per family (at least the newest), and with
    `refused_since` (a Unix time) the refusals logged for each since then.
    `kept`: the KeptConnection of `connection`, to reuse its last records.
    Raises sqlite3.Error.

    All in one read transaction: one snapshot of the database, and one lock
    taken and released, not one per statement (each costs more than a query).
    The transaction always ends here: a connection kept between requests must
    hold no lock, or the writers would wait for it.
    """
    # Reused: records depend on the database and the query only (the clock only
    # through refused_since, part of the query), and SQLite changes data_version
    # with every commit of any other connection. The version kept with them is
    # read in their own transaction. (SQLite before 3.8.8 has none: no reuse.)
    if kept is not None and kept.last is not None:
        if kept.last[0] == (data_version(connection), name, depth, refused_since):
            return kept.last[1]
    connection.execute("BEGIN")
    try:
        version = None if kept is None else (data_version(connection), name, depth,
                                             refused_since)
        schema = set(row[0] for row in connection.execute(SCHEMA_SQL).fetchall())
        records = {}
        for family, table in sorted(FAMILY_TABLES.items()):
            if table not in schema:
                continue  # the server creates a family's table on its first update
            names = [name.lower()] if name is not None else list_names(
                connection, table, table + "_folded_name_id" in schema)
            periods_sql = PERIODS_SOURCE_SQL if "source" in [
                row[1] for row in connection.execute(
                    "PRAGMA table_info(%s)" % table).fetchall()
            ] else PERIODS_SQL
            for each in names:
                rows = connection.execute(periods_sql.format(table=table),
                                          (each, max(depth, 1))).fetchall()
                if rows:
                    record = records.setdefault(each, Record(each))
                    record.periods[family] = [period(row) for row in rows]
        if refused_since is not None and "refused" in schema:
            for record in records.values():
                ((record.refused,),) = connection.execute(
                    REFUSED_SQL, (record.name, refused_since)).fetchall()
        records = [records[each] for each in sorted(records)]
        if version is not None and version[0] is not None:
            kept.last = (version, records)  # never changed after: answer() only reads them
        return records
    finally:
        if connection.in_transaction:
            connection.execute("ROLLBACK")  # it only read: ending it is all this does


def data_version(connection):
    rows = connection.execute("PRAGMA data_version").fetchall()
    return rows[0][0] if rows else None


def list_names(connection, table, indexed=True):
    if not indexed:
        return [row[0] for row in connection.execute(
            ALL_NAMES_SQL.format(table=table)).fetchall()]
    names = []
    ((name,),) = connection.execute(FIRST_NAME_SQL.format(table=table)).fetchall()
    while name is not None:
        names.append(name)
        ((name,),) = connection.execute(NEXT_NAME_SQL.format(table=table),
                                        (name,)).fetchall()
    return names


def period(row):
    """(ip, first_seen, last_seen, source) from a row; tolerant of odd values in old databases."""
    ip, first_seen, last_seen = row[:3]
    last_seen = as_int(last_seen, 0)
    source = "dyndns2" if row[3:] == ("dyndns2",) else "ipupdate"
    return ("" if ip is None else str(ip), as_int(first_seen, last_seen), last_seen, source)


def as_int(value, default):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


class KeptConnections(object):
    """Read-only connections to one database that outlive a request, one per
    thread (a sqlite3 connection stays in the thread that opened it), for a
    long-lived process. A new connection costs more than the rest of a request
    together: it reads the schema and prepares every statement afresh, where a
    kept one has them cached, and its last records (read_records()). A
    thread's connection ends with its thread (under `serve`, with its client's
    connection).

    The last records are even reused without a word to SQLite for RECHECK_S
    after it last said they were current, unless this process wrote to the
    database meanwhile (database_changed()): under concurrent load every call
    into SQLite is a trip through the GIL, and `serve` answered half as many
    GETs (docs/PERFORMANCE.md). So `serve` shows its own updates at once, and
    those of other processes (a CGI on the same database) within RECHECK_S."""

    def __init__(self, path):
        import threading  # lazy: only a long-lived process keeps connections
        self.path = path
        self.local = threading.local()
        self.generation = 0  # moves with each database_changed()

    def database_changed(self):
        """This process wrote to the database: no records kept so far are current."""
        self.generation += 1

    def current_records(self, query):
        """This thread's last records for `query` (name, depth, refused_since)
        if they are known to be current, else None."""
        kept = getattr(self.local, "kept", None)
        if kept is None or kept.last is None or kept.checked is None:
            return None
        generation, checked_at = kept.checked
        if kept.last[0][1:] == query and generation == self.generation \
                and time.monotonic() - checked_at < RECHECK_S:
            return kept.last[1]
        return None

    def get(self):
        """This thread's KeptConnection, or None when there is no database file;
        and whether an earlier request used it."""
        try:
            stat = os.stat(self.path)
            identity = (stat.st_dev, stat.st_ino)
        except OSError:
            identity = None
        kept = getattr(self.local, "kept", None)
        if kept is not None:
            if kept.identity == identity:
                return kept, True
            self.drop()  # the file was replaced or removed: this one reads the old file
        connection = open_database(self.path, readonly=True)
        if connection is None:
            return None, False
        self.local.kept = kept = KeptConnection(identity, connection)
        return kept, False

    def drop(self):
        kept, self.local.kept = getattr(self.local, "kept", None), None
        if kept is not None:
            kept.connection.close()


class KeptConnection(object):
    """One thread's connection, the file it opened (device, inode), the last
    records read through it with what dates them (read_records()), and when
    SQLite last said they were current: (generation, monotonic time)."""

    def __init__(self, identity, connection):
        self.identity, self.connection, self.last, self.checked = identity, connection, None, None

    def __del__(self):
        # Closed here, as its thread ends and threading.local lets go of this:
        # since Python 3.11 a sqlite3 connection is in a reference cycle (with
        # its statement cache), and would keep its file descriptor until the
        # cyclic garbage collector runs, one more for every client that came.
        try:
            self.connection.close()
        except Exception:
            pass  # from another thread (the application itself went): the collector's job


def read_database(path, name, depth, refused_since, kept=None, again=True):
    """read_records() on the database at `path`, through this thread's
    connection of `kept` (a KeptConnections) if given, else on a connection of
    its own. [] without a database.

    A read that fails is made once more, on a new connection: a read-only one
    can fail where a new one would not. It cannot roll back the hot journal of
    a killed writer (open_database() opens a read-write one while a journal
    exists). And SQLite may take the journal of a writer that rolled back a
    moment before (say, one that gave up waiting for the lock) for a hot one, which
    a read-only connection cannot roll back either: "attempt to write a
    readonly database" (a false positive its pager accepts on purpose).
    """
    import sqlite3  # lazy (already loaded by open_database): for sqlite3.Error
    records = None if kept is None else kept.current_records((name, depth, refused_since))
    if records is not None:
        return records
    if kept is None:
        connection, checked = open_database(path, readonly=True), None
        held = None
    else:
        # Taken before SQLite is asked: a write after this is seen by the next request.
        checked = (kept.generation, time.monotonic())
        held, _ = kept.get()
        connection = held and held.connection
    if connection is None:
        return []
    try:
        records = read_records(connection, name, depth, refused_since, held)
        if held is not None:
            held.checked = checked
        return records
    except sqlite3.Error as error:
        if kept is not None:
            kept.drop()
        if again:
            return read_database(path, name, depth, refused_since, kept, again=False)
        raise DatabaseUnavailable("database %s: %s" % (path, error))
    finally:
        if kept is None:
            connection.close()


# ---------------------------------------------------------------------------
# Presentation helpers: time zone, times, durations, names.
# ---------------------------------------------------------------------------

def time_zone(name, process_private):
    """A function: Unix time -> (year, month, day, hour, minute, second, UTC offset s).

    A process that serves one request (CGI, the command line) sets TZ for
    itself: free, where importing zoneinfo costs 2 ms. A long-running,
    threaded one (`serve`, a WSGI host) leaves its environment alone and uses
    zoneinfo, if it has it (3.9+). Both read the system's time zone files.
    """
    if name in UTC_NAMES:
        return lambda ts: tuple(time.gmtime(ts)[:6]) + (0,)
    if not process_private:
        try:
            import zoneinfo  # lazy: only long-running processes, once (it caches zones)
            import datetime
        except ImportError:
            zoneinfo = None  # Python 3.6-3.8: fall back to TZ below
        if zoneinfo is not None:
            try:
                zone = zoneinfo.ZoneInfo(name)
            except (KeyError, ValueError, OSError, UnicodeError):
                raise unknown_zone(name)

            def convert(ts):
                moment = datetime.datetime.fromtimestamp(ts, zone)
                return moment.timetuple()[:6] + (int(moment.utcoffset().total_seconds()),)
            return convert
    if name.startswith("/") or ".." in name.split("/"):
        raise unknown_zone(name)
    path = next((os.path.join(directory, name) for directory in TZ_DIRS
                 if os.path.isfile(os.path.join(directory, name))), None)
    if path is None:
        raise unknown_zone(name)
    if os.environ.get("TZ") != ":" + path:
        os.environ["TZ"] = ":" + path  # ":" + file: no guessing by the C library
        time.tzset()

    def convert(ts):
        moment = time.localtime(ts)
        return tuple(moment[:6]) + (moment.tm_gmtoff,)
    return convert


def unknown_zone(name):
    return ConfigError("timezone '%s' is not a time zone this system knows (a name like "
                       "Europe/Berlin, from the tz database)" % printable(name))


def format_time(zone, ts):
    """RFC 3339 in the zone: 2023-11-15T07:13:20+09:00 (one word for the shell)."""
    year, month, day, hour, minute, second, offset = zone(ts)
    sign = "-" if offset < 0 else "+"
    offset = abs(offset) // 60
    return "%04d-%02d-%02dT%02d:%02d:%02d%s%02d:%02d" % (
        year, month, day, hour, minute, second, sign, offset // 60, offset % 60)


def duration(seconds):
    """Compact and one word: 42s, 5m07s, 2h34m, 3d04h."""
    seconds = max(0, seconds)
    if seconds < 60:
        return "%ds" % seconds
    if seconds < 3600:
        return "%dm%02ds" % divmod(seconds, 60)
    if seconds < 86400:
        return "%dh%02dm" % (seconds // 3600, seconds % 3600 // 60)
    return "%dd%02dh" % (seconds // 86400, seconds % 86400 // 3600)


def span_words(seconds):
    """For people: 'less than a minute', '1 minute', '119 minutes', '47 hours', '3 days'."""
    minutes = max(0, seconds) // 60
    if minutes < 1:
        return "less than a minute"
    if minutes < 120:
        count, unit = minutes, "minute"
    elif minutes < 48 * 60:
        count, unit = minutes // 60, "hour"
    else:
        count, unit = minutes // (24 * 60), "day"
    return "%d %s%s" % (count, unit, "" if count == 1 else "s")


def word(text):
    """A stored value as one printable word: no space or control character can
    split a line or forge another one. The empty name reads as (unnamed)."""
    if text == "":
        return UNNAMED
    if text.isprintable() and " " not in text:
        return text  # the usual case, at C speed: " " is the one space isprintable() passes
    return "".join(c if c.isprintable() and not c.isspace() else "?" for c in text)


def escape(text):
    """HTML-escape for element content and quoted attributes (html.escape's
    replacements, without its import)."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#x27;"))


# ---------------------------------------------------------------------------
# The answer: request, records, config, clock and zone in; status and body out.
# ---------------------------------------------------------------------------

def answer(request, records, config, now, zone):
    """(status, content type, body, extra headers) for a checked Request; raises Refused."""
    families = request.families
    shown = [record for record in records if any(f in record.periods for f in families)]
    if request.name is not None and not shown:
        if records:
            raise Refused(404, "no IPv%d address recorded for name '%s'"
                          % (request.family, printable(request.name)))
        raise Refused(404, "no updates recorded for name '%s'" % printable(request.name))
    nothing = "no %supdates recorded yet" % ("IPv%d " % request.family if request.family else "")
    if request.format == "ip":
        return answer_ip(shown, families, config, now)
    if request.format == "json":
        return 200, "application/json", render_json(shown, request, config, now), []
    if request.format == "html":
        return 200, "text/html; charset=utf-8", render_html(
            shown, request, config, now, zone, nothing), [HTML_POLICY]
    return 200, TEXT_TYPE, render_text(shown, request, config, now, zone) or nothing + "\n", []


def answer_ip(shown, families, config, now):
    found = [(record, family) for record in shown for family in families
             if family in record.periods]
    if not found:
        raise Refused(404, "no address recorded yet")
    if len(found) > 1:
        raise Refused(400, "%d addresses match: choose one with the name and family "
                           "parameters" % len(found))
    record, family = found[0]
    stale = record.is_stale(now, config.stale_after_s)
    return 200, TEXT_TYPE, word(record.periods[family][0][0]) + "\n", (
        [("X-Ipupdate-Stale", "yes")] if stale else [])


def render_text(records, request, config, now, zone):
    """history 0: NAME FAMILY ADDRESS LAST_SEEN [STALE] [dyndns2], one line per name
    and family. history K: NAME FAMILY ADDRESS FIRST_SEEN LAST_SEEN HELD [STALE]
    [dyndns2], K lines per name and family, newest first; STALE goes on the
    newest, dyndns2 (last: the fields before keep their places) on each period
    a dyndns2 client began."""
    lines = []
    for record in records:
        stale = " STALE" if record.is_stale(now, config.stale_after_s) else ""
        for family in request.families:
            periods = record.periods.get(family)
            if not periods:
                continue
            if not request.history:
                ip, first_seen, last_seen, source = periods[0]
                lines.append("%s ipv%d %s %s%s%s" % (word(record.name), family, word(ip),
                                                     format_time(zone, last_seen), stale,
                                                     text_mark(source)))
            for index, (ip, first_seen, last_seen, source) in enumerate(
                    periods[:request.history]):
                lines.append("%s ipv%d %s %s %s %s%s%s" % (
                    word(record.name), family, word(ip), format_time(zone, first_seen),
                    format_time(zone, last_seen), duration(last_seen - first_seen),
                    stale if index == 0 else "", text_mark(source)))
    return "".join(line + "\n" for line in lines)


def text_mark(source):
    return " " + SOURCE_MARK if source == "dyndns2" else ""


def render_json(records, request, config, now):
    """The shape documented in docs/VIEWER.md; keys are never removed."""
    import json  # lazy: only format=json needs it

    def period_object(period):
        ip, first_seen, last_seen, source = period
        return {"ip": ip, "first_seen": first_seen, "last_seen": last_seen,
                "held": max(0, last_seen - first_seen), "source": source}

    names = []
    for record in records:
        entry = {"name": record.name, "last_heard": record.last_heard(),
                 "stale": record.is_stale(now, config.stale_after_s), "history": {},
                 "refused_24h": record.refused}
        for family in (4, 6):
            periods = record.periods.get(family) if family in request.families else None
            key = "ipv%d" % family
            entry[key] = period_object(periods[0]) if periods else None
            entry["history"][key] = [period_object(p) for p in (periods or [])[:request.history]]
        names.append(entry)
    document = {"generated": now, "timezone": config.timezone,
                "stale_after": config.stale_after_s, "names": names}
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


# No script may run on the page, whatever a stored value holds (defence in
# depth: every value is escaped as well). The inline style is all it needs.
HTML_POLICY = ("Content-Security-Policy",
               "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
HTML_HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>ipupdate: current addresses</title>
<style>
body{font:16px/1.45 system-ui,sans-serif;max-width:52rem;margin:1.5rem auto;padding:0 1rem;
color:#222;background:#fff}
h1{font-size:1.4rem}h2{font-size:1.15rem;margin:0 0 .4rem}
section{border:1px solid #ccc;border-radius:6px;padding:.8rem 1rem;margin:1rem 0}
section.stale{border-color:#c00;background:#fff4f4}
.warning{color:#a00;font-weight:bold}.refused{color:#8a4b00}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{text-align:left;padding:.2rem .6rem .2rem 0;border-bottom:1px solid #eee;
vertical-align:top}
caption{text-align:left;font-weight:bold;padding:.3rem 0}
code{font-size:1.05em;word-break:break-all}
footer{color:#666;font-size:.9em}
@media (prefers-color-scheme:dark){body{color:#ddd;background:#181818}
section{border-color:#444}section.stale{background:#2c1616;border-color:#e55}
.warning{color:#f88}.refused{color:#fb5}th,td{border-color:#333}footer{color:#999}}
</style>
</head>
<body>
<h1>Current addresses</h1>
"""


def render_html(records, request, config, now, zone, nothing):
    """A small page for people; every stored value goes through escape()."""
    def when(ts):
        return escape(format_time(zone, ts))

    parts = [HTML_HEAD]
    if not records:
        parts.append("<p>%s.</p>\n" % escape(nothing[0].upper() + nothing[1:]))
    for record in records:
        stale = record.is_stale(now, config.stale_after_s)
        heard = record.last_heard()
        parts.append('<section class="%s">\n<h2>%s</h2>\n' % (
            "name stale" if stale else "name", escape(word(record.name))))
        if stale:
            parts.append('<p class="warning">&#9888; Stale: nothing heard for %s (more than '
                         '%s). Its client may have stopped reporting.</p>\n'
                         % (span_words(now - heard), span_words(config.stale_after_s)))
        parts.append("<p>Last heard %s ago, at %s.</p>\n" % (span_words(now - heard),
                                                              when(heard)))
        if record.refused:
            parts.append('<p class="refused">%s in the last 24 hours (the server\'s error '
                         'log says why).</p>\n' % escape(refused_words(record.refused)))
        parts.append("<table>\n")
        for family in request.families:
            if family in record.periods:
                ip, first_seen, last_seen, source = record.periods[family][0]
                parts.append("<tr><th>IPv%d</th><td><code>%s</code>%s</td><td>since %s</td>"
                             "<td>last seen %s</td></tr>\n" % (
                                 family, escape(ip), html_mark(source), when(first_seen),
                                 when(last_seen)))
        parts.append("</table>\n")
        if request.history:
            parts.append("<table>\n<caption>History, newest first</caption>\n<tr><th>Family"
                         "</th><th>Address</th><th>First seen</th><th>Last seen</th><th>Held"
                         "</th></tr>\n")
            for family in request.families:
                for ip, first_seen, last_seen, source in record.periods.get(family, [])[
                        :request.history]:
                    parts.append("<tr><td>IPv%d</td><td><code>%s</code>%s</td><td>%s</td>"
                                 "<td>%s</td><td>%s</td></tr>\n" % (
                                     family, escape(ip), html_mark(source), when(first_seen),
                                     when(last_seen), duration(last_seen - first_seen)))
            parts.append("</table>\n")
        parts.append("</section>\n")
    parts.append("<footer>Times in %s. A name is stale after %s without an update. Generated "
                 "%s.</footer>\n</body>\n</html>\n" % (
                     escape(config.timezone), span_words(config.stale_after_s),
                     when(now)))
    return "".join(parts)


def refused_words(count):
    return "%d refused update attempt%s" % (count, "" if count == 1 else "s")


def html_mark(source):
    return " <small>(via %s)</small>" % SOURCE_MARK if source == "dyndns2" else ""


# ---------------------------------------------------------------------------
# WSGI application: the same code runs as CGI, under `serve`, under any WSGI server.
# ---------------------------------------------------------------------------

def respond(start_response, status, content_type, body, headers=(), head_only=False):
    """Like the server's send(): every response is no-store (a home address is
    not for caches), only the content type varies."""
    data = body.encode("utf-8")
    start_response(STATUS_LINES[status], [
        ("Content-Type", content_type),
        ("Content-Length", str(len(data))),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
    ] + list(headers))
    return [] if head_only else [data]


def make_application(config=None, clock=time.time):
    """A WSGI application. Without `config` it reads the config file for each
    request (so a CGI or WSGI host picks up edits) and opens the database for
    each. With `config` the process is taken to be long-lived (`serve`, a WSGI
    host): the time zone is looked up once, and each thread keeps its read-only
    database connection between requests, and its last records for as long as
    the database does not change (KeptConnections, read_records())."""
    kept = KeptConnections(config.database) if config is not None else None
    zones = {}  # with `config`: wsgi.run_once -> the time_zone() made for the first request

    def application(environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        headers = []
        try:
            if method not in ("GET", "HEAD"):
                raise Refused(405, "only GET and HEAD are accepted here")
            active = config or load_config(find_config_path(environ))
            params = parse_query(environ.get("QUERY_STRING", ""))
            check_view_key(active.view_key, params.get("key"),
                           environ.get("HTTP_AUTHORIZATION", ""))
            request = check_request(params, environ.get("HTTP_ACCEPT", ""))
            run_once = bool(environ.get("wsgi.run_once"))
            zone = zones.get(run_once)
            if zone is None:
                zone = time_zone(active.timezone, run_once)
                if config is not None:
                    zones[run_once] = zone
            now = int(clock())
            records = read_database(active.database, request.name, request.history,
                                    refusals_counted_from(request, now), kept)
            status, content_type, body, headers = answer(request, records, active, now, zone)
            if "format" not in params:
                headers = headers + [("Vary", "Accept")]
        except Refused as refusal:
            status, content_type, body = refusal.status, TEXT_TYPE, "Error: " + refusal.reason
            if status == 405:
                headers = [("Allow", "GET, HEAD")]
            elif status == 401:
                headers = [("WWW-Authenticate", 'Basic realm="ipupdate"')]
        except ConfigError as error:
            log(environ, "configuration error: %s" % error)
            status, content_type, body = 500, TEXT_TYPE, "Error: server not configured"
        except DatabaseUnavailable as error:
            log(environ, "database error: %s" % error)
            status, content_type, body = (
                503, TEXT_TYPE, "Error: database unavailable, try again later")
        return respond(start_response, status, content_type, body, headers, method == "HEAD")

    # A long-lived process that writes to the database calls this after each write.
    application.database_changed = kept.database_changed if kept else lambda: None
    return application


def refusals_counted_from(request, now):
    """From when refusals are counted, for the formats that show them (json,
    html); None for the others, which then cost no query for them."""
    return now - REFUSED_PERIOD_S if request.format in ("json", "html") else None


# ---------------------------------------------------------------------------
# Command line (and the CGI entry point).
# ---------------------------------------------------------------------------

EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE, EXIT_DATABASE = 0, 1, 2, 3
USAGE_EXAMPLES = """\
Examples:
  getip_cgi.py                                     each name, a line per family
  getip_cgi.py --name home --family 4 --format ip  just the address
  getip_cgi.py --name home --history 5             its 5 newest periods

Text lines: NAME FAMILY ADDRESS LAST_SEEN [STALE] [dyndns2]; with --history:
NAME FAMILY ADDRESS FIRST_SEEN LAST_SEEN HELD [STALE] [dyndns2]. The empty
name shows as (unnamed) (pass --name '' to select it). dyndns2 marks a
period that a dyndns2 client (a router) began.

As a CGI program: put it beside ipupdate_server.py in the cgi-bin; it reads
the same config. Query parameters: name, family, history, format, key.

Exit codes: 0 shown, 1 nothing recorded for that name or family,
2 usage or configuration error, 3 database unavailable.
"""


def main(argv):
    if "GATEWAY_INTERFACE" in os.environ:
        # Under CGI, argv may hold words of the query string (RFC 3875 4.4): ignore it.
        run_cgi(make_application())
        return EXIT_OK
    import argparse  # lazy: a CGI request never parses a command line
    parser = argparse.ArgumentParser(
        prog="getip_cgi.py", description=__doc__.split("\n")[0], epilog=USAGE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="config file (default: $IPUPDATE_CONFIG, else %s)"
                        % find_config_path({}))
    parser.add_argument("--name", help="only this name")
    parser.add_argument("--family", choices=("4", "6"), help="only this address family")
    parser.add_argument("--history", metavar="K",
                        help="the K newest periods per name and family (0 to %d)"
                        % MAX_HISTORY)
    parser.add_argument("--format", choices=FORMATS, default="text",
                        help="output format (default: text)")
    parser.add_argument("--json", dest="format", action="store_const", const="json",
                        help="same as --format json")
    args = parser.parse_args(argv)
    params = dict((key, value) for key, value in (
        ("name", args.name), ("family", args.family), ("history", args.history),
        ("format", args.format)) if value is not None)
    try:
        config = load_config(args.config or find_config_path())
        request = check_request(params)
        zone = time_zone(config.timezone, True)
        now = int(time.time())
        records = read_database(config.database, request.name, request.history,
                                refusals_counted_from(request, now))
        status, _, body, headers = answer(request, records, config, now, zone)
    except ConfigError as error:
        sys.stderr.write("getip_cgi.py: %s\n" % error)
        return EXIT_USAGE
    except Refused as refusal:
        sys.stderr.write("getip_cgi.py: %s\n" % refusal.reason)
        return EXIT_NOT_FOUND if refusal.status == 404 else EXIT_USAGE
    except DatabaseUnavailable as error:
        sys.stderr.write("getip_cgi.py: %s\n" % error)
        return EXIT_DATABASE
    sys.stdout.buffer.write(body.encode("utf-8"))
    sys.stdout.buffer.flush()
    if ("X-Ipupdate-Stale", "yes") in headers:
        sys.stderr.write("getip_cgi.py: warning: this name is stale (no update for more "
                         "than %s)\n" % span_words(config.stale_after_s))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
