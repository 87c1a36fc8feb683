"""What a sample says: Locust's figures since the last sample.

Locust's statistics are cumulative (a worker's reset at every report to its
master, which adds them up); a sample carries the requests, failures,
response times, errors and exceptions of its own interval, as differences
from what the last sample saw, kept here.

Imported by path, like every sibling of the harness (see `harness.py`).
"""

import time


class SinceLast:
    def __init__(self):
        self.previous = {}  # (name, method) -> (requests, failures, total ms, {ms: count})
        self.previous_errors = {}
        self.previous_exceptions = {}

    def requests(self, stats, open_model):
        """Each request name's requests, failures and response times since the
        last sample (the names that had none are left out)."""
        found = []
        for (name, method), entry in list(stats.entries.items()):
            before = self.previous.get((name, method)) or (0, 0, 0, {})
            n, f = entry.num_requests, entry.num_failures
            total = entry.total_response_time
            times = dict(entry.response_times)
            if n == before[0] and f == before[1]:
                continue
            histogram = [[ms, c - before[3].get(ms, 0)] for ms, c in times.items() if c != before[3].get(ms, 0)]
            found.append(
                {
                    "method": method,
                    "name": name,
                    "requests": n - before[0],
                    "failures": f - before[1],
                    "total_ms": total - before[2],
                    "histogram": histogram,
                    "intended_histogram": open_model.take_intended(name, method),
                }
            )
            self.previous[(name, method)] = (n, f, total, times)
        return found

    def errors(self, stats):
        found = []
        for key, error in list(stats.errors.items()):
            delta = error.occurrences - self.previous_errors.get(key, 0)
            if delta > 0:
                found.append({"method": error.method, "name": error.name, "error": str(error.error), "occurrences": delta})
                self.previous_errors[key] = error.occurrences
        return found

    def exceptions(self, runner, error_types):
        """The users' exceptions since the last sample; `error_types` names an
        exception's type by its traceback (Locust keeps only its message)."""
        found = []
        for key, row in list(runner.exceptions.items()):
            delta = row["count"] - self.previous_exceptions.get(key, 0)
            if delta > 0:
                kind = error_types.get(row["traceback"])
                message = f"{kind}: {row['msg']}" if kind else row["msg"]
                found.append({"message": message, "traceback": row["traceback"], "count": delta})
                self.previous_exceptions[key] = row["count"]
        return found


def forget_old_seconds(stats, keep_seconds):
    """Drops Locust's per-second request counts older than `keep_seconds`.

    Locust keeps, for every request name and the total, a count per second
    of the run (`num_reqs_per_sec`, `num_fail_per_sec`) and never drops one:
    over a week of one name that is 600,000 keys, tens of MB. Only the last
    few seconds are ever read (`current_rps`, for Locust's web UI, which
    loadgen does not run); loadgen's own counts come from the cumulative
    totals that `sample` differences. Workers reset their stats at every
    report to the master, so this matters in the local and master modes.
    """
    horizon = int(time.time()) - keep_seconds
    for entry in [stats.total, *list(stats.entries.values())]:
        for per_second in (entry.num_reqs_per_sec, entry.num_fail_per_sec):
            for second in [t for t in per_second if t < horizon]:
                del per_second[second]
