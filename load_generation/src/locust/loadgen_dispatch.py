"""How a master shares each class's users and rate between its workers.

Pure (no Locust, no sockets, no clock of its own): the master calls `shares`
every sample and at every phase, and sends each worker what it returns.

Imported by path, like every sibling of the harness (see `harness.sibling`).
"""

# How far a move of users between workers may take a class from its target.
MAKE_BEFORE_BREAK_SLACK = 0.05
# How long after users stop before more are started above target.
BREAK_SETTLE_S = 1.5


def shares(targets, workers, told_before, reported_by, last_break, now_s):
    """Each worker's users per class (worker id -> class -> users), moved from
    what each was told (`told_before`) towards an even split of `targets`,
    make-before-break.

    Users start on receiving workers before they stop on giving ones, in steps
    that keep every class within 5% of its target (at least one user): a
    receiver is raised while the users that may be running (the larger of
    what a worker was told and what it reports, `reported_by`) stay within
    target + slack; a giver is lowered while the users surely running (the
    smaller of the two) stay at or above target. A lost worker's users are not
    running, so the others take them at once; a ramp moves every worker the
    same way, so it is never held back. `last_break` (class -> when users last
    stopped, on the clock of `now_s`) is updated in place.
    """
    desired = {w: {} for w in workers}
    for offset, (name, count) in enumerate(sorted(targets.items())):
        base, extra = divmod(count, len(workers))
        for i, w in enumerate(workers):
            # Rotate who gets the extra users, so small counts spread out.
            desired[w][name] = base + (1 if (i - offset) % len(workers) < extra else 0)
    told = {w: dict(told_before.get(w, {})) for w in workers}
    for name, target in targets.items():
        slack = max(1, int(target * MAKE_BEFORE_BREAK_SLACK))
        reported = {w: reported_by[w].get(name, 0) for w in workers}
        now = {w: told[w].get(name, 0) for w in workers}
        maybe = sum(max(now[w], reported[w]) for w in workers)
        # A stopped user's last request may be seen up to 1.5 s later: the
        # slack is used again only after that, so the target sees no more.
        settled = now_s - last_break.get(name, 0.0) >= BREAK_SETTLE_S
        cap = target + (slack if settled else 0)
        for w in workers:
            if desired[w][name] > now[w]:
                step = min(desired[w][name] - now[w], max(0, cap - maybe))
                maybe += max(now[w] + step, reported[w]) - max(now[w], reported[w])
                now[w] += step
        surely = sum(min(now[w], reported[w]) for w in workers)
        for w in workers:
            if desired[w][name] < now[w]:
                held = min(now[w], reported[w])
                spare = max(0, surely - target)
                step = min(now[w] - desired[w][name], max(0, now[w] - held + spare))
                surely -= held - min(now[w] - step, reported[w])
                now[w] -= step
                if step:
                    last_break[name] = now_s
        for w in workers:
            told[w][name] = now[w]
    return told


def worker_rates(rates_by_class, told, worker):
    """A worker's part of each class's rate: as its part of the class's
    users. A worker with none of them still gets the class, at 0: its
    users of the class (still stopping) wait for start times, none come.
    Before any user is told (a rate phase's first moments), the workers
    share the rate evenly: start times wait for the users being started."""
    rates = {}
    for name, rate in rates_by_class.items():
        total = sum(users.get(name, 0) for users in told.values())
        mine = told[worker].get(name, 0) / total if total else 1 / len(told)
        rates[name] = dict(rate, per_s=float(rate["per_s"]) * mine)
    return rates

