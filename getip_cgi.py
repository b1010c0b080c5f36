#!/usr/bin/env python3
"""getip_cgi.py - show the addresses ipupdate_server.py recorded, and their history.

One file, standard library only, Python 3.6 to 3.13; ~550 lines, read it. The
GET side of ipupdate (the original's getip.php); it only reads the history (a
wrong view key is logged as a refusal). It runs as a CGI program beside the
server (same config), under `ipupdate_server.py serve` (GETs and HEADs), and from a
shell on the server: python3 getip_cgi.py --name home --history 5

Per name: the newest IPv4 and IPv6 address, when the name last reported (in
the configured time zone), STALE when silent for longer than `stale_after`,
and in json and html the update attempts the server refused in the last 24
hours. Formats: text (for shell scripts), ip (the bare address), json, html
(what a browser gets). With `view_key` in the config every request needs it.
docs/VIEWER.md has the parameters, the JSON shape and the measurements.
"""

import os
import sys
import time

# The server module beside this file declares what it shares with the viewer
# (its SHARED_WITH_VIEWER): this line imports exactly those names.
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.append(HERE)  # appended, not prepended: never shadow the standard library
from ipupdate_server import (  # noqa: E402
    FAMILY_NAMES, format_span, query_fields, read_history, respond,
    DIGITS, ConfigError, DatabaseUnavailable, Refused, basic_auth_password,
    find_config_path, load_config, log, note_view_refusal, open_database,
    passwords_match, peer_address, printable, run_cgi)

# Like the server, this file imports nothing else at module level: a CGI
# request pays for every import, so each format imports only what it uses.

FORMATS = ("text", "json", "ip", "html")
PARAMETERS = ("name", "family", "history", "format", "key")
MAX_HISTORY = 1000          # periods per name and family in one response
HTML_HISTORY = 10           # the page's default; the other formats default to 0
REFUSED_PERIOD_S = 24 * 3600  # json and html count the refusals of the last 24 hours
UNNAMED = "(unnamed)"       # the original's clients may send an empty name
MARKS = {"ipupdate": "", "dyndns2": " dyndns2"}  # a text line's last word, by source
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
        self.format, self.families = output_format, (family,) if family else (4, 6)
        self.counts_refusals = output_format in ("json", "html")  # the others show none


def parse_query(query):
    """QUERY_STRING -> {parameter: value}, by the server's decoder. Strict:
    unknown, repeated or malformed parameters are refused, never ignored."""
    params = query_fields(query)
    for field in params:
        if field not in PARAMETERS:
            raise Refused(400, "unknown parameter '%s' (known: %s)"
                          % (printable(field), ", ".join(PARAMETERS)))
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
    """401: a view key was offered, and it is not the one. A refusal like a
    refused update: logged, counted and rate-limited (note_view_refusal())."""

    peer = None  # the address it came from, once known


def check_view_key(view_key, offered_key, authorization):
    """Refuse unless the request carries the configured view key, as ?key= or
    as the password of HTTP basic auth (decoded by the server's dyndns2 code:
    any user name). No view key configured: public. A request without any key
    is refused as asking for one (a browser asks without one first); one with
    a wrong key raises WrongViewKey."""
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
        raise WrongViewKey(401, "wrong view key")


# ---------------------------------------------------------------------------
# Reading: the server's read_history(), and the refusals of the names shown.
# A request opens the database read-only, reads in one transaction, closes.
# ---------------------------------------------------------------------------

# A name's refused update attempts since a time, from the server's table
# `refused` (made with its first refusal): a seek in its (name, time) index.
REFUSED_SQL = "SELECT COUNT(*) FROM refused WHERE name = ? AND time >= ?"


class Record(object):
    """One name, its periods per family (read_history()'s), when it last
    reported (in any family), its refusals in the last 24 hours (if counted)."""

    def __init__(self, name, periods, refused):
        self.name, self.periods, self.refused = name, periods, refused
        self.last_heard = max(newest[0][2] for newest in periods.values())

    def is_stale(self, now, stale_after_s):
        return now - self.last_heard > stale_after_s


