"""The master-worker link, keyed: ZeroMQ's CURVE security on Locust's sockets.

Locust's master accepts any process that speaks its protocol, and a worker
obeys whatever answers at its --master address; everything between them (the
target's address, each worker's share, every statistic) crosses the network in
clear. Anyone who reached the master's port could join and report forged
figures, and the report, the metrics and the verdict would carry them.

With a cluster key (`--cluster-key-file`, `LOADGEN_CLUSTER_KEY`), both ends
derive one CURVE key pair from it. The master's socket is a CURVE server with
that pair; each worker is a CURVE client that expects the pair's public key
from the master and presents the same pair as its own. So every message is
encrypted and authenticated both ways:

- a peer without the key cannot finish the handshake (it cannot know the
  master's public key, which is derived from the secret), and one that
  presents another key is refused by the ZAP handler below;
- a master without the key cannot finish a worker's handshake, so it can
  never give that worker users;
- either side says who was refused and from where, and goes on.

Installed by the harness before it creates its runner (`install`): Locust
makes its sockets in `locust.rpc.zmqrpc.BaseSocket.__init__`, and CURVE options
must be set between that and the socket's bind or connect, which is where the
patch puts them. This file is imported by path, like loadgen_open.py.
"""

import hashlib
import hmac
import os
import socket as pysocket

import gevent
import zmq.green as zmq
from zmq.utils import z85
from zmq.utils.monitor import recv_monitor_message

# Domain-separates the derivation: the same secret used for something else
# gives another key.
DERIVATION = b"loadgen cluster key 1\0"
# Where libzmq asks its ZAP handler (RFC 27) about each CURVE handshake.
ZAP_ENDPOINT = "inproc://zeromq.zap.01"
HANDSHAKE_FAILED = (
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)


def key_pair(key):
    """The CURVE (public, secret) pair, Z85-encoded, that a cluster key names."""
    secret = z85.encode(hashlib.sha256(DERIVATION + key.encode()).digest())
    return zmq.curve_public(secret), secret


def install(key, role, say):
    """Makes every socket Locust opens from now on keyed: the master's (role
    "master") a CURVE server, a worker's a CURVE client. `say(text)` reports a
    refused peer (once a minute at most for each)."""
    from locust.rpc import zmqrpc

    public, secret = key_pair(key)
    original = zmqrpc.BaseSocket.__init__

    def keyed(self, sock_type, ipv4_only):
        original(self, sock_type, ipv4_only)
        s = self.socket
        s.curve_publickey = public
        s.curve_secretkey = secret
        refusals = Refusals(say)
        if role == "master":
            s.curve_server = True
            serve_zap(s.context, public, refusals)
            watch(s, refusals, joining=True)
        else:
            s.curve_serverkey = public
            watch(s, refusals, joining=False)

    zmqrpc.BaseSocket.__init__ = keyed


def serve_zap(context, public, refusals):
    """Answers libzmq's question about each CURVE handshake that got as far as
    the client's key: only this cluster's key passes. (A peer that does not
    know the master's public key fails before that: see `watch`.)"""
    zap = context.socket(zmq.REP)
    zap.linger = 0
    zap.bind(ZAP_ENDPOINT)
    expected = z85.decode(public)

    def answer():
        while True:
            frames = zap.recv_multipart()
            version, request_id, _domain, address, _identity, mechanism = frames[:6]
            credentials = frames[6:]
            ok = mechanism == b"CURVE" and bool(credentials) and hmac.compare_digest(credentials[0], expected)
            if not ok:
                refusals.another_key(address.decode(errors="replace"))
            status = (b"200", b"OK") if ok else (b"400", b"not this cluster's key")
            zap.send_multipart([version, request_id, *status, b"", b""])

    gevent.spawn(answer)


