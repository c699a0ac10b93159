#!/usr/bin/env python
"""plotms on the large generated MS: every visibility of every row, to a PNG.

    python benchmarks/bench_plotms.py              # benchmarks/data/large.ms (made if missing)
    python benchmarks/bench_plotms.py --ms X.ms --runs 3

Each run is a fresh Python process; the time is measured around the task call
(reading, averaging, aggregation, drawing and writing the PNG) and the peak
RSS (``ru_maxrss``) is that of the whole process.  The table shows the median
time of N runs, the largest peak RSS and the number of points plotted.
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

CHILD = r"""
import json, os, resource, sys, time
from casashell.logsink import casalog
casalog.setlogfile(os.devnull)
from casashell.tasks import plotms
from casashell import plotting
kw = json.loads(sys.argv[2])
t0 = time.perf_counter()
plotms(vis=sys.argv[1], showgui=False, overwrite=True, **kw)
t1 = time.perf_counter()
info = plotting.LAST["info"]
print("BENCH " + json.dumps({"seconds": t1 - t0, "points": info["npoints"],
      "rows": info["nrows"], "mode": info["pages"][0][0]["mode"],
      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))
"""


def cases(out):
    return [
        ("amp vs uvdist, all data", dict(xaxis="uvdist", yaxis="amp",
                                         plotfile=os.path.join(out, "a.png"))),
        ("amp vs time, coloraxis=field", dict(xaxis="time", yaxis="amp", coloraxis="field",
                                              plotfile=os.path.join(out, "b.png"))),
        ("amp vs uvdist, avgchannel=48", dict(xaxis="uvdist", yaxis="amp", avgchannel="48",
                                              coloraxis="spw",
                                              plotfile=os.path.join(out, "c.png"))),
        ("amp vs freq, avgtime=1e5 avgbl", dict(xaxis="frequency", yaxis="amp",
                                                avgtime="100000", avgbaseline=True,
                                                plotfile=os.path.join(out, "d.png"))),
        ("amp vs time, iteraxis=baseline", dict(xaxis="time", yaxis="amp",
                                                iteraxis="baseline", gridrows=3, gridcols=3,
                                                plotfile=os.path.join(out, "e.png"))),
        ("amp vs time, avgantenna avgchan", dict(xaxis="time", yaxis="amp",
                                                 avgantenna=True, avgchannel="48",
                                                 plotfile=os.path.join(out, "f.png"))),
        ("amp vs chan, avgspw avgtime=1e5", dict(xaxis="channel", yaxis="amp", avgspw=True,
                                                 avgtime="100000",
                                                 plotfile=os.path.join(out, "g.png"))),
        ("amp vs freq, freqframe=LSRK", dict(xaxis="frequency", yaxis="amp",
                                             transform=True, freqframe="LSRK",
                                             plotfile=os.path.join(out, "h.png"))),
    ]


def ensure_ms(path: str) -> str:
    if os.path.isdir(path):
        return path
    gen = os.path.join(HERE, "make_ms.py")
    if not os.path.exists(gen):
        sys.exit(f"{path} does not exist and {gen} (the MS generator) is missing")
    subprocess.run([sys.executable, gen, "--out", path], check=True)
    return path


def run_once(ms: str, kw: dict) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["MPLBACKEND"] = "Agg"
    proc = subprocess.run([sys.executable, "-c", CHILD, ms, json.dumps(kw)],
                          capture_output=True, text=True, env=env, timeout=3600)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH "):
            return json.loads(line[6:])
    raise RuntimeError(f"plotms run failed: {proc.stderr.strip()[-2000:]}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ms", default=os.path.join(HERE, "data", "large.ms"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="only the first case, one run")
    ap.add_argument("--case", action="append", default=[],
                    help="run only the cases whose name contains this text (repeatable)")
    args = ap.parse_args(argv)
    ms = ensure_ms(args.ms)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(ms) for f in fs)
    print(f"MS: {ms} ({size / 1e9:.2f} GB)")
    print(f"{'case':34s} {'rows':>8s} {'points':>11s} {'mode':>7s} {'median s':>9s} "
          f"{'min s':>7s} {'peak RSS MB':>12s}")
    with tempfile.TemporaryDirectory() as out:
        todo = cases(out)[:1] if args.quick else cases(out)
        if args.case:
            todo = [c for c in todo if any(k in c[0] for k in args.case)]
        for name, kw in todo:
            runs = [run_once(ms, kw) for _ in range(1 if args.quick else args.runs)]
            secs = [r["seconds"] for r in runs]
            print(f"{name:34s} {runs[0]['rows']:8d} {runs[0]['points']:11d} "
                  f"{runs[0]['mode']:>7s} {statistics.median(secs):9.2f} {min(secs):7.2f} "
                  f"{max(r['rss_mb'] for r in runs):12.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
