"""Tabulating, apart from measuring: the summary (medians, paired ratios) and
the table, both computed from the raw runs that `bench/results.json` keeps, so
`bench/run --report-only` redraws them without a rerun.

A section is one module with `summarize(res, s)` and `table(s, meta, w)`;
adding one means listing it in `SECTIONS` (and measuring it in `cli.py`).
"""

from . import fidelity, overhead, scale, shape, soak, startstop
from . import open as open_model  # not `open`: that would hide the builtin here

# In table order.
SECTIONS = [fidelity, overhead, startstop, scale, soak, open_model, shape]


def summarize(res):
    """The raw runs of every section -> medians and ratios."""
    s = {}
    for section in SECTIONS:
        section.summarize(res, s)
    return s


def table(s, meta):
    """The summary as the text table `bench/run` prints."""
    out = []
    w = out.append
    w("")
    w(f"loadgen benchmarks ({meta['mode']}, {meta['date']}): {meta['cpus']} CPUs ({meta['cpu_model']}), "
      f"Locust {meta['locust_version']}, {meta['server']}; medians of {meta['reps']} reps ({meta['overhead_reps']} overhead pairs); "
      f"load average before/after {meta['loadavg_before']} / {meta.get('loadavg_after', '?')}")
    for section in SECTIONS:
        section.table(s, meta, w)
    left = 0
    for sec in ("fidelity", "start_stop"):
        for v in s.get(sec, {}).values():
            left += v.get("left_behind", 0)
    left += s.get("open", {}).get("left_behind", 0)
    for v in (s.get("simultaneous") or {}).values():
        left += v.get("left_behind", 0)
    for variants in list(s.get("saturation", {}).values()) + list(s.get("scale", {}).values()):
        for v in variants.values():
            left += v.get("left_behind", 0)
    w("")
    w(f"processes left behind after their runs (all sections): {left}")
    return "\n".join(out)
