"""The harness's stdout and stderr, which never block the users.

Imported by path, like every sibling of the harness (see `harness.sibling`).
"""

import os
import time

import gevent
import gevent.event


class OutputPump:
    """The harness's stdout and stderr (the users' prints, logging, Locust's
    warnings): writes never block.

    A write to a full pipe blocks the whole process, every user with it, for as
    long as loadgen takes to read: a locustfile printing megabytes per second
    would hold the load at the pace loadgen reads. Here a write only appends to
    a buffer (LIMIT bytes at most; what does not fit is dropped, counted and
    said), and a greenlet moves the buffer into the pipe as it drains.

    The greenlet writes through one of gevent's native threads, where a write
    may block without holding up the users. The pipe itself stays blocking: a
    subprocess the users start inherits it as its stdout and stderr, and a
    program handed a non-blocking pipe fails with EAGAIN when it fills."""

    LIMIT = 1 << 20
    # How often the dropped bytes are said, at most.
    SAY_EVERY_S = 5.0

    def __init__(self, fd, say):
        self.fd = fd
        # Says a warning to loadgen (the protocol's `warning` event).
        self.say = say
        self.pending = bytearray()
        # Bytes at the front of `pending` that the native thread is writing.
        self.in_flight = 0
        self.dropped = 0
        self.said_dropped = 0
        self.said_at = 0.0
        self.wake = gevent.event.Event()
        gevent.spawn(self.drain)

    # The parts of a text file that print, logging and tracebacks use.
    encoding = "utf-8"
    errors = "replace"

    def write(self, text):
        data = text.encode("utf-8", "replace") if isinstance(text, str) else bytes(text)
        if len(self.pending) + len(data) > self.LIMIT:
            self.dropped += len(data)
        else:
            self.pending += data
        self.wake.set()
        return len(text)

    def flush(self):
        pass

    @property
    def buffer(self):
        """`sys.stderr.buffer.write(b"...")` takes bytes: so does `write`."""
        return self

    def isatty(self):
        return False

    def fileno(self):
        return self.fd

    def drain(self):
        pool = gevent.get_hub().threadpool
        while True:
            self.wake.wait()
            self.wake.clear()
            while self.pending:
                chunk = bytes(self.pending[:65536])
                self.in_flight = len(chunk)
                try:
                    written = pool.apply(os.write, (self.fd, chunk))
                except OSError:  # loadgen is gone: nothing to print to
                    self.pending.clear()
                    break
                finally:
                    self.in_flight = 0
                del self.pending[:written]
            self.say_dropped()

    def say_dropped(self):
        if self.dropped == self.said_dropped or time.monotonic() - self.said_at < self.SAY_EVERY_S:
            return
        self.said_dropped, self.said_at = self.dropped, time.monotonic()
        self.say(
            f"the locustfile printed more than loadgen could read: {self.dropped / 1e6:.1f} MB of its "
            "output dropped so far (its users were not held up). Print less, or log at WARNING and above only"
        )

    def finish(self, deadline_s):
        """Writes what is buffered, waiting for the pipe up to `deadline_s`."""
        end = time.monotonic() + deadline_s
        # A chunk the native thread is writing is its to finish: written twice
        # otherwise.
        del self.pending[: self.in_flight]
        while self.pending and time.monotonic() < end:
            try:
                written = os.write(self.fd, self.pending[:65536])
            except OSError:
                return
            del self.pending[:written]
