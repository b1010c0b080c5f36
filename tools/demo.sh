#!/bin/sh
# make demo: the whole system, locally, in a throwaway directory.
# A server on 127.0.0.1, the real client twice (a new address, then the same
# address again one second later), the stored history, and the server stopped.
set -eu
PYTHON=${PYTHON:-python3}
work=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

key=$("$PYTHON" ipupdate_server.py genkey)
printf '[ipupdate]\ndatabase = ipupdate.sqlite\n\n[names]\ndemo = %s\n' "$key" > "$work/ipupdate.conf"
(umask 077 && printf '%s\n' "$key" > "$work/demo.key")

"$PYTHON" ipupdate_server.py serve --config "$work/ipupdate.conf" --port 0 > "$work/serve.out" &
server_pid=$!
for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    grep -q 'serving on' "$work/serve.out" 2>/dev/null && break
    sleep 0.25
done
url=$(sed -n 's/.*serving on \(http[^ ]*\).*/\1/p' "$work/serve.out")
[ -n "$url" ] || { echo "demo: the server did not start" >&2; exit 1; }
echo "== server: $url (config and database in a temporary directory)"

client() {
    echo "\$ ipupdater.py --url $url -n demo --password-file demo.key"
    "$PYTHON" ipupdater.py --url "$url" -n demo --password-file "$work/demo.key"
}
echo
echo "== 1. the client asks the server which address it sees, then sends a signed update:"
client
echo
echo "== 2. one second later, the same address: the server raises the time of the same"
echo "      period instead of adding one (a second run within one second is a replay):"
sleep 1
client
echo
echo "== 3. what the server stored (table log_ipv4 of its SQLite database):"
"$PYTHON" - "$work/ipupdate.sqlite" <<'EOF'
import sqlite3, sys, time
rows = sqlite3.connect(sys.argv[1]).execute(
    "SELECT id, name, ip, first_seen, timestamp FROM log_ipv4 ORDER BY id").fetchall()
def utc(ts):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))
print("%-3s %-5s %-10s %-20s %s" % ("id", "name", "address", "first seen (UTC)",
                                    "last seen (UTC)"))
for row_id, name, ip, first, last in rows:
    print("%-3s %-5s %-10s %-20s %s" % (row_id, name, ip, utc(first), utc(last)))
EOF
echo
echo "== 4. the viewer, as text: name, family, address, since, last seen, how long held"
echo "\$ getip_cgi.py --history 5"
"$PYTHON" getip_cgi.py --config "$work/ipupdate.conf" --history 5
echo
echo "== 5. the same through the server's viewer, as a script reads it:"
echo "\$ curl '${url}?name=demo&format=ip'"
"$PYTHON" -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode(), end="")' "${url}?name=demo&format=ip"
echo
echo "Next: README.md, 'Use it' (a real server), and 'make test'."
