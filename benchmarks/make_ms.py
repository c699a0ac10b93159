#!/usr/bin/env python
"""Generate the large synthetic MeasurementSet used by the benchmarks.

    python benchmarks/make_ms.py                    # benchmarks/data/large.ms, ~906,000 rows, ~1.5 GB
    python benchmarks/make_ms.py --size-gb 0.2 --out /tmp/small.ms --seed 3

Defaults: 27 antennas on a VLA-like Y (C configuration), 351 cross + 27 auto
baselines, 3 fields (flux/bandpass calibrator, phase calibrator, target) with
intents, 7 scans, 2 spws x 48 channels x 4 correlations (RR RL LR LL), 10 s
integrations, 3 % flagged.  The channel count is chosen so that ~906,000 rows
weigh ~1.5 GB, the size of the MS CASA 6.7's listobs was timed on.

Idempotent: when the output exists and was made with the same parameters (see
``<out>.json``) nothing is done.  Deterministic for a given ``--seed``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "data", "large.ms")
DEFAULT_ROWS = 906_000


def estimate_row_bytes(nchan, ncorr, ndatacols=1):
    """On-disk bytes per main-table row (tiled data + flags + scalar columns)."""
    return (8 * nchan * ncorr * ndatacols + math.ceil(nchan * ncorr / 8) + 8 * ncorr
            + 24 + 32 + 44)


def plan(args):
    nbl = args.nant * (args.nant - 1) // 2 + args.nant
    per_time = nbl * args.nspw
    ncols = 1 + int(args.corrected) + int(args.model)
    if args.rows:
        rows = args.rows
    elif args.size_gb:
        rows = args.size_gb * 1e9 / estimate_row_bytes(args.nchan, args.ncorr, ncols)
    else:
        rows = DEFAULT_ROWS
    ntimes = max(args.nscan, int(round(rows / per_time)))
    base, extra = divmod(ntimes, args.nscan)
    per_scan = [base + (1 if i < extra else 0) for i in range(args.nscan)]
    return per_scan, ntimes * per_time


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=DEFAULT_OUT, help="output MS (default %(default)s)")
    p.add_argument("--size-gb", type=float, default=None,
                   help="approximate size in GB (default: about 906,000 rows, ~1.5 GB)")
    p.add_argument("--rows", type=int, default=None, help="approximate number of rows")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--nant", type=int, default=27)
    p.add_argument("--nfield", type=int, default=3)
    p.add_argument("--nscan", type=int, default=7)
    p.add_argument("--nspw", type=int, default=2)
    p.add_argument("--nchan", type=int, default=48)
    p.add_argument("--ncorr", type=int, default=4, choices=(1, 2, 4))
    p.add_argument("--integration", type=float, default=10.0)
    p.add_argument("--config", default="C", choices=("A", "B", "C", "D"))
    p.add_argument("--flag-fraction", type=float, default=0.03)
    p.add_argument("--corrected", action="store_true", help="add CORRECTED_DATA")
    p.add_argument("--model", action="store_true", help="add MODEL_DATA")
    p.add_argument("--force", action="store_true", help="regenerate even if up to date")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.nscan < 1 or args.nant < 2 or args.nspw < 1 or args.nchan < 1:
        p.error("nscan, nspw, nchan must be >= 1 and nant >= 2")

    sys.path.insert(0, os.path.dirname(HERE))
    from casashell.ms.generate import make_ms

    per_scan, nrows = plan(args)
    params = {k: getattr(args, k) for k in ("seed", "nant", "nfield", "nscan", "nspw",
                                            "nchan", "ncorr", "integration", "config",
                                            "flag_fraction", "corrected", "model")}
    params["ntimes_per_scan"] = per_scan
    params["generator_version"] = 5
    out = os.path.abspath(args.out)
    stamp = out + ".json"
    if os.path.isdir(out) and os.path.isfile(stamp) and not args.force:
        try:
            with open(stamp) as fh:
                old = json.load(fh)
        except (OSError, ValueError):
            old = {}
        if old.get("params") == params:
            if not args.quiet:
                s = old.get("summary", {})
                print(f"{out} is up to date ({s.get('nrows', '?')} rows, "
                      f"{s.get('bytes', 0) / 1e9:.2f} GB, seed {args.seed}); nothing to do")
            return 0
    os.makedirs(os.path.dirname(out), exist_ok=True)
    # write next to the target and swap at the end: a benchmark still reading an
    # older version keeps its open files
    new = out + ".new"
    if os.path.exists(new):
        shutil.rmtree(new)

    last = [0.0]

    def progress(done, total):
        now = time.time()
        if not args.quiet and (now - last[0] > 2 or done == total):
            last[0] = now
            print(f"  {done:>10,d} / {total:,d} rows", file=sys.stderr, flush=True)

    if not args.quiet:
        print(f"writing {out}: ~{nrows:,d} rows", flush=True)
    summary = make_ms(new, nant=args.nant, nfield=args.nfield, nscan=args.nscan,
                      nspw=args.nspw, nchan=args.nchan, ncorr=args.ncorr,
                      ntimes_per_scan=per_scan, integration=args.integration,
                      corrected=args.corrected, model=args.model,
                      flag_fraction=args.flag_fraction, seed=args.seed, config=args.config,
                      progress=progress)
    old = out + ".old"
    if os.path.exists(old):
        shutil.rmtree(old)
    if os.path.exists(out):
        os.rename(out, old)
    os.rename(new, out)
    if os.path.exists(old):
        shutil.rmtree(old)
    summary["path"] = out
    with open(stamp, "w") as fh:
        json.dump({"params": params, "summary": summary}, fh, indent=1)
    if not args.quiet:
        print(f"made {summary['path']}\n"
              f"  rows        {summary['nrows']:,d} ({summary['ntimes']} integrations of "
              f"{args.integration:g} s)\n"
              f"  size        {summary['bytes'] / 1e9:.2f} GB\n"
              f"  antennas    {summary['nant']} ({summary['nbaselines']} baselines incl. autos,"
              f" VLA-like {args.config} configuration)\n"
              f"  fields      {', '.join(summary['fields'])}\n"
              f"  scans       {summary['nscan']} (fields {summary['scan_fields']})\n"
              f"  spws        {summary['nspw']} x {summary['nchan'][0]} channels, "
              f"{summary['ncorr'][0]} correlations\n"
              f"  flagged     {100 * summary['flagged_fraction']:.2f} %\n"
              f"  time        {summary['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
