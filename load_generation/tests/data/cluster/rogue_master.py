"""A rogue master: it listens where the workers look for their master, holds
no cluster key, and records who says anything to it. Used by
tests/e2e/cluster_key.rs.

    python rogue_master.py HOST PORT SECONDS   (prints the identities heard, one a line)
"""

import sys
import time

import zmq

host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
context = zmq.Context()
socket = context.socket(zmq.ROUTER)
socket.linger = 0
socket.bind(f"tcp://{host}:{port}")
heard = set()
end = time.time() + seconds
while time.time() < end:
    if socket.poll(100):
        identity, *_ = socket.recv_multipart()
        heard.add(identity.decode(errors="replace"))
# Closed before exit: a context with an open socket would wait for it for ever.
socket.close(linger=0)
context.term()
for identity in sorted(heard):
    print(identity, flush=True)