def read_database(path, request, now):
    """The Records the request asks for, sorted by name. [] without a database.

    A failed read is made once more, on a new connection: SQLite may take the
    journal of a writer that rolled back a moment before (one that gave up
    waiting for the lock) for a hot one, which a read-only connection cannot
    roll back ("attempt to write a readonly database", a false positive its
    pager accepts on purpose). The new connection finds the journal gone."""
    import sqlite3  # lazy (already loaded by open_database): for sqlite3.Error
    for attempt in (1, 2):
        connection = open_database(path, readonly=True)
        if connection is None:
            return []
        try:
            connection.execute("BEGIN")  # one snapshot for the history and the counts
            history = read_history(connection, request.name, request.history)
            counted = request.counts_refusals and connection.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'refused'").fetchall()
            return [Record(each, periods, connection.execute(
                REFUSED_SQL, (each, now - REFUSED_PERIOD_S)).fetchall()[0][0] if counted
                else 0) for each, periods in history]
        except sqlite3.Error as error:
            if attempt == 2:
                raise DatabaseUnavailable("database %s: %s" % (path, error))
        finally:
            connection.close()  # and with it the read transaction: it held no lock after


# ---------------------------------------------------------------------------
# Rendering: time zone, times, words; then text, ip, json and html.
# ---------------------------------------------------------------------------

def time_zone(name, process_private):
    """A function: Unix time -> (year, month, day, hour, minute, second, UTC offset s).

    A process that serves one request (CGI, the command line) sets TZ for
    itself: free, where importing zoneinfo costs 2 ms. A long-running,
    threaded one (`serve`, a WSGI host) leaves its environment alone (its
    hooks inherit it) and uses zoneinfo if it has it (3.9+; it caches zones).
    Both read the system's time zone files.
    """
    if name in UTC_NAMES:
        return lambda ts: tuple(time.gmtime(ts)[:6]) + (0,)
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

            def convert(ts):
                moment = datetime.datetime.fromtimestamp(ts, zone)
                return moment.timetuple()[:6] + (int(moment.utcoffset().total_seconds()),)
            return convert
    if os.environ.get("TZ") != ":" + path:
        os.environ["TZ"] = ":" + path  # ":" + file: no guessing by the C library
        time.tzset()

    def local(ts):
        moment = time.localtime(ts)
        return tuple(moment[:6]) + (moment.tm_gmtoff,)
    return local