def watch(s, refusals, joining):
    """Says the handshakes that fail on `s`: on the master, a peer that tried
    to join without the key (a plain Locust worker, or another key); on a
    worker, a master that does not answer to this cluster's key.

    libzmq's monitor names a connection (its descriptor) when it is accepted
    (or made) and when it ends, but not when its handshake succeeds or fails.
    Handshakes end in the order their connections began (one I/O thread), so
    each success or failure is matched to the oldest connection still in its
    handshake; a connection that ends while still in it (the peer gave up
    first) failed too. The peer's address is read when the connection is
    accepted, if it is still open then; if not, the kernel still lists the
    connection this side closed, in TIME_WAIT."""
    monitor = s.get_monitor_socket(
        zmq.EVENT_ACCEPTED
        | zmq.EVENT_CONNECTED
        | zmq.EVENT_DISCONNECTED
        | zmq.EVENT_HANDSHAKE_SUCCEEDED
        | HANDSHAKE_FAILED
    )

    def follow():
        peers = {}  # descriptor -> the peer's address, where it could be read
        in_handshake = []  # descriptors, oldest first
        failed = set()
        closed = ClosedPeers()
        while True:
            try:
                event = recv_monitor_message(monitor)
            except zmq.ZMQError:
                return  # the socket was closed
            kind, value = event["event"], event["value"]
            if kind in (zmq.EVENT_ACCEPTED, zmq.EVENT_CONNECTED):
                peers[value] = peer_of(value)
                in_handshake.append(value)
                closed.port = port_of(event["endpoint"]) if joining else None
            elif kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                if in_handshake:
                    in_handshake.pop(0)
            elif kind & HANDSHAKE_FAILED:
                if in_handshake:
                    failed.add(in_handshake.pop(0))
            elif kind == zmq.EVENT_DISCONNECTED:
                peer = peers.pop(value, None)
                refused = value in failed or value in in_handshake
                failed.discard(value)
                if value in in_handshake:
                    in_handshake.remove(value)
                if not refused:
                    continue
                if joining:
                    refusals.worker(peer or closed.newest())
                else:  # a worker has one peer: its master
                    refusals.master(event["endpoint"].decode(errors="replace").removeprefix("tcp://"))

    gevent.spawn(follow)


class Refusals:
    """Says each refused peer once a minute at most, with how many tries it
    made meanwhile: a refused ZeroMQ peer reconnects every few ms."""

    EVERY_S = 60.0

    def __init__(self, say):
        self.say = say
        self.last = {}  # host -> (when said, tries since)

    def worker(self, peer):
        host = peer.rsplit(":", 1)[0] if peer else "an address already gone"
        if self.due(host):
            self.say(
                f"refused a process that tried to join without this cluster's key, from {peer or host} "
                f"(a plain Locust worker, or one given another key){self.tries(host)}: it gets no users, "
                "and nothing it sends is counted"
            )

    def another_key(self, host):
        if self.due(("another key", host)):
            self.say(
                f"refused a Locust worker from {host}: it presented another cluster key{self.tries(host)}"
            )

    def master(self, endpoint):
        if self.due(endpoint):
            self.say(
                f"the Locust master at {endpoint} does not answer to this worker's cluster key "
                f"(it has another key, or none){self.tries(endpoint)}: this worker takes no users from it"
            )

    def due(self, who):
        now = gevent.get_hub().loop.now()
        said, tries = self.last.get(who, (None, 0))
        if said is not None and now - said < self.EVERY_S:
            self.last[who] = (said, tries + 1)
            return False
        self._tries = tries
        self.last[who] = (now, 0)
        return True

    def tries(self, who):
        return f" ({self._tries} more tries in the last minute)" if self._tries else ""


def port_of(endpoint):
    """The port of a `tcp://HOST:PORT` endpoint (bytes), or None."""
    try:
        return int(endpoint.decode().rsplit(":", 1)[1])
    except (ValueError, IndexError, UnicodeDecodeError):
        return None


class ClosedPeers:
    """The peers of connections this side closed on `port`, as the kernel
    lists them (TIME_WAIT, for a minute after the close, in this process's
    network namespace): each is named once, the newest first."""

    TIME_WAIT = "06"

    def __init__(self):
        self.port = None
        self.named = set()

    def newest(self):
        if self.port is None:
            return None
        fresh = [p for p in self.listed() if p not in self.named]
        self.named.update(fresh)
        return fresh[-1] if fresh else None

    def listed(self):
        peers = []
        for path in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(path) as table:
                    rows = table.read().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                fields = row.split()
                if len(fields) < 4 or fields[3] != self.TIME_WAIT:
                    continue
                local, remote = fields[1], fields[2]
                if int(local.rsplit(":", 1)[1], 16) == self.port:
                    peers.append(decode_address(remote))
        return peers


def decode_address(text):
    """`0C01C80A:A1B2` (an address of /proc/net/tcp, bytes in host order) ->
    `10.200.1.12:41394`; IPv6 likewise, a v4-mapped one as its IPv4."""
    address, port = text.rsplit(":", 1)
    raw = bytes.fromhex(address)
    # Each 32-bit word is in the host's (little-endian) order.
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    if len(raw) == 4:
        host = pysocket.inet_ntop(pysocket.AF_INET, raw)
    else:
        host = pysocket.inet_ntop(pysocket.AF_INET6, raw).removeprefix("::ffff:")
    return f"{host}:{int(port, 16)}"


def peer_of(fd):
    """The address at the other end of a connection's file descriptor, if it
    is still open (read from a copy of the descriptor, never the socket's own;
    the family is the descriptor's)."""
    try:
        copy = pysocket.socket(fileno=os.dup(fd))
    except OSError:
        return None
    try:
        host, port = copy.getpeername()[:2]
        return f"{host.removeprefix('::ffff:')}:{port}"
    except OSError:
        return None
    finally:
        copy.close()
