#!/usr/bin/env python3
"""Bad clients for scripts/load-test.sh, and a /health prober, over raw sockets (stdlib only).

    hostile_clients.py attack KIND HOST:PORT SECONDS [--count N] [--inputs N] [--from ADDR]
    hostile_clients.py health HOST:PORT SECONDS

KIND is one of
  stalled-head    N connections that send half a request head, then wait (the server's head
                  timeout answers 408 and closes; the client comes back at once)
  stalled-body    N connections that send a head with Content-Length: 100 and one byte, then wait
                  (408 after the body timeout; back at once)
  never-reading   N connections that pipeline 8 requests of --inputs texts and never read (closed
                  by the write timeout; back at once)
  idle-sockets    N connections that send nothing, opened once (evicted at the connection cap,
                  or closed by the keep-alive timeout; not reopened)
  idle-churn      the same, but each one closed is reopened at once
  flood           N connections that send requests of --inputs texts back to back, reading each
                  answer and ignoring Retry-After
Each kind keeps its N connections up for SECONDS, then prints one line: connections opened and
the status lines it saw, counted. --from binds the connections to a local address (on Linux any
of 127.0.0.0/8 reaches the loopback), so the server sees the attack as a client of its own.

`health` opens a new connection for GET /health every 50 ms for SECONDS and prints the latency
p50, p99 and max in ms and the failures (no answer within 5 s, or not 200).
"""

import json
import socket
import sys
import threading
import time
from collections import Counter

COUNTS = Counter()
LOCK = threading.Lock()
SOURCE = None  # --from: the local address the attack's connections are bound to


def count(key):
    with LOCK:
        COUNTS[key] += 1


def post(host, body):
    head = (
        f"POST /v1/embeddings HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def body_of(inputs):
    texts = [f"Open the document number {i} in a new window, then save it" for i in range(inputs)]
    return json.dumps({"input": texts}).encode()


def connect(addr):
    host, port = addr.rsplit(":", 1)
    source = (SOURCE, 0) if SOURCE else None
    s = socket.create_connection((host, int(port)), timeout=60, source_address=source)
    count("connections")
    return s


def wait_for_close(s, deadline):
    """Reads until the server closes (or the run ends); counts the status line it sent."""
    s.settimeout(0.5)
    first = b""
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            break
        if not chunk:
            break
        first = first or chunk
    if first:
        count(first.split(b"\r\n", 1)[0].decode(errors="replace"))
    elif time.monotonic() < deadline:
        count("closed without an answer")


def stalled(addr, deadline, opener, again=True):
    while time.monotonic() < deadline:
        try:
            s = connect(addr)
            s.sendall(opener)
            wait_for_close(s, deadline)
            s.close()
            if not again:
                break
        except OSError as e:
            count(f"error {type(e).__name__}")
            time.sleep(0.05)


def never_reading(addr, deadline, inputs):
    request = post(addr, body_of(inputs)) * 8
    while time.monotonic() < deadline:
        try:
            s = connect(addr)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(1)
            sent = 0
            while sent < len(request) and time.monotonic() < deadline:
                try:
                    sent += s.send(request[sent:])
                except socket.timeout:
                    continue
            # Never reads: waits until the server gives up on it (TCP state leaves ESTABLISHED;
            # a peek cannot tell, the unread answer sits before the FIN).
            while time.monotonic() < deadline and tcp_state(s) == ESTABLISHED:
                time.sleep(0.2)
            count("dropped by the server" if time.monotonic() < deadline else "held to the end")
            s.close()
        except OSError as e:
            count(f"error {type(e).__name__}")
            time.sleep(0.05)


ESTABLISHED = 1


def tcp_state(s):
    """The socket's Linux TCP state (the first byte of TCP_INFO)."""
    return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def flood(addr, deadline, inputs):
    request = post(addr, body_of(inputs))
    while time.monotonic() < deadline:
        try:
            s = connect(addr)
            reader = s.makefile("rb")
            while time.monotonic() < deadline:
                s.sendall(request)
                status = reader.readline().decode(errors="replace").strip()
                if not status:
                    count("closed by the server")
                    break
                length = 0
                while (line := reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                reader.read(length)
                count(status)
            s.close()
        except OSError as e:
            count(f"error {type(e).__name__}")
            time.sleep(0.05)


def attack(kind, addr, seconds, n, inputs):
    deadline = time.monotonic() + seconds
    openers = {
        "stalled-head": lambda: stalled(addr, deadline, b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n"),
        "stalled-body": lambda: stalled(
            addr, deadline, post(addr, b"x" * 100)[: -100] + b"{"
        ),
        "idle-sockets": lambda: stalled(addr, deadline, b"", again=False),
        "idle-churn": lambda: stalled(addr, deadline, b""),
        "never-reading": lambda: never_reading(addr, deadline, inputs),
        "flood": lambda: flood(addr, deadline, inputs),
    }
    if kind not in openers:
        sys.exit(f"unknown attack {kind!r}; known: {', '.join(openers)}")
    threads = [threading.Thread(target=openers[kind], daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()) + 10)
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(COUNTS.items()))
    print(f"{kind} x{n}: {summary}")


def health(addr, seconds):
    host, port = addr.rsplit(":", 1)
    request = f"GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n".encode()
    latencies, failures = [], 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        start = time.monotonic()
        try:
            with socket.create_connection((host, int(port)), timeout=5) as s:
                s.sendall(request)
                answer = s.makefile("rb").readline()
            if b" 200 " in answer:
                latencies.append((time.monotonic() - start) * 1000)
            else:
                failures += 1
        except OSError:
            failures += 1
        time.sleep(max(0.0, 0.05 - (time.monotonic() - start)))
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")
    print(f"HEALTH\t{pick(0.5):.1f}\t{pick(0.99):.1f}\t{pick(1.0):.1f}\t{len(latencies)}\t{failures}")


def main(argv):
    if len(argv) >= 4 and argv[0] == "attack":
        opts = dict(zip(argv[4::2], argv[5::2]))
        global SOURCE
        SOURCE = opts.get("--from")
        attack(argv[1], argv[2], float(argv[3]), int(opts.get("--count", 16)), int(opts.get("--inputs", 32)))
    elif len(argv) == 3 and argv[0] == "health":
        health(argv[1], float(argv[2]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
