#!/usr/bin/env python3
"""Forwards HTTP to the SCEP server and keeps every PKIOperation request body.

    record-proxy.py LISTEN-PORT UPSTREAM-BASE-URL OUT-DIR

Each PKIOperation is written as OUT-DIR/NNN-<endpoint>.req (the pkiMessage,
DER) and OUT-DIR/NNN-<endpoint>.rep (the server's answer), in arrival order.
"""
import base64, itertools, os, sys, threading, urllib.error, urllib.parse, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, upstream, out = int(sys.argv[1]), sys.argv[2].rstrip("/"), sys.argv[3]
counter, lock = itertools.count(1), threading.Lock()


class Proxy(BaseHTTPRequestHandler):
    def forward(self, body):
        url = upstream + self.path
        request = urllib.request.Request(url, data=body, method=self.command)
        if body is not None:
            request.add_header("Content-Type", self.headers.get("Content-Type", "application/x-pki-message"))
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                status, headers, data = reply.status, reply.headers, reply.read()
        except urllib.error.HTTPError as error:
            status, headers, data = error.code, error.headers, error.read()
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        if query.get("operation") == ["PKIOperation"]:
            message = body if body is not None else base64.b64decode(query["message"][0].replace(" ", "+"))
            endpoint = urllib.parse.urlparse(self.path).path.split("/")[2]
            with lock:
                n = next(counter)
            stem = os.path.join(out, "%03d-%s" % (n, endpoint))
            open(stem + ".req", "wb").write(message)
            open(stem + ".rep", "wb").write(data)
        self.send_response(status)
        for name in ("Content-Type",):
            if headers.get(name):
                self.send_header(name, headers.get(name))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.forward(None)

    def do_POST(self):
        self.forward(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Proxy).serve_forever()
