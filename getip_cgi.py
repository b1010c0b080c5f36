#!/usr/bin/env python3
"""getip_cgi.py - show the addresses ipupdate_server.py recorded, and their history.

One file, standard library only, Python 3.6 to 3.13; ~540 lines, read it. The
original's getip.php: per name the newest IPv4 and IPv6 address, when it last
reported, STALE after `stale_after` of silence (each family on its own), and in
json and html its refused update attempts; the html page opens with a summary
and fits a phone. It only reads (a wrong view key is logged as a refusal). As
CGI beside ipupdate_server.py (same config), and under its `serve`, it takes the
options below as query parameters, and `key`; docs/VIEWER.md has them all.

  getip_cgi.py                                     each name, a line per family
  getip_cgi.py --name home --format ip            its address (IPv4 unless stale)
  getip_cgi.py --name home --history 5             its 5 newest periods

Text lines: NAME FAMILY ADDRESS LAST_SEEN [STALE] [dyndns2]; with --history,
NAME FAMILY ADDRESS FIRST_SEEN LAST_SEEN HELD [STALE] [dyndns2]. The empty name
shows as (unnamed); dyndns2 marks a period a dyndns2 client (a router) began.
Exit codes: 0 shown, 1 nothing recorded for that name or family, 2 usage or
configuration error, 3 database unavailable.
"""

import os
import sys
import time

# Exactly the names the server beside this file shares (its SHARED_WITH_VIEWER),
# and nothing else at module level: a CGI request pays for every import.
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.append(HERE)  # appended, not prepended: never shadow the standard library
from ipupdate_server import (  # noqa: E402
    FAMILY_NAMES, format_span, query_fields, read_history, respond,
    DIGITS, ConfigError, DatabaseUnavailable, Refused, basic_auth_password,
    find_config_path, load_config, log, note_view_refusal, open_database,
    passwords_match, peer_address, printable, run_cgi, VERSION)

FORMATS = ("text", "json", "ip", "html")
PARAMETERS = ("name", "family", "history", "format", "key")
MAX_HISTORY = 1000            # periods per name and family in one response
HTML_HISTORY = 10             # the page's default; the other formats default to 0
REFUSED_PERIOD_S = 24 * 3600  # json and html count the refusals of the last 24 hours
UNNAMED = "(unnamed)"         # the original's clients may send an empty name
HTML_OPEN_PERIODS = 4         # a name's history of more periods starts folded on the page
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MARKS = {"ipupdate": "", "dyndns2": " dyndns2"}  # a text line's last word, by source
TEXT = "text/plain; charset=utf-8"
UTC_NAMES = ("UTC", "Etc/UTC", "GMT", "Etc/GMT")
TZ_DIRS = ("/usr/share/zoneinfo", "/usr/lib/zoneinfo", "/usr/share/lib/zoneinfo",
           "/etc/zoneinfo")  # where zoneinfo looks too (its default TZPATH)


# ---------------------------------------------------------------------------
# The request: its parameters and the view key, checked. Each raises Refused.
# ---------------------------------------------------------------------------

class Request(object):
    """name (None: all), family (None: both), history (periods per family), format."""

    def __init__(self, name, family, history, output_format):
        self.name, self.family, self.history = name, family, history
        self.format, self.families = output_format, (family,) if family else (4, 6)


def check_request(params, accept=""):
    """The Request for {parameter: value}; nothing unknown or malformed is let by."""
    for field in params:
        if field not in PARAMETERS:
            raise Refused(400, "unknown parameter '%s' (known: %s)"
                          % (printable(field), ", ".join(PARAMETERS)))
    family, history = params.get("family"), params.get("history")
    if family not in (None, "4", "6"):
        raise Refused(400, "parameter 'family' must be 4 or 6")
    if history is not None and not (history and len(history) <= 4 and set(history) <= DIGITS
                                    and int(history) <= MAX_HISTORY):
        raise Refused(400, "parameter 'history' must be a whole number from 0 to %d" % MAX_HISTORY)
    output_format = params.get("format")
    if output_format is None:
        output_format = "html" if prefers_html(accept) else "text"
    elif output_format not in FORMATS:
        raise Refused(400, "parameter 'format' must be text, json, ip or html")
    if output_format == "ip" and history is not None:
        raise Refused(400, "parameter 'history' does not go with format=ip")
    if history is None:
        history = HTML_HISTORY if output_format == "html" else 0
    return Request(params.get("name"), int(family) if family else None, int(history),
                   output_format)


