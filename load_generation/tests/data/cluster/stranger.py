"""A stranger on the master's network: it speaks Locust's protocol (as
Locust's own worker does, with Locust's own classes) but holds no cluster key.
It says it is ready, then reports 500 failed requests of `GET /forged` every
half second, with heartbeats, for SECONDS. Used by tests/e2e/cluster_key.rs.

    python stranger.py HOST PORT SECONDS
"""

import sys
import time

import locust
import zmq
from locust.rpc import Message
from locust.stats import RequestStats

host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
name = "stranger_1"
context = zmq.Context()
socket = context.socket(zmq.DEALER)
socket.setsockopt(zmq.IDENTITY, name.encode())
socket.linger = 0
socket.connect(f"tcp://{host}:{port}")


def send(message):
    """Without waiting: a DEALER that never finished a handshake has no peer
    to queue for, and a blocking send would wait for one for ever."""
    try:
        socket.send(message.serialize(), zmq.NOBLOCK)
    except zmq.Again:
        pass


send(Message("client_ready", locust.__version__, name))
end = time.time() + seconds
while time.time() < end:
    stats = RequestStats()
    for _ in range(500):
        stats.log_request("GET", "/forged", 10, 0)
        stats.log_error("GET", "/forged", "forged by a stranger")
    data = {
        "stats": stats.serialize_stats(),
        "stats_total": stats.total.get_stripped_report(),
        "errors": stats.serialize_errors(),
        "user_count": 0,
        "user_classes_count": {},
    }
    send(Message("stats", data, name))
    send(Message("heartbeat", {"state": "running", "current_cpu_usage": 1.0, "current_memory_usage": 1}, name))
    time.sleep(0.5)
# Closed before exit: a context with an open socket would wait for it for ever.
socket.close(linger=0)
context.term()
