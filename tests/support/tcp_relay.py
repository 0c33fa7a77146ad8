#!/usr/bin/env python3
"""A TCP relay for outage tests: 127.0.0.1:PORT -> HOST:TPORT, one thread pair per connection.

usage: tcp_relay.py PORT HOST TPORT [DELAY_FILE]

Kill it to take the upstream away (connections refused); start it again on the same PORT to
bring it back (SO_REUSEADDR). A client whose upstream cannot be reached is closed at once.
With DELAY_FILE, each new connection reads a number of milliseconds from it and holds the
upstream's first answer back that long: a slow-but-alive server.
"""
import socket
import sys
import threading
import time

port, host, tport = int (sys.argv [1]), sys.argv [2], int (sys.argv [3])
delay_file = sys.argv [4] if len (sys.argv) > 4 else None


def pump (a, b, delay):
    try:
        first = True
        while True:
            d = a.recv (65536)
            if not d:
                break
            if first and delay:
                time.sleep (delay)
            first = False
            b.sendall (d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown (socket.SHUT_RDWR)
        except OSError:
            pass


def delay_s ():
    if not delay_file:
        return 0
    try:
        with open (delay_file) as f:
            return int (f.read ().strip () or 0) / 1000.0
    except (OSError, ValueError):
        return 0


srv = socket.socket ()
srv.setsockopt (socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind (("127.0.0.1", port))
srv.listen (64)
while True:
    c, _ = srv.accept ()
    try:
        u = socket.create_connection ((host, tport), timeout=2)
        u.settimeout (None)
    except OSError:
        c.close ()
        continue
    threading.Thread (target=pump, args=(c, u, 0), daemon=True).start ()
    threading.Thread (target=pump, args=(u, c, delay_s ()), daemon=True).start ()
