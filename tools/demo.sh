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
client
sleep 1   # a second run within the same second would be refused as a replay
client

echo "== stored history: getip_cgi.py --history 5"
"$PYTHON" getip_cgi.py --config "$work/ipupdate.conf" --history 5
echo "== the same through the server's viewer: GET ${url}?format=json"
"$PYTHON" -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1] + "?format=json").read().decode())' "$url"
