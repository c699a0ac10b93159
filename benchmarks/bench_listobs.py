#!/usr/bin/env python
"""listobs on the large generated MS: time inside the task and peak memory.

    python benchmarks/bench_listobs.py               # benchmarks/data/large.ms (made if missing)
    python benchmarks/bench_listobs.py --ms X.ms --runs 5

Every run is a fresh Python process (so its peak RSS, ``ru_maxrss``, is that
of one listobs call plus the interpreter and imports); the time is measured
around the task call only, as CASA's 0.46 s figure is, with numpy and
python-casacore already imported (as casatools is in a CASA session; the
"cold" row includes those imports); the CPU time of the
task process and of its helper are shown too (on a loaded machine the wall
time says little, the CPU times say what an idle one would see).  The table shows the
median of N runs and the largest peak RSS (of the task process, and of the
forked helper that reads half of the columns).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CASA_SECONDS = 0.46      # CASA 6.7 listobs, inside the task, 906,000 rows / 1.4 GB
RSS_LIMIT_MB = 400.0

CHILD = r"""
import json, os, resource, sys, time
from casashell.logsink import casalog
casalog.setlogfile(os.devnull)
from casashell.tasks import listobs
kw = json.loads(sys.argv[2])
if not kw.pop("_cold", False):
    # CASA's figure is for a session where casatools (numpy, casacore) is
    # already loaded: load ours before timing too
    import numpy, casacore.tables, casacore.measures, casashell.ms.summary, casashell.ms.selection
def cpu(who):
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime
c0, h0 = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
t0 = time.perf_counter()
rec = listobs(vis=sys.argv[1], **kw)
t1 = time.perf_counter()
print("BENCH " + json.dumps({"seconds": t1 - t0, "rows": rec.get("numrecords", 0),
      "cpu": cpu(resource.RUSAGE_SELF) - c0, "helper_cpu": cpu(resource.RUSAGE_CHILDREN) - h0,
      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
      "helper_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0}))
"""

CASES = [
    ("listobs (defaults)", {}),
    ("listobs, helper forced", {"_env": {"CASASHELL_FORK": "1"}}),
    ("listobs, no helper process", {"_env": {"CASASHELL_NO_FORK": "1"}}),
    ("listobs, cold (+imports)", {"_cold": True}),
    ("listobs verbose=False", {"verbose": False}),
    ("listobs scan='1~3'", {"scan": "1~3"}),
]


def ensure_ms(path: str) -> str:
    """The MS at ``path``; made with benchmarks/make_ms.py (its defaults: the
    905,688-row, 1.5 GB benchmark MS) when missing."""
    if os.path.isdir(path):
        return path
    gen = os.path.join(HERE, "make_ms.py")
    if not os.path.exists(gen):
        sys.exit(f"{path} does not exist and {gen} (the MS generator) is missing")
    subprocess.run([sys.executable, gen, "--out", path], check=True)
    return path


def run_once(ms: str, kw: dict) -> dict:
    env = dict(os.environ)
    kw = dict(kw)
    env.update(kw.pop("_env", {}))
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", CHILD, ms, json.dumps(kw)],
                          capture_output=True, text=True, env=env, timeout=1800)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH "):
            return json.loads(line[6:])
    raise RuntimeError(f"listobs run failed: {proc.stderr.strip()[-2000:]}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ms", default=os.path.join(HERE, "data", "large.ms"))
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    ms = ensure_ms(args.ms)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(ms) for f in fs)
    print(f"MS: {ms} ({size / 1e9:.2f} GB)")
    print(f"{'case':28s} {'rows':>9s} {'median s':>9s} {'min s':>7s} {'peak RSS MB':>12s}"
          f" {'helper MB':>10s} {'CPU s':>6s} {'helper CPU s':>12s} {'CASA s':>7s}")
    ok = True
    for name, kw in CASES:
        runs = [run_once(ms, kw) for _ in range(args.runs)]
        secs = [r["seconds"] for r in runs]
        rss = max(r["rss_mb"] for r in runs)
        helper = max(r.get("helper_rss_mb", 0.0) for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        hcpu = statistics.median(r["helper_cpu"] for r in runs)
        casa = f"{CASA_SECONDS:.2f}" if not kw else "-"
        print(f"{name:28s} {runs[0]['rows']:9d} {statistics.median(secs):9.3f} "
              f"{min(secs):7.3f} {rss:12.0f} {helper:10.0f} {cpu:6.3f} {hcpu:12.3f} {casa:>7s}")
        if not kw:
            ok = (statistics.median(secs) <= CASA_SECONDS and rss < RSS_LIMIT_MB
                  and helper < RSS_LIMIT_MB)
    print(f"target: median <= {CASA_SECONDS} s and peak RSS < {RSS_LIMIT_MB:.0f} MB: "
          f"{'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