def prefers_html(accept):
    """Does Accept rank text/html above text/plain (a browser's does, curl's */* not)?"""
    ranges = {}
    for item in accept.lower().split(","):
        media_range, _, parameters = item.partition(";")
        q = [value for key, _, value in (p.partition("=") for p in parameters.split(";"))
             if key.strip() == "q"]
        try:
            ranges.setdefault(media_range.strip(), float(q[0]) if q else 1.0)
        except ValueError:
            ranges.setdefault(media_range.strip(), 0.0)

    def quality(media_type):
        return next((ranges[r] for r in (media_type, "text/*", "*/*") if r in ranges), 0.0)
    return quality("text/html") > quality("text/plain")


class WrongViewKey(Refused):
    """A view key that is not the one: logged and counted as a refused update."""


def check_view_key(view_key, offered_key, authorization):
    """Refuse unless the request carries the view key (if one is configured)."""
    if not view_key:
        return
    if offered_key is None:  # not as ?key=: as the password of basic auth, any user
        offered_key = basic_auth_password(authorization)
    if offered_key is None:  # a 401 that asks for it: a browser asks without one first
        raise Refused(401, "this viewer needs the view key: pass it as ?key=KEY or as "
                           "the password of HTTP basic auth")
    # passwords_match: hmac.compare_digest, because a plain == would leak, through
    # its timing, how much of a guessed key is right.
    if not passwords_match(offered_key, view_key):
        raise WrongViewKey(401, "wrong view key")


# ---------------------------------------------------------------------------
# Reading: the server's read_history(), and the refusals of the names shown.
# ---------------------------------------------------------------------------

# A name's refused update attempts since a time, from the server's table
# `refused` (made with its first refusal): one seek in its (name, time) index.
REFUSED_SQL = "SELECT COUNT(*) FROM refused WHERE name = ? AND time >= ?"


class Record(object):
    """A name: its periods in the families asked for, its refusals in 24 hours, and its
    staleness over all its families, in the words of the server's `check`: a family is
    stale when silent past stale_after, the name 'stale' if all are, 'family_stale' if some."""

    def __init__(self, name, periods, families, refused, now, stale_after_s):
        self.name, self.refused = name, refused
        self.newest = dict((family, history[0]) for family, history in periods.items())
        self.last_heard = max(newest[2] for newest in self.newest.values())
        self.periods = dict((f, p) for f, p in periods.items() if f in families)
        self.stale_families = [family for family, newest in sorted(self.newest.items())
                               if now - newest[2] > stale_after_s]
        all_quiet = len(self.stale_families) == len(self.newest)
        self.state = "stale" if all_quiet else "family_stale" if self.stale_families else "ok"


def read_database(path, request, now, stale_after_s):
    """The Records asked for, from one read transaction; [] without a database."""
    import sqlite3  # lazy (open_database() has loaded it): for sqlite3.Error
    for attempt in (1, 2):
        connection = open_database(path, readonly=True)
        if connection is None:
            return []
        try:
            connection.execute("BEGIN")
            history = read_history(connection, request.name, request.history)
            counted = request.format in ("json", "html") and connection.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'refused'").fetchall()
            records = []
            for name, periods in history:
                refused = connection.execute(REFUSED_SQL, (
                    name, now - REFUSED_PERIOD_S)).fetchone()[0] if counted else 0
                records.append(Record(name, periods, request.families, refused, now,
                                      stale_after_s))
            return records
        except sqlite3.Error as error:
            # Once more on a new connection: SQLite may take the journal of a writer
            # that has just rolled back for a hot one, which a read-only connection
            # cannot roll back ("attempt to write a readonly database").
            if attempt == 2:
                raise DatabaseUnavailable("database %s: %s" % (path, error))
        finally:
            connection.close()


# ---------------------------------------------------------------------------
# Rendering: times and words, then text, json and html.
# ---------------------------------------------------------------------------

