#!/usr/bin/env python
"""Time casashell.ms.selection.select and the chunked reader on the large MS.

    python benchmarks/bench_selection.py [--vis benchmarks/data/large.ms] [--repeat 3]

Generates the MS with benchmarks/make_ms.py first when it is missing.  Prints one
line per selection: rows selected, the time of a first call (column cache empty),
the median of the repeated calls (columns cached), and peak RSS of this process.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

CASES = [
    {},
    {"field": "3C*"},
    {"spw": "0:4~40"},
    {"antenna": "ea07&ea08"},
    {"antenna": "!ea12"},
    {"antenna": "ea01,ea02&&&"},
    {"scan": "1~3,5"},
    {"timerange": "06:10:00~06:40:00"},
    {"uvrange": "<1km"},
    {"uvrange": ">5klambda"},
    {"correlation": "RR,LL"},
    {"intent": "*CALIBRATE_PHASE*"},
    {"field": "/J1.*|NGC.*/"},
    {"antenna": "/ea0[1-4]/&/ea1.*/"},
    {"intent": "/.*PHASE.*/"},
    {"spw": "0;1:4~40"},
    {"field": "NGC5548", "spw": "1:10~20", "antenna": "ea01;ea02", "scan": ">3",
     "timerange": ">06:30:00", "uvrange": "100~2000m", "correlation": "LL",
     "intent": "OBSERVE*"},
]


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv=None):
    p = argparse.ArgumentParser(description="selection benchmark")
    p.add_argument("--vis", default=os.path.join(HERE, "data", "large.ms"))
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    sys.path.insert(0, os.path.dirname(HERE))
    if not os.path.isdir(args.vis):
        import make_ms  # noqa: E402  (benchmarks/make_ms.py)
        make_ms.main(["--out", args.vis, "--quiet"])
    from casashell.ms.core import open_ms
    from casashell.ms.io import iter_chunks
    from casashell.ms.selection import clear_cache, select

    rows_total = None
    print(f"{'selection':<60} {'rows':>9} {'first s':>8} {'again s':>8} {'peak MB':>8}")
    for case in CASES:
        clear_cache()
        t0 = time.perf_counter()
        select(args.vis, **case)
        cold = time.perf_counter() - t0
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            sel = select(args.vis, **case)
            times.append(time.perf_counter() - t0)
        rows_total = sel.total_rows
        label = ", ".join(f"{k}='{v}'" for k, v in case.items()) or "(everything)"
        print(f"{label[:60]:<60} {sel.nrows:>9,d} {cold:>8.3f} "
              f"{statistics.median(times):>8.3f} {peak_rss_mb():>8.0f}")
    # streaming the flags of everything through iter_chunks
    t0 = time.perf_counter()
    n = 0
    with open_ms(args.vis) as t:
        for rows, c in iter_chunks(t, ["FLAG"]):
            n += int(c["FLAG"].sum())
    print(f"{'iter_chunks FLAG over all rows (count flags)':<60} {rows_total:>9,d} "
          f"{time.perf_counter() - t0:>8.3f} {'':>8} {peak_rss_mb():>8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