def format_time(zone, ts):
    """RFC 3339 in the zone: 2023-11-15T07:13:20+09:00 (one word for the shell)."""
    year, month, day, hour, minute, second, offset = zone(ts)
    sign, offset = "-" if offset < 0 else "+", abs(offset) // 60
    return "%04d-%02d-%02dT%02d:%02d:%02d%s%02d:%02d" % (
        year, month, day, hour, minute, second, sign, offset // 60, offset % 60)


def word(text):
    """A stored value as one word of a text line: no space or control character
    can split a line or forge another one. Not printable(), the rule for
    messages: a word keeps a long value whole and non-ASCII letters as they
    are, for the scripts that compare it. The empty name reads as (unnamed)."""
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


def answer(request, records, config, now, zone):
    """(status, content type, body, extra headers) for a checked Request; raises Refused."""
    shown = [record for record in records if any(f in record.periods for f in request.families)]
    if request.name is not None and not shown:
        if records:
            raise Refused(404, "no IPv%d address recorded for name '%s'"
                          % (request.family, printable(request.name)))
        raise Refused(404, "no updates recorded for name '%s'" % printable(request.name))
    nothing = "no %supdates recorded yet" % ("IPv%d " % request.family if request.family else "")
    if request.format == "ip":
        found = [(record, family) for record in shown for family in request.families
                 if family in record.periods]
        if len(found) != 1:
            raise Refused(404, "no address recorded yet") if not found else Refused(
                400, "%d addresses match: choose one with the name and family parameters"
                % len(found))
        record, family = found[0]
        stale = record.is_stale(now, config.stale_after_s)
        return 200, "text/plain; charset=utf-8", word(record.periods[family][0][0]) + "\n", (
            [("X-Ipupdate-Stale", "yes")] if stale else [])
    if request.format == "json":
        return 200, "application/json", render_json(shown, request, config, now), []
    if request.format == "html":
        return 200, "text/html; charset=utf-8", render_html(
            shown, request, config, now, zone, nothing), [HTML_POLICY]
    return (200, "text/plain; charset=utf-8",
            render_text(shown, request, config, now, zone) or nothing + "\n", [])


def render_text(records, request, config, now, zone):
    """The lines of USAGE_EXAMPLES. STALE goes on a name's newest line, dyndns2
    last (the fields before keep their places) on each period one began."""
    lines = []
    for record in records:
        stale = " STALE" if record.is_stale(now, config.stale_after_s) else ""
        for family in request.families:
            periods = record.periods.get(family, [])
            head = "%s %s " % (word(record.name), FAMILY_NAMES[family])
            if periods and not request.history:
                ip, _, last_seen, source = periods[0]
                lines.append(head + "%s %s%s%s" % (word(ip), format_time(zone, last_seen),
                                                   stale, MARKS[source]))
            for index, (ip, first_seen, last_seen, source) in enumerate(
                    periods[:request.history]):
                lines.append(head + "%s %s %s %s%s%s" % (
                    word(ip), format_time(zone, first_seen), format_time(zone, last_seen),
                    format_span(last_seen - first_seen), stale if index == 0 else "",
                    MARKS[source]))
    return "".join(line + "\n" for line in lines)


def render_json(records, request, config, now):
    """The shape documented in docs/VIEWER.md; keys are never removed."""
    import json  # lazy: only format=json needs it

    def period_object(period):
        ip, first_seen, last_seen, source = period
        return {"ip": ip, "first_seen": first_seen, "last_seen": last_seen,
                "held": max(0, last_seen - first_seen), "source": source}

    names = []
    for record in records:
        entry = {"name": record.name, "last_heard": record.last_heard,
                 "stale": record.is_stale(now, config.stale_after_s), "history": {},
                 "refused_24h": record.refused}
        for family, key in sorted(FAMILY_NAMES.items()):
            periods = record.periods.get(family, []) if family in request.families else []
            entry[key] = period_object(periods[0]) if periods else None
            entry["history"][key] = [period_object(p) for p in periods[:request.history]]
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
color:#222;background:#fff}h1{font-size:1.4rem}h2{font-size:1.15rem;margin:0 0 .4rem}
section{border:1px solid #ccc;border-radius:6px;padding:.8rem 1rem;margin:1rem 0}
section.stale{border-color:#c00;background:#fff4f4}.warning{color:#a00;font-weight:bold}
.refused{color:#8a4b00}table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{
text-align:left;padding:.2rem .6rem .2rem 0;border-bottom:1px solid #eee;vertical-align:top}
caption{text-align:left;font-weight:bold;padding:.3rem 0}footer{color:#666;font-size:.9em}
code{font-size:1.05em;word-break:break-all}@media (prefers-color-scheme:dark){body{color:#ddd;
background:#181818}section{border-color:#444}section.stale{background:#2c1616;border-color:
#e55}.warning{color:#f88}.refused{color:#fb5}th,td{border-color:#333}footer{color:#999}}
</style>
</head>
<body>
<h1>Current addresses</h1>
"""


def render_html(records, request, config, now, zone, nothing):
    """A small page for people; every stored value goes through escape()."""
    def when(ts):
        return escape(format_time(zone, ts))

    def cells(family, tag, ip, source, *more):
        return "<tr><%s>IPv%d</%s><td><code>%s</code>%s</td>%s</tr>\n" % (
            tag, family, tag, escape(ip), " <small>(via dyndns2)</small>" if source ==
            "dyndns2" else "", "".join("<td>%s</td>" % cell for cell in more))

    parts = [HTML_HEAD]
    if not records:
        parts.append("<p>%s.</p>\n" % escape(nothing[0].upper() + nothing[1:]))
    for record in records:
        stale, heard = record.is_stale(now, config.stale_after_s), record.last_heard
        parts.append('<section class="%s">\n<h2>%s</h2>\n' % (
            "name stale" if stale else "name", escape(word(record.name))))
        if stale:
            parts.append('<p class="warning">&#9888; Stale: nothing heard for %s (more than '
                         '%s). Its client may have stopped reporting.</p>\n'
                         % (format_span(now - heard), format_span(config.stale_after_s)))
        parts.append("<p>Last heard %s ago, at %s.</p>\n" % (format_span(now - heard),
                                                              when(heard)))
        if record.refused:
            parts.append('<p class="refused">%d refused update attempt%s in the last 24 hours '
                         '(the server\'s error log says why).</p>\n'
                         % (record.refused, "" if record.refused == 1 else "s"))
        parts.append("<table>\n")
        for family in request.families:
            if family in record.periods:
                ip, first_seen, last_seen, source = record.periods[family][0]
                parts.append(cells(family, "th", ip, source, "since " + when(first_seen),
                                   "last seen " + when(last_seen)))
        parts.append("</table>\n")
        if request.history:
            parts.append("<table>\n<caption>History, newest first</caption>\n<tr><th>Family"
                         "</th><th>Address</th><th>First seen</th><th>Last seen</th><th>Held"
                         "</th></tr>\n")
            for family in request.families:
                parts.extend(cells(family, "td", ip, source, when(first), when(last),
                                   format_span(last - first)) for ip, first, last, source
                             in record.periods.get(family, [])[:request.history])
            parts.append("</table>\n")
        parts.append("</section>\n")
    parts.append("<footer>Times in %s. A name is stale after %s without an update. Generated "
                 "%s.</footer>\n</body>\n</html>\n" % (
                     escape(config.timezone), format_span(config.stale_after_s), when(now)))
    return "".join(parts)


# ---------------------------------------------------------------------------
# WSGI application: the same code runs as CGI, under `serve`, under any WSGI server.
# ---------------------------------------------------------------------------

def view(config, params, accept, now, process_private):
    """(status, content type, body, extra headers) for parsed parameters: the
    request checked, the database read, the answer rendered. Raises Refused,
    ConfigError, DatabaseUnavailable."""
    request = check_request(params, accept)
    zone = time_zone(config.timezone, process_private)
    return answer(request, read_database(config.database, request, now), config, now, zone)


def make_application(config=None, clock=time.time):
    """A WSGI application. Without `config` it reads the config file for each
    request (so a CGI or WSGI host picks up edits). With `config` the process
    is taken to be long-lived (`serve`, a WSGI host). Either way a request
    opens the database, reads, and closes it: nothing is kept between requests."""
    def application(environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        content_type, headers = "text/plain; charset=utf-8", []
        try:
            if method not in ("GET", "HEAD"):
                raise Refused(405, "only GET and HEAD are accepted here")
            active = config or load_config(find_config_path(environ))
            params = parse_query(environ.get("QUERY_STRING", ""))
            try:
                check_view_key(active.view_key, params.get("key"),
                               environ.get("HTTP_AUTHORIZATION", ""))
            except WrongViewKey as refusal:
                # A guess at the key: into the refused-attempt log, and 429 past
                # max_refusals_per_minute, as for the server's refusals.
                refusal.peer = peer_address(environ.get("REMOTE_ADDR", "?"),
                                            environ.get("HTTP_X_FORWARDED_FOR", ""),
                                            active.trusted_proxies)
                raise note_view_refusal(active, refusal.peer, refusal, int(clock()),
                                        lambda line: log(environ, line))
            status, content_type, body, headers = view(
                active, params, environ.get("HTTP_ACCEPT", ""), int(clock()),
                bool(environ.get("wsgi.run_once")))
            if "format" not in params:
                headers = headers + [("Vary", "Accept")]
        except Refused as refusal:
            status, body = refusal.status, "Error: " + refusal.reason
            if isinstance(refusal, WrongViewKey):  # not when limited: a flood fills no log
                log(environ, "refused view from %s: %s" % (refusal.peer, refusal.reason))
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
        _, _, body, headers = view(config, params, "", int(time.time()), True)
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
                         "than %s)\n" % format_span(config.stale_after_s))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