def time_zone(name, process_private):
    """Unix time -> the zone's UTC offset then, in seconds. A one-request process
    sets TZ and asks the C library, for free; a long-running threaded one (`serve`,
    a WSGI host) leaves its environment alone (its hooks inherit it): zoneinfo, 3.9+."""
    if name in UTC_NAMES:
        return lambda ts: 0
    path = next((os.path.join(directory, name) for directory in TZ_DIRS
                 if os.path.isfile(os.path.join(directory, name))), None)
    if path is None or name.startswith("/") or ".." in name.split("/"):
        raise ConfigError("timezone '%s' is not a time zone this system knows (a name like "
                          "Europe/Berlin, from the tz database)" % printable(name))
    if not process_private:
        try:
            import datetime  # lazy: only long-running processes
            import zoneinfo
        except ImportError:
            pass  # Python 3.6-3.8: TZ, below
        else:
            zone = zoneinfo.ZoneInfo(name)
            return lambda ts: int(datetime.datetime.fromtimestamp(ts, zone).utcoffset()
                                  .total_seconds())
    if os.environ.get("TZ") != ":" + path:
        os.environ["TZ"] = ":" + path  # ":" + a file: no guessing by the C library
        time.tzset()
    return lambda ts: time.localtime(ts).tm_gmtoff


