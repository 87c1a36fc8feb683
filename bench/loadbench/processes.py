"""Processes: started with a tag, measured (CPU from /proc and rusage, peak RSS),
and found again and ended by pid when their run is over."""

import ctypes
import os
import resource
import signal
import subprocess
import time

from .common import TAG_VAR, TICK


def become_subreaper():
    """Orphaned descendants (Locust processes whose parent exited first) are
    reparented to us, so RUSAGE_CHILDREN counts their CPU once we reap them."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except Exception:
        return False


def tagged_pids(tag):
    """Live (non-zombie) processes whose environment carries TAG_VAR=tag."""
    needle = f"{TAG_VAR}={tag}".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and needle in env.split(b"\0"):
            pids.append(int(entry))
    return pids


def reap():
    """Reaps every exited child (including reparented orphans)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_tagged(tag, sig=signal.SIGKILL):
    pids = tagged_pids(tag)
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass
    return pids


def wait_gone(tag, limit):
    """Waits until no process carries the tag; returns the pids left after `limit`."""
    end = time.monotonic() + limit
    while True:
        left = tagged_pids(tag)
        if not left or time.monotonic() > end:
            return left
        reap()
        time.sleep(0.05)


def steady_state(samples):
    """Requests per CPU second of the generator in its steady state: from 2 s after
    the server sees the first request to 1 s before it sees the last, leaving out
    Python's start (imports) and the stop."""
    if len(samples) < 8:
        return None
    begin = next((i for i in range(1, len(samples)) if samples[i][1] - samples[i - 1][1] > 1), None)
    end = max((i for i in range(1, len(samples)) if samples[i][1] - samples[i - 1][1] > 1), default=None)
    if begin is None or end is None:
        return None
    begin, end = begin + 4, end - 2
    if end - begin < 4:
        return None
    (t0, r0, c0), (t1, r1, c1) = samples[begin], samples[end]
    requests = r1 - r0 - (end - begin)  # each sample's own status request
    return {"seconds": t1 - t0, "requests": requests, "cpu_s": c1 - c0,
            "req_per_s": requests / (t1 - t0), "req_per_cpu_s": requests / (c1 - c0) if c1 > c0 else None}


def proc_cpu(pid):
    """utime+stime of one process in seconds (works on a zombie not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return None


def proc_status_kb(pid, field):
    """A kB figure of /proc/PID/status (VmHWM, VmRSS), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def proc_hwm_kb(pid):
    return proc_status_kb(pid, "VmHWM") or 0


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def machine_busy():
    """(busy jiffies, steal jiffies) over all CPUs."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]] + [0] * 8
    idle = parts[3] + parts[4]
    return sum(parts[:8]) - idle, parts[7]


class Procs:
    """Every process the bench starts: tagged, in its own session, output to a file."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.tags = []
        self.n = 0

    def new_tag(self, name):
        self.n += 1
        tag = f"{name}-{os.getpid()}-{self.n}"
        self.tags.append(tag)
        return tag

    def spawn(self, cmd, tag, output, env=None, cwd=None, cpu=None):
        full_env = dict(os.environ)
        full_env[TAG_VAR] = tag
        full_env["NO_COLOR"] = "1"
        full_env.update(env or {})
        with open(output, "ab") as out:
            return subprocess.Popen(
                [str(c) for c in cmd],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=full_env,
                cwd=cwd or self.workdir,
                start_new_session=True,
                # Pinned to one CPU (inherited by all its children) when asked.
                preexec_fn=None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu})),
            )

    def cleanup(self):
        for tag in self.tags:
            kill_tagged(tag)
        reap()


def run_measured(procs, cmd, name, limit, env=None, server=None):
    """Runs a command to its end (bounded by `limit` s) and measures it.

    Returns wall seconds, the CPU of its whole process tree (RUSAGE_CHILDREN delta:
    we are a subreaper, so orphans are reaped by us), the CPU of the top process
    alone (read from /proc while it is a zombie), its peak RSS, nginx-independent
    machine load, and any processes left behind."""
    tag = procs.new_tag(name)
    output = procs.workdir / f"{name}.log"
    reap()
    cpu0 = children_cpu()
    busy0 = machine_busy()
    start = time.monotonic()
    p = procs.spawn(cmd, tag, output, env=env)
    own_cpu, hwm, tree_hwm, timed_out = None, 0, 0, False
    samples = []  # (monotonic s, server requests, CPU s of the live process tree)
    seen = set()  # every descendant seen: all must be gone (and reaped) before the CPU is read
    next_sample = start
    try:
        while True:
            if os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                own_cpu = proc_cpu(p.pid)
                break
            hwm = max(hwm, proc_hwm_kb(p.pid))
            if time.monotonic() >= next_sample:
                next_sample += 0.5
                tree = [p.pid] + descendants(p.pid)
                seen.update(tree[1:])
                # Each process's peak, added up: the tree's memory at its largest.
                tree_hwm = max(tree_hwm, sum(proc_hwm_kb(x) for x in tree))
                if server is not None:
                    samples.append((time.monotonic(), server.requests(), sum(proc_cpu(x) or 0 for x in tree)))
            if time.monotonic() - start > limit:
                timed_out = True
                kill_tagged(tag)
            time.sleep(0.1)
        p.wait()
        wall = time.monotonic() - start
        left = wait_gone(tag, 5.0)
        if left:
            kill_tagged(tag)
            wait_gone(tag, 2.0)
        # A process being killed loses its environment before it is gone, so the tag
        # alone can miss it: wait for every pid seen in the tree to disappear too.
        end = time.monotonic() + 5.0
        while any(os.path.exists(f"/proc/{pid}") for pid in seen) and time.monotonic() < end:
            reap()
            time.sleep(0.02)
        reap()
    finally:
        if p.poll() is None:
            kill_tagged(tag)
            p.wait()
    busy1 = machine_busy()
    return {
        "steady": steady_state(samples),
        "status_polls": len(samples),
        "wall_s": wall,
        "tree_cpu_s": children_cpu() - cpu0,
        "own_cpu_s": own_cpu,
        "own_hwm_mb": hwm / 1024,
        "tree_hwm_mb": tree_hwm / 1024,
        # (seconds from the start, server requests): for sections with their own window.
        "server_samples": [(t - start, r) for t, r, _ in samples],
        "machine_busy_cores": (busy1[0] - busy0[0]) / TICK / wall,
        "steal_cores": (busy1[1] - busy0[1]) / TICK / wall,
        "exit_code": p.returncode,
        "timed_out": timed_out,
        "left_behind": len(left),
        "output": str(output),
    }


def descendants(root):
    """The processes below `root` (by parent pid)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""
