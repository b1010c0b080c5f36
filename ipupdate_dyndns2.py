"""ipupdate_dyndns2.py - dyndns2, the routers' protocol, for ipupdate_server.py.

Optional: copy it beside ipupdate_server.py only if routers, ddclient or
inadyn are to report too; the server loads it only for a config with a
[dyndns2] section, and says so when it is missing. docs/PROTOCOL.md, "dyndns2".

  GET /nic/update?hostname=H1,H2&myip=ADDR   with HTTP basic auth

is answered with one code per hostname. Nothing is signed: the password itself
crosses the network, so it is a password of its own, never a key of the
ipupdate protocol, and it is accepted over HTTPS only unless the config says
otherwise. The rules of type=update hold as far as a protocol without
signatures or times allows: the password is checked in constant time, the
address is the peer's (unless dyndns2_trust_myip), the time is the server's.
It reaches the server's security path only through record_update(dyndns2=True).
"""

from ipupdate_server import (
    DYNDNS2_PATH, MIN_SECRET_CHARS, NOT_A_NAME, ConfigError, DatabaseUnavailable, Refused,
    TooManyRefusals, basic_auth_password, canonical_address, check_name, check_name_quietly,
    in_networks, ip_version, log, note_refusal, open_database, parse_peer, passwords_match,
    peer_address, printable, query_fields, record_update, respond, run_change_hook)

MAX_HOSTNAMES = 20                # per request, as dyndns2's `numhost` has it


def config_entries(passwords, keys, where, lines):
    """{name in lower case: (name, password)} from the [dyndns2] section, or
    ConfigError. A dyndns2 password crosses the network as it is, at every
    update, and routers keep it in their settings: so it must be long
    (whatever allow_short_secrets says), and never one of the ipupdate keys,
    which never leave their machines. Errors name the line, never the entry
    (`where`, from load_config()): 'KEY=' alone on a line reads as a name."""
    entries = {}
    for name, password in sorted(passwords.items(),
                                 key=lambda item: (lines.get(("dyndns2", item[0]), 0), item)):
        here = where("dyndns2", name)
        if check_name_quietly(name) is None:
            raise ConfigError(here + NOT_A_NAME)
        if name.lower() in entries:
            first = lines.get(("dyndns2", entries[name.lower()][0]))
            raise ConfigError(here + "this name and that on %s differ only in letter case "
                              "(hostnames are case-insensitive)"
                              % ("line %d" % first if first else "another line"))
        if len(password) < MIN_SECRET_CHARS:
            raise ConfigError(here + "password shorter than %d characters (make one with "
                                     "'ipupdate_server.py genkey')" % MIN_SECRET_CHARS)
        if password in keys:
            raise ConfigError(here + "password is also a key in [ipupdate] or [names]: give "
                                     "dyndns2 a password of its own (its clients send it as "
                                     "it is, and the key must never leave its machines)")
        entries[name.lower()] = (name, password)
    return entries


class Dyndns2Refused(Refused):
    """A dyndns2 refusal: `code` is the dyndns2 return code that answers it.
    `counted`: an attempt to change a record, so it goes to the refused-attempt
    log and counts toward the rate limit. `logged`: the error log gets a line
    (not for a request without credentials, or not a GET: browsers send those)."""

    def __init__(self, status, code, reason, counted=True, hostname="", logged=True):
        Refused.__init__(self, status, reason)
        self.code, self.counted, self.hostname, self.logged = code, counted, hostname, logged


def application(environ, start_response, config, now):
    """One dyndns2 request: one line per hostname with 200, or one code for the
    whole request with its own status (docs/PROTOCOL.md has the table)."""
    def log_line(line):
        log(environ, line)

    try:
        peer = peer_address(environ.get("REMOTE_ADDR", "?"),
                            environ.get("HTTP_X_FORWARDED_FOR", ""), config.trusted_proxies)
        status, params = 200, {}
        try:
            params, password = read_request(environ, config)
            results = answer(params, password, peer, config, now,
                             lambda *change: run_change_hook(config, change, log_line))
        except Dyndns2Refused as refusal:  # the request as a whole: one code
            refusal.hostname = refusal.hostname or params.get("hostname", "")
            status, results = refusal.status, [(refusal.code, refusal)]
        refusals = [refusal for _, refusal in results if refusal is not None]
        counted = [refusal for refusal in refusals if refusal.counted]
        limited = None
        if counted:  # one entry in the refused-attempt log per request, as for type=update
            limited = note_refusal(config, counted[0].hostname, peer, Refused(
                counted[0].status, "dyndns2: " + counted[0].reason), now, log_line)
        if isinstance(limited, TooManyRefusals):
            # Not logged, as for type=update: a flood must not fill the log.
            retry = [("Retry-After", str(limited.retry_after_s))]
            if all(refusal is not None for _, refusal in results):
                return respond(start_response, 429, "abuse", headers=retry)
            return respond(start_response, 200, "\n".join(
                "abuse" if refusal is not None and refusal.counted else line
                for line, refusal in results), headers=retry)
        for refusal in refusals:
            if refusal.logged:
                log_line("refused dyndns2 update from %s for name '%s': %s" % (
                    peer, printable(refusal.hostname), refusal.reason))
        extra = {401: [("WWW-Authenticate", 'Basic realm="ipupdate dyndns2"')],
                 405: [("Allow", "GET")]}.get(status, [])
        return respond(start_response, status, "\n".join(line for line, _ in results),
                       headers=extra)
    except Refused as refusal:  # from peer_address(): no usable peer address
        log_line("error: %s" % refusal.reason)
        return respond(start_response, refusal.status,
                       "911" if refusal.status >= 500 else "badagent")
    except DatabaseUnavailable as error:
        log_line("database error: %s" % error)
        return respond(start_response, 503, "911")


