"""The original ipupdate client's behaviour, reimplemented for the upgrade tests.

Not part of ipupdate: it stands in for the clients people already run, so the
tests can show that those keep working against the new server. It does what
the original does on the wire, and nothing more (docs/PROTOCOL.md, and the
facts of the original): no nonce, update fields sent unencoded, the reply
taken verbatim, plain HTTP, `Response: <body>` on 200, the status and reason
on anything else, and exit status 0 either way.

usage: original_client.py -w HOST[:PORT] -p PASSWORD [-u URL] [-n NAME]
"""

import getopt
import hashlib
import hmac
import http.client
import sys
import time


def mac(password, message):
    return hmac.new(password.encode(), message.encode(), hashlib.sha256).hexdigest()


def post(host, url, body):
    connection = http.client.HTTPConnection(host, timeout=10)
    connection.request("POST", "/" + url, body=body,
                       headers={"Content-type": "application/x-www-form-urlencoded"})
    response = connection.getresponse()
    return response.status, response.reason, response.read().decode()


def main(argv):
    options = dict(getopt.getopt(argv, "w:p:u:n:")[0])
    host, password = options["-w"], options["-p"]
    url, name = options.get("-u", "ipupdate.php"), options.get("-n", "")

    ts = "%d" % int(time.time())
    status, reason, body = post(host, url, "type=ip&ts=" + ts)
    if status != 200:
        print(status, reason)
        return 0
    reply = dict(pair.split("=", 1) for pair in body.split("&"))  # verbatim: no strip
    if reply.get("ts") != ts or reply.get("h") != mac(password, "ip=%s&ts=%s" % (
            reply.get("ip"), ts)):
        print("Invalid response from server")
        return 0

    ts = "%d" % int(time.time())
    message = "type=update&ip=%s&name=%s&ts=%s" % (reply["ip"], name, ts)
    status, reason, body = post(host, url, message + "&h=" + mac(password, message))
    if status != 200:
        print(status, reason)
        return 0
    print("Response: " + body)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
