#!/usr/bin/env python3
"""getip_cgi.py - show the addresses ipupdate_server.py recorded, and their history.

One file, standard library only, Python 3.6 to 3.13; ~480 lines, read it. The
original's getip.php: per name the newest IPv4 and IPv6 address, when it last
reported, STALE after `stale_after` of silence, and in json and html its refused
update attempts. It only reads (a wrong view key is logged as a refusal). As CGI
beside ipupdate_server.py (same config), and under its `serve`, it takes the
options below as query parameters, and `key`; docs/VIEWER.md has them all.

  getip_cgi.py                                     each name, a line per family
  getip_cgi.py --name home --family 4 --format ip  just the address
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
    passwords_match, peer_address, printable, run_cgi)

FORMATS = ("text", "json", "ip", "html")
PARAMETERS = ("name", "family", "history", "format", "key")
MAX_HISTORY = 1000            # periods per name and family in one response
HTML_HISTORY = 10             # the page's default; the other formats default to 0
REFUSED_PERIOD_S = 24 * 3600  # json and html count the refusals of the last 24 hours
UNNAMED = "(unnamed)"         # the original's clients may send an empty name
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
    """A name, its periods in the families asked for, its refusals in 24 hours."""

    def __init__(self, name, periods, families, refused):
        self.name, self.refused = name, refused
        self.last_heard = max(newest[0][2] for newest in periods.values())
        self.periods = dict((f, p) for f, p in periods.items() if f in families)

    def is_stale(self, now, stale_after_s):
        return now - self.last_heard > stale_after_s


def read_database(path, request, now):
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
                records.append(Record(name, periods, request.families, refused))
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
        stale = " STALE" if record.is_stale(now, config.stale_after_s) else ""
        for family, periods in sorted(record.periods.items()):
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
        entry = {"name": record.name, "last_heard": record.last_heard,
                 "stale": record.is_stale(now, config.stale_after_s), "history": {},
                 "refused_24h": record.refused}
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

    def row(family, tag, ip, source, *cells):
        via = " <small>(via dyndns2)</small>" if source == "dyndns2" else ""
        return "<tr><%s>IPv%d</%s><td><code>%s</code>%s</td>%s</tr>\n" % (
            tag, family, tag, escape(ip), via, "".join("<td>%s</td>" % c for c in cells))

    parts = [HTML_HEAD]
    if not records:
        parts.append("<p>%s.</p>\n" % escape(nothing[0].upper() + nothing[1:]))
    for record in records:
        stale, silence = record.is_stale(now, config.stale_after_s), now - record.last_heard
        parts.append('<section class="%s">\n<h2>%s</h2>\n' % (
            "name stale" if stale else "name", escape(word(record.name))))
        if stale:
            parts.append('<p class="warning">&#9888; Stale: nothing heard for %s (more than '
                         '%s). Its client may have stopped reporting.</p>\n'
                         % (format_span(silence), format_span(config.stale_after_s)))
        parts.append("<p>Last heard %s ago, at %s.</p>\n" % (format_span(silence),
                                                              when(record.last_heard)))
        if record.refused:
            parts.append('<p class="refused">%d refused update attempt%s in the last 24 hours '
                         '(the server\'s error log says why).</p>\n'
                         % (record.refused, "" if record.refused == 1 else "s"))
        families = sorted(record.periods.items())
        parts.append("<table>\n")
        for family, periods in families:
            ip, first_seen, last_seen, source = periods[0]
            parts.append(row(family, "th", ip, source, "since " + when(first_seen),
                             "last seen " + when(last_seen)))
        parts.append("</table>\n")
        if request.history:
            parts.append("<table>\n<caption>History, newest first</caption>\n<tr><th>Family"
                         "</th><th>Address</th><th>First seen</th><th>Last seen</th><th>Held"
                         "</th></tr>\n")
            for family, periods in families:
                parts.extend(row(family, "td", ip, source, when(first), when(last),
                                 format_span(last - first))
                             for ip, first, last, source in periods[:request.history])
            parts.append("</table>\n")
        parts.append("</section>\n")
    parts.append("<footer>Times in %s. A name is stale after %s without an update. Generated "
                 "%s.</footer>\n</body>\n</html>\n" % (
                     escape(config.timezone), format_span(config.stale_after_s), when(now)))
    return "".join(parts)


# ---------------------------------------------------------------------------
# The answer to a checked request, and the WSGI application around it (the
# same code runs as CGI, under `serve`, under any WSGI server).
# ---------------------------------------------------------------------------

def view(request, config, now, process_private):
    """(status, content type, body, extra headers) from what the database holds now."""
    zone = time_zone(config.timezone, process_private)
    records = read_database(config.database, request, now)
    shown = [record for record in records if record.periods]
    if request.name is not None and not shown:
        if records:
            raise Refused(404, "no IPv%d address recorded for name '%s'"
                          % (request.family, printable(request.name)))
        raise Refused(404, "no updates recorded for name '%s'" % printable(request.name))
    if request.format == "ip":
        found = [(record, family) for record in shown for family in sorted(record.periods)]
        if not found:
            raise Refused(404, "no address recorded yet")
        if len(found) > 1:
            raise Refused(400, "%d addresses match: choose one with the name and family "
                               "parameters" % len(found))
        record, family = found[0]
        stale = record.is_stale(now, config.stale_after_s)
        return 200, TEXT, word(record.periods[family][0][0]) + "\n", (
            [("X-Ipupdate-Stale", "yes")] if stale else [])
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
        sys.stderr.write("getip_cgi.py: warning: this name is stale (no update for more "
                         "than %s)\n" % format_span(config.stale_after_s))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