def read_request(environ, config):
    """(query parameters, basic auth password); a refusal of the whole request
    raises Dyndns2Refused."""
    if environ.get("REQUEST_METHOD") != "GET":
        raise Dyndns2Refused(405, "badagent", "only GET is accepted at " + DYNDNS2_PATH,
                             counted=False, logged=False)
    try:
        params = query_fields(environ.get("QUERY_STRING", ""))
    except Refused as refusal:
        raise Dyndns2Refused(400, "badagent", "query string: " + refusal.reason)
    if not (config.dyndns2_allow_plain_http or arrived_over_https(environ, config)):
        # Basic auth sends the password itself, readable by anyone on the path
        # and good for any number of requests: refuse, so the mistake shows on
        # the first try, not after months of updates.
        raise Dyndns2Refused(403, "badagent", "refused over plain HTTP: the password would "
                                              "cross the network readable (use https://, or "
                                              "set dyndns2_allow_plain_http = yes)",
                             hostname=params.get("hostname", ""))
    password = basic_auth_password(environ.get("HTTP_AUTHORIZATION", ""))
    if password is None:
        raise Dyndns2Refused(401, "badauth", "no credentials (HTTP basic auth)",
                             counted=False, logged=False)
    return params, password


def arrived_over_https(environ, config):
    """The web server says so (CGI's HTTPS=on, WSGI's url_scheme), or a trusted
    proxy does, in X-Forwarded-Proto, when the config says the proxies set it
    (proxy_sets_forwarded_proto): one that does not passes on the client's own."""
    if environ.get("wsgi.url_scheme") == "https":
        return True
    if not (config.trusted_proxies and config.proxy_sets_forwarded_proto):
        return False
    try:
        direct = parse_peer(environ.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return (in_networks(direct, config.trusted_proxies)
            and environ.get("HTTP_X_FORWARDED_PROTO", "").strip().lower() == "https")


def answer(params, password, peer, config, now, on_change):
    """One (code line, refusal or None) per hostname, in their order: "good ADDR"
    (a new address recorded), "nochg ADDR" (the same: its time raised to now),
    "notfqdn", "nohost". Parameters other than hostname and myip are ignored."""
    # Every password is compared, each in constant time: neither which one
    # matched nor how much of one shows in the time taken.
    matches = [name for name, (_, expected) in sorted(config.dyndns2.items())
               if passwords_match(password, expected)]
    if not matches:
        raise Dyndns2Refused(401, "badauth", "wrong dyndns2 password")
    hostnames = params.get("hostname", "")
    if not hostnames:
        raise Dyndns2Refused(400, "notfqdn", "no hostname given")
    hostnames = hostnames.split(",")
    if len(hostnames) > MAX_HOSTNAMES:
        raise Dyndns2Refused(400, "numhost", "%d hostnames in one request (at most %d)"
                             % (len(hostnames), MAX_HOSTNAMES))
    if len(set(hostname.lower() for hostname in hostnames)) < len(hostnames):
        raise Dyndns2Refused(400, "numhost", "a hostname given twice in one request")
    address = reported_address(params.get("myip", ""), peer, config.dyndns2_trust_myip)
    results = []
    for hostname in hostnames:
        try:
            if not check_name(hostname):  # the empty name is ours, not a hostname
                raise Refused(400, "empty hostname")
        except Refused:
            results.append(("notfqdn", Dyndns2Refused(
                400, "notfqdn", "'%s' is not a hostname" % printable(hostname),
                hostname=hostname)))
            continue
        name = hostname.lower()  # one spelling, as for type=update
        if name not in matches:
            # Not enabled for dyndns2, or with another password: the same
            # answer, so a password tells nothing about other names.
            results.append(("nohost", Dyndns2Refused(
                404, "nohost", "name '%s' is not enabled for dyndns2 with this password"
                % hostname, hostname=hostname)))
            continue
        connection = open_database(config.database)
        try:
            _, previous = record_update(connection, ip_version(address), name, address, now,
                                        dyndns2=True)
        finally:
            connection.close()
        if previous is not None:
            on_change(name, ip_version(address), previous, address)
        results.append(("%s %s" % ("nochg" if previous is None else "good", address), None))
    return results


def reported_address(myip, peer, trust_myip):
    """`myip`, or the peer's address when it is absent or empty (dyndns2's rule).
    Unless trust_myip, myip must be the peer's address, as the signed address
    of a type=update must: the record says where the name was seen, not what a
    password holder claimed."""
    if not myip:
        return peer
    try:
        address = parse_peer(canonical_address(myip))
    except ValueError:
        raise Dyndns2Refused(400, "badagent", "myip '%s' is not an IPv4 or IPv6 address"
                             % printable(myip))
    if address != peer and not trust_myip:
        raise Dyndns2Refused(403, "badagent", "myip %s is not the address this request comes "
                                              "from (%s), and dyndns2_trust_myip is off"
                             % (address, peer))
    return address