def format_time(offset_at, ts):
    """RFC 3339 in the zone: 2023-11-15T07:13:20+09:00 (one word for the shell)."""
    offset = offset_at(ts)
    sign, minutes = "-" if offset < 0 else "+", abs(offset) // 60
    return "%04d-%02d-%02dT%02d:%02d:%02d" % tuple(time.gmtime(ts + offset)[:6]) + (
        "%s%02d:%02d" % (sign, minutes // 60, minutes % 60))


def word(text):
    """A stored value as one word, which no space or control character can split
    (unlike printable(), for messages, it keeps long values and non-ASCII as they are)."""
    if text == "":
        return UNNAMED
    if text.isprintable() and " " not in text:
        return text  # the usual case, at C speed: " " is the one space isprintable() passes
    return "".join(c if c.isprintable() and not c.isspace() else "?" for c in text)


def escape(text):
    """html.escape() for content and quoted attributes, without its import."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#x27;"))


def render_text(records, request, config, now, zone):
    """The module docstring's lines: dyndns2 last, so the fields before keep their places."""
    lines = []
    for record in records:
        for family, periods in sorted(record.periods.items()):
            stale = " STALE" if family in record.stale_families else ""
            for index, (ip, first_seen, last_seen, source) in enumerate(
                    periods[:request.history or 1]):  # without history, the newest only
                when = format_time(zone, last_seen)
                if request.history:
                    when = "%s %s %s" % (format_time(zone, first_seen), when,
                                         format_span(last_seen - first_seen))
                lines.append("%s %s %s %s%s%s\n" % (
                    word(record.name), FAMILY_NAMES[family], word(ip), when,
                    stale if index == 0 else "", MARKS[source]))
    return "".join(lines)


def render_json(records, request, config, now):
    """The shape of docs/VIEWER.md: every key always there (null or [] if empty)."""
    import json  # lazy: only format=json needs it

    def period_object(period):
        ip, first_seen, last_seen, source = period
        return {"ip": ip, "first_seen": first_seen, "last_seen": last_seen,
                "held": max(0, last_seen - first_seen), "source": source}

    names = []
    for record in records:
        # "families" and "state" as the server's `check --json` has them.
        families = dict((FAMILY_NAMES[family], {
            "address": ip, "last_heard": last_seen, "silent_s": max(0, now - last_seen),
            "state": "stale" if family in record.stale_families else "ok"})
            for family, (ip, _, last_seen, _) in record.newest.items())
        entry = {"name": record.name, "last_heard": record.last_heard,
                 "stale": record.state == "stale", "state": record.state,
                 "families": families, "history": {}, "refused_24h": record.refused}
        for family, key in sorted(FAMILY_NAMES.items()):
            periods = record.periods.get(family, [])
            entry[key] = period_object(periods[0]) if periods else None
            entry["history"][key] = [period_object(p) for p in periods[:request.history]]
        names.append(entry)
    document = {"generated": now, "timezone": config.timezone,
                "stale_after": config.stale_after_s, "names": names}
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


# No script may run on the page, whatever a stored value holds (defence in
# depth: every value is escaped as well). The inline style is all it needs.
# On a narrow screen table rows become lines whose cells wrap as words do; an address
# or a time never breaks (nowrap), its font shrinking so the longest IPv6 fits 320 px.
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
body{font:16px/1.45 system-ui,sans-serif;max-width:52rem;margin:1rem auto;padding:0 .6rem;
color:#222;background:#fff}h1{font-size:1.4rem}h2{font-size:1.15rem;margin:0 0 .4rem}
section{border:1px solid #ccc;border-radius:6px;padding:.6rem;margin:1rem 0}
section.stale{border-color:#c00;background:#fff4f4}section.family_stale{border-color:#c80}
.warning,tr.stale td:last-child{color:#a00;font-weight:bold}.refused,tr.family_stale
td:last-child{color:#8a4b00}table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{
text-align:left;padding:.2rem .6rem .2rem 0;border-bottom:1px solid #eee;vertical-align:top}
h2,td{overflow-wrap:anywhere}code,time{white-space:nowrap}code{font-size:min(.95em,3.6vw)}
summary{cursor:pointer;font-weight:bold}footer{color:#666;font-size:.9em}
@media (max-width:40rem){thead{display:none}tr{display:block;border-bottom:1px solid #eee;
padding:.2rem 0}td{display:inline-block;border:0}td:first-child{font-weight:bold}}
@media (prefers-color-scheme:dark){body{color:#ddd;background:#181818}section{border-color:
#444}section.stale{background:#2c1616;border-color:#e55}.warning,tr.stale td:last-child{
color:#f88}.refused,tr.family_stale td:last-child{color:#fb5}th,td,tr{border-color:#333}
footer{color:#999}}
</style>
</head>
<body>
<h1>Current addresses</h1>
"""


def clock_time(offset_at, ts, now):
    """A time as a person reads it, in the zone: today 14:05, yesterday 23:10,
    14 Nov 22:13, and with the year when it is not this year's: 14 Nov 2022 22:13."""
    local, today = time.gmtime(ts + offset_at(ts)), time.gmtime(now + offset_at(now))
    hour_minute = "%02d:%02d" % local[3:5]
    if local[:3] == today[:3]:
        return "today " + hour_minute
    if local[:3] == time.gmtime(now + offset_at(now) - 86400)[:3]:
        return "yesterday " + hour_minute
    year = " %d" % local[0] if local[0] != today[0] else ""
    return "%d %s%s %s" % (local[2], MONTHS[local[1] - 1], year, hour_minute)


def time_ago(seconds):
    """A silence as a person reads it, rounded down, in the largest unit it holds
    twice (so never "1 h ago" for 1 h 59 min): 42 s ago, 95 min ago, 3 h ago, 5 days ago."""
    for limit_s, unit_s, unit in ((120, 1, "s"), (2 * 3600, 60, "min"), (2 * 86400, 3600, "h")):
        if seconds < limit_s:
            return "%d %s ago" % (max(0, seconds) // unit_s, unit)
    return "%d days ago" % (seconds // 86400)


def render_html(records, request, config, now, zone, nothing):
    """A page for people, at a glance and on a phone: a summary row per name, then each
    name's warnings and history (one time order, folded when long); all through escape()."""
    limit = format_span(config.stale_after_s)

    def when(ts, text=None):  # the exact time stays in the markup, and on hover
        exact = format_time(zone, ts)
        return '<time datetime="%s" title="%s">%s</time>' % (
            exact, exact, text or clock_time(zone, ts, now))

    def address(ip, source):
        via = " <small>(via dyndns2)</small>" if source == "dyndns2" else ""
        return "<code>%s</code>%s" % (escape(ip), via)

    def table_row(css_class, *cells):
        return '<tr class="%s">%s</tr>\n' % (css_class, "".join("<td>%s</td>" % c for c in cells))

    parts = [HTML_HEAD]
    if not records:
        parts.append("<p>%s.</p>\n" % escape(nothing[0].upper() + nothing[1:]))
    else:  # the summary: a row per name
        parts.append("<table>\n<thead><tr><th>Name</th><th>Addresses</th><th>Last heard</th>"
                     "<th>Status</th></tr></thead>\n")
        for record in records:
            addresses = "<br>".join(address(periods[0][0], periods[0][3])
                                    for _, periods in sorted(record.periods.items()))
            status = {"ok": "OK", "stale": "Stale"}.get(record.state, ", ".join(
                "IPv%d" % family for family in record.stale_families) + " stale")
            parts.append(table_row(record.state, escape(word(record.name)), addresses, when(
                record.last_heard, time_ago(now - record.last_heard)), status))
        parts.append("</table>\n")
    for record in records:
        parts.append('<section class="%s">\n<h2>%s</h2>\n' % (
            record.state, escape(word(record.name))))
        if record.state == "stale":
            parts.append('<p class="warning">&#9888; Stale: nothing heard for %s (more than '
                         '%s). Its client may have stopped reporting.</p>\n'
                         % (format_span(now - record.last_heard), limit))
        reporting = sorted(set(record.newest) - set(record.stale_families))
        for family in record.stale_families if reporting else ():
            parts.append('<p class="warning">&#9888; IPv%d stale: not heard for %s (more than '
                         '%s), while %s still reports.</p>\n' % (
                             family, format_span(now - record.newest[family][2]), limit,
                             " and ".join("IPv%d" % other for other in reporting)))
        if record.refused:
            parts.append('<p class="refused">%d refused update attempt%s in the last 24 hours '
                         '(the server\'s error log says why).</p>\n'
                         % (record.refused, "" if record.refused == 1 else "s"))
        # One time order for both families: by last seen, newest first (IPv4 first on a tie).
        history = sorted(((last_seen, family, ip, first_seen, source)
                          for family, periods in record.periods.items()
                          for ip, first_seen, last_seen, source in periods[:request.history]),
                         key=lambda period: (-period[0], period[1]))
        if history:
            parts.append("<details%s>\n<summary>History: %d period%s, newest first</summary>\n"
                         "<table>\n<thead><tr><th>Family</th><th>Address</th><th>Seen</th>"
                         "<th>Held</th></tr></thead>\n" % (
                             " open" if len(history) <= HTML_OPEN_PERIODS else "",
                             len(history), "" if len(history) == 1 else "s"))
            parts.extend(table_row(FAMILY_NAMES[family], "IPv%d" % family, address(ip, source),
                                   "%s &ndash; %s" % (when(first_seen), when(last_seen)),
                                   format_span(last_seen - first_seen))
                         for last_seen, family, ip, first_seen, source in history)
            parts.append("</table>\n</details>\n")
        parts.append("</section>\n")
    parts.append("<footer>Times in %s. An address family is stale after %s without an "
                 "update. Generated %s.</footer>\n</body>\n</html>\n" % (
                     escape(config.timezone), limit, when(now)))
    return "".join(parts)


# ---------------------------------------------------------------------------
# The answer to a checked request, and the WSGI application around it (the
# same code runs as CGI, under `serve`, under any WSGI server).
# ---------------------------------------------------------------------------

def view(request, config, now, process_private):
    """(status, content type, body, extra headers) from what the database holds now."""
    zone = time_zone(config.timezone, process_private)
    records = read_database(config.database, request, now, config.stale_after_s)
    shown = [record for record in records if record.periods]
    if request.name is not None and not shown:
        if records:
            raise Refused(404, "no IPv%d address recorded for name '%s'"
                          % (request.family, printable(request.name)))
        raise Refused(404, "no updates recorded for name '%s'" % printable(request.name))
    if request.format == "ip":
        if not shown:
            raise Refused(404, "no address recorded yet")
        if len(shown) > 1:
            raise Refused(400, "%d names match: choose one with the name parameter" % len(shown))
        # A fresh family before a stale one, then IPv4; not the newest (VIEWER.md: why).
        record = shown[0]
        family = min(record.periods, key=lambda each: (each in record.stale_families, each))
        return 200, TEXT, word(record.periods[family][0][0]) + "\n", (
            [("X-Ipupdate-Stale", "yes")] if family in record.stale_families else [])
    if request.format == "json":
        return 200, "application/json", render_json(shown, request, config, now), []
    nothing = "no %supdates recorded yet" % ("IPv%d " % request.family if request.family else "")
    if request.format == "html":
        return 200, "text/html; charset=utf-8", render_html(
            shown, request, config, now, zone, nothing), [HTML_POLICY]
    return 200, TEXT, render_text(shown, request, config, now, zone) or nothing + "\n", []


def make_application(config=None, clock=time.time):
    """Without `config` it reads the config file for each request (CGI); with it
    the process is taken to be long-lived (`serve`). Nothing is kept between requests."""
    def application(environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        content_type, headers = TEXT, []
        try:
            if method not in ("GET", "HEAD"):
                raise Refused(405, "only GET and HEAD are accepted here")
            active = config or load_config(find_config_path(environ))
            params = query_fields(environ.get("QUERY_STRING", ""))
            request = check_request(params, environ.get("HTTP_ACCEPT", ""))
            try:
                check_view_key(active.view_key, params.get("key"),
                               environ.get("HTTP_AUTHORIZATION", ""))
            except WrongViewKey as wrong:
                # A guess at the key: into the refused-attempt log, and 429 past
                # max_refusals_per_minute, as for the server's refusals.
                peer = peer_address(environ.get("REMOTE_ADDR", "?"),
                                    environ.get("HTTP_X_FORWARDED_FOR", ""),
                                    active.trusted_proxies)
                refusal = note_view_refusal(active, peer, wrong, int(clock()),
                                            lambda line: log(environ, line))
                if refusal is wrong:  # not when limited: a flood fills no log
                    log(environ, "refused view from %s: %s" % (peer, wrong.reason))
                raise refusal
            status, content_type, body, headers = view(
                request, active, int(clock()), bool(environ.get("wsgi.run_once")))
            if "format" not in params:
                headers = headers + [("Vary", "Accept")]
        except Refused as refusal:
            status, body = refusal.status, "Error: " + refusal.reason
            if status == 405:
                headers = [("Allow", "GET, HEAD")]
            elif status == 401:
                headers = [("WWW-Authenticate", 'Basic realm="ipupdate"')]
            elif status == 429:
                headers = [("Retry-After", str(refusal.retry_after_s))]
        except ConfigError as error:
            log(environ, "configuration error: %s" % error)
            status, body = 500, "Error: server not configured"
        except DatabaseUnavailable as error:
            log(environ, "database error: %s" % error)
            status, body = 503, "Error: database unavailable, try again later"
        return respond(start_response, status, body, content_type, headers, method == "HEAD")

    return application


# ---------------------------------------------------------------------------
# Command line (and the CGI entry point).
# ---------------------------------------------------------------------------

EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE, EXIT_DATABASE = 0, 1, 2, 3  # as the docstring lists them


def main(argv):
    if "GATEWAY_INTERFACE" in os.environ:
        # Under CGI, argv may hold words of the query string (RFC 3875 4.4): ignore it.
        run_cgi(make_application())
        return EXIT_OK
    import argparse  # lazy: a CGI request never parses a command line
    parser = argparse.ArgumentParser(prog="getip_cgi.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    # The values are checked by check_request(), as a query's are.
    parser.add_argument("--config", help="config file (default: $IPUPDATE_CONFIG, else %s)"
                        % find_config_path({}))
    parser.add_argument("--name", help="only this name ('' selects the unnamed)")
    parser.add_argument("--family", metavar="4|6", help="only this address family")
    parser.add_argument("--history", metavar="K", help="the K newest periods per name and "
                                                       "family (0 to %d)" % MAX_HISTORY)
    parser.add_argument("--format", metavar="F", help="text (default), json, ip or html")
    parser.add_argument("--json", dest="format", action="store_const", const="json",
                        help="same as --format json")
    parser.add_argument("--version", action="version", version="%(prog)s " + VERSION)
    args = parser.parse_args(argv)
    params = dict((option, value) for option, value in vars(args).items()
                  if option != "config" and value is not None)
    try:
        config = load_config(args.config or find_config_path())
        _, _, body, headers = view(check_request(params), config, int(time.time()), True)
    except Refused as refusal:
        sys.stderr.write("getip_cgi.py: %s\n" % refusal.reason)
        return EXIT_NOT_FOUND if refusal.status == 404 else EXIT_USAGE
    except (ConfigError, DatabaseUnavailable) as error:
        sys.stderr.write("getip_cgi.py: %s\n" % error)
        return EXIT_USAGE if isinstance(error, ConfigError) else EXIT_DATABASE
    sys.stdout.buffer.write(body.encode("utf-8"))
    sys.stdout.buffer.flush()
    if ("X-Ipupdate-Stale", "yes") in headers:
        sys.stderr.write("getip_cgi.py: warning: this address is stale (no update for "
                         "more than %s)\n" % format_span(config.stale_after_s))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
