#!/usr/bin/env python3
"""floor_server.py - the stdlib floor for `serve`: a bare http.server
ThreadingHTTPServer that answers every GET and POST with a fixed body.

It does the least any http.server-based server can do per request (parse the
request line and headers, read the body, write one response), with the same
transport discipline as `ipupdate_server.py serve`: HTTP/1.1 keep-alive, the
head and body written in one send, TCP_NODELAY. So `serve` / floor is the cost
of our application alone, not of the stdlib server we share.

  python3 bench/floor_server.py [--port 0]    # prints "floor: serving on http://127.0.0.1:PORT/"
"""

import http.server
import socket
import sys

BODY = b"ip=127.0.0.1&ts=1&h=" + b"0" * 64


class FixedHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        http.server.BaseHTTPRequestHandler.setup(self)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY)

    do_POST = do_GET

    def log_message(self, *args):
        pass


def main(argv):
    port = int(argv[argv.index("--port") + 1]) if "--port" in argv else 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), FixedHandler)
    server.daemon_threads = True
    print("floor: serving on http://127.0.0.1:%d/" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
