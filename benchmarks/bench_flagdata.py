#!/usr/bin/env python
"""flagdata benchmarks: time inside the task and peak RSS, each run in a fresh process.

    python benchmarks/bench_flagdata.py                  # benchmarks/data/large.ms
    python benchmarks/bench_flagdata.py --ms some.ms --runs 3
    python benchmarks/bench_flagdata.py --quick          # a small generated MS

Before every run of an operation that writes flags, the MS's flags are reset
from a version saved once at the start (outside the timed part), so each
run flags the same data from the same starting state.  The table compares
with CASA 6.7's figures for the 906,000-row 1.4 GB MS (from issue 5).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CASA = {"summary": 2.1, "manual antenna": 0.56, "clip ABS_ALL [0,2]": 7.9}

CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, {root!r})
MS = {ms!r}
from casashell.logsink import casalog
casalog.setlogfile(os.path.join({work!r}, 'bench.log'))
from casashell.tasks import flagdata
{setup}
t0 = time.perf_counter()
{body}
t1 = time.perf_counter()
print("BENCH " + json.dumps({{"seconds": t1 - t0,
      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}}))
"""

RESET = ("from casashell.ms.flagversions import FlagVersions\n"
         "FlagVersions(MS).restore('bench_reset')\n")


def operations(ant: str):
    return [
        ("summary", "", "flagdata(vis=MS, mode='summary')"),
        ("manual antenna", RESET,
         f"flagdata(vis=MS, mode='manual', antenna={ant!r}, flagbackup=False)"),
        ("manual antenna + flagbackup", RESET +
         "for n in FlagVersions(MS).names():\n"
         "    n.startswith('flagdata_') and FlagVersions(MS).delete(n)\n",
         f"flagdata(vis=MS, mode='manual', antenna={ant!r}, flagbackup=True)"),
        ("clip ABS_ALL [0,2]", RESET,
         "flagdata(vis=MS, mode='clip', clipminmax=[0.0, 2.0], correlation='ABS_ALL', "
         "flagbackup=False)"),
        ("tfcrop", RESET, "flagdata(vis=MS, mode='tfcrop', flagbackup=False)"),
        ("rflag", RESET, "flagdata(vis=MS, mode='rflag', flagbackup=False)"),
        ("tfcrop chanavg 4 + timeavg 20s", RESET,
         "flagdata(vis=MS, mode='tfcrop', channelavg=True, chanbin=4, timeavg=True, "
         "timebin='20s', flagbackup=False)"),
        ("rflag chanavg 4 + timeavg 20s", RESET,
         "flagdata(vis=MS, mode='rflag', channelavg=True, chanbin=4, timeavg=True, "
         "timebin='20s', flagbackup=False)"),
    ]


def run_once(setup, body, ms, work):
    if setup:
        # the reset runs in its own process: it is neither timed nor counted in the RSS
        code = CHILD.format(root=ROOT, ms=ms, work=work, setup=setup, body="pass")
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           cwd=work)
        if p.returncode != 0:
            return {"error": "reset: " + (p.stderr.strip().splitlines() or ["?"])[-1][:200]}
    code = CHILD.format(root=ROOT, ms=ms, work=work, setup="", body=body)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=work)
    for line in p.stdout.splitlines():
        if line.startswith("BENCH "):
            return json.loads(line[6:])
    return {"error": (p.stderr.strip().splitlines() or ["?"])[-1][:200]}


def ensure_ms(args) -> str:
    if args.ms:
        return os.path.abspath(args.ms)
    name = "flag_quick.ms" if args.quick else "large.ms"
    path = os.path.join(HERE, "data", name)
    if os.path.isdir(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    maker = os.path.join(HERE, "make_ms.py")
    if os.path.exists(maker) and not args.quick:
        subprocess.run([sys.executable, maker, "--out", path], check=True)
        return path
    sys.path.insert(0, ROOT)
    from casashell.ms.generate import make_ms
    # 27 antennas + autocorrelations, 2 spws x 48 channels x 4 correlations:
    # 905,000 rows and 1.5 GB at full size
    make_ms(path, nant=27, nspw=2, nchan=48, ncorr=4, nscan=7,
            ntimes_per_scan=12 if args.quick else 171, seed=1)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ms", default=None)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default=None, help="comma-separated substrings of names")
    args = ap.parse_args(argv)
    ms = ensure_ms(args)
    sys.path.insert(0, ROOT)
    from casacore import tables as ct
    from casashell.ms.flagversions import FlagVersions
    fv = FlagVersions(ms)
    if not fv.exists("bench_reset"):
        fv.save("bench_reset", "flags before the flagdata benchmarks")
    with ct.table(os.path.join(ms, "ANTENNA"), ack=False) as t:
        ant = t.getcell("NAME", 0)
    with ct.table(ms, ack=False) as t:
        nrows = t.nrows()
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(ms) for f in fs)
    work = tempfile.mkdtemp(prefix="bench-flagdata-")
    rows = []
    for name, setup, body in operations(ant):
        if args.only and not any(s in name for s in args.only.split(",")):
            continue
        res = [run_once(setup, body, ms, work) for _ in range(args.runs)]
        errs = [r for r in res if "error" in r]
        if errs:
            rows.append((name, None, None, errs[0]["error"]))
            continue
        rows.append((name, statistics.median(r["seconds"] for r in res),
                     max(r["rss_mb"] for r in res), ""))
    fv.restore("bench_reset")
    for n in fv.names():                 # the backups made by the timed runs
        if n.startswith("flagdata_"):
            fv.delete(n)
    print(f"\nMS: {ms} ({nrows:,} rows, {size / 1e9:.2f} GB); median of {args.runs} run(s), "
          f"peak RSS = max over runs")
    print(f"{'operation':<32}{'casashell':>11}{'peak RSS':>11}{'CASA 6.7':>11}")
    print("-" * 65)
    for name, sec, rss, err in rows:
        if sec is None:
            print(f"{name:<32}  ERROR {err}")
            continue
        casa = None if args.quick else CASA.get(name)     # CASA's figures are for the large MS
        print(f"{name:<32}{sec:>9.3f} s{rss:>8.0f} MB"
              f"{(f'{casa:>9.2f} s' if casa else '          -')}")
    return rows


if __name__ == "__main__":
    main()
