#!/usr/bin/env python
"""Benchmarks of split and hanningsmooth on the large generated MS.

    python benchmarks/bench_transform.py [--ms PATH] [--runs N]

Each operation runs in a fresh Python process that reports the time spent
inside the task call and its own peak resident memory (``ru_maxrss``); the
table shows the median time and the largest peak over the runs, next to
CASA 6.7's figures for the same calls on the same kind of MS.

The MS is ``benchmarks/data/large.ms`` made by ``benchmarks/make_ms.py``
(the project's generator).  If that script is missing, a stand-in of the
same size is written by :func:`make_standin_ms` (906,000 rows, 3 fields,
one 64-channel spw, 2 correlations, WEIGHT_SPECTRUM).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(HERE, "data")

CASA = {"split field+spw width=5": 7.5, "hanningsmooth datacolumn=data": 18.3}

HARNESS = r"""
import json, os, resource, sys, time
from casashell.logsink import casalog
casalog.setlogfile(os.path.join({work!r}, 'bench.log'))
from casashell.tasks import {task}
t0 = time.perf_counter()
{body}
t1 = time.perf_counter()
print("BENCH-RESULT " + json.dumps({{"seconds": t1 - t0,
      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}}))
"""


def make_standin_ms(path: str, nrows: int = 906_000, nchan: int = 64, ncorr: int = 2,
                    seed: int = 1) -> str:
    """A large MS like the project's generated one (only when make_ms.py is absent)."""
    import numpy as np
    from casacore import tables as ct

    rng = np.random.default_rng(seed)
    nant = 28
    a1, a2 = np.triu_indices(nant, 1)
    nbl = len(a1)
    ntime = -(-nrows // nbl)
    desc = ct.maketabdesc([
        ct.makearrcoldesc("DATA", 0j, ndim=2, valuetype="complex"),
        ct.makearrcoldesc("WEIGHT_SPECTRUM", 0.0, ndim=2, valuetype="float")])
    tile = [ncorr, nchan, max(1, (1 << 20) // (ncorr * nchan * 8))]
    dminfo = {"*1": {"TYPE": "TiledShapeStMan", "NAME": "TiledData",
                     "SPEC": {"DEFAULTTILESHAPE": tile}, "COLUMNS": ["DATA"]},
              "*2": {"TYPE": "TiledShapeStMan", "NAME": "TiledWS",
                     "SPEC": {"DEFAULTTILESHAPE": tile}, "COLUMNS": ["WEIGHT_SPECTRUM"]},
              "*3": {"TYPE": "TiledShapeStMan", "NAME": "TiledFlag",
                     "SPEC": {"DEFAULTTILESHAPE": tile}, "COLUMNS": ["FLAG"]}}
    tmp = path + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    t = ct.default_ms(tmp, desc, dminfo)
    t.addrows(nrows)
    with ct.table(os.path.join(tmp, "SPECTRAL_WINDOW"), readonly=False, ack=False) as s:
        s.addrows(1)
        f = 1.4e9 + 1e6 * np.arange(nchan)
        s.putcell("CHAN_FREQ", 0, f)
        for c in ("CHAN_WIDTH", "EFFECTIVE_BW", "RESOLUTION"):
            s.putcell(c, 0, np.full(nchan, 1e6))
        s.putcell("NUM_CHAN", 0, nchan)
        s.putcell("REF_FREQUENCY", 0, f[0])
        s.putcell("TOTAL_BANDWIDTH", 0, nchan * 1e6)
        s.putcell("MEAS_FREQ_REF", 0, 5)
        s.putcell("NAME", 0, "spw0")
    with ct.table(os.path.join(tmp, "POLARIZATION"), readonly=False, ack=False) as s:
        s.addrows(1)
        s.putcell("NUM_CORR", 0, ncorr)
        s.putcell("CORR_TYPE", 0, np.array([9, 12][:ncorr], np.int32))
        s.putcell("CORR_PRODUCT", 0, np.array([[0, 0], [1, 1]][:ncorr], np.int32).T)
    with ct.table(os.path.join(tmp, "DATA_DESCRIPTION"), readonly=False, ack=False) as s:
        s.addrows(1)
    with ct.table(os.path.join(tmp, "FIELD"), readonly=False, ack=False) as s:
        s.addrows(3)
        s.putcol("NAME", ["F0", "F1", "F2"])
        d = np.zeros((3, 1, 2))
        d[:, 0, 0] = [0.1, 1.1, 2.1]
        d[:, 0, 1] = [0.5, -0.2, 0.3]
        for c in ("PHASE_DIR", "DELAY_DIR", "REFERENCE_DIR"):
            s.putcol(c, d)
    with ct.table(os.path.join(tmp, "ANTENNA"), readonly=False, ack=False) as s:
        s.addrows(nant)
        s.putcol("NAME", [f"A{i:02d}" for i in range(nant)])
        s.putcol("STATION", [f"S{i:02d}" for i in range(nant)])
        s.putcol("DISH_DIAMETER", np.full(nant, 25.0))
        s.putcol("POSITION", np.array([-1601185.0, -5041978.0, 3554876.0])
                 + rng.normal(0, 500, (nant, 3)))
    with ct.table(os.path.join(tmp, "OBSERVATION"), readonly=False, ack=False) as s:
        s.addrows(1)
        s.putcell("TELESCOPE_NAME", 0, "VLA")
    step = 20_000 // nbl * nbl
    t0 = 4.9e9
    for start in range(0, nrows, step):
        n = min(step, nrows - start)
        idx = np.arange(start, start + n)
        ti = idx // nbl
        t.putcol("TIME", t0 + 10.0 * ti, start, n)
        t.putcol("TIME_CENTROID", t0 + 10.0 * ti, start, n)
        t.putcol("INTERVAL", np.full(n, 10.0), start, n)
        t.putcol("EXPOSURE", np.full(n, 10.0), start, n)
        t.putcol("ANTENNA1", a1[idx % nbl].astype(np.int32), start, n)
        t.putcol("ANTENNA2", a2[idx % nbl].astype(np.int32), start, n)
        scan = ti // max(1, ntime // 30)
        t.putcol("SCAN_NUMBER", (scan + 1).astype(np.int32), start, n)
        t.putcol("FIELD_ID", (scan % 3).astype(np.int32), start, n)
        t.putcol("UVW", rng.normal(0, 1000, (n, 3)), start, n)
        d = (rng.normal(1, 0.5, (n, nchan, ncorr)) + 1j * rng.normal(0, 0.5, (n, nchan, ncorr)))
        t.putcol("DATA", d.astype(np.complex64), start, n)
        fl = rng.random((n, nchan, ncorr)) < 0.02
        t.putcol("FLAG", fl, start, n)
        w = rng.uniform(0.5, 2.0, (n, ncorr)).astype(np.float32)
        t.putcol("WEIGHT", w, start, n)
        t.putcol("SIGMA", (1 / np.sqrt(w)).astype(np.float32), start, n)
        t.putcol("WEIGHT_SPECTRUM", np.repeat(w[:, None, :], nchan, axis=1), start, n)
    t.close()
    shutil.rmtree(path, ignore_errors=True)
    os.rename(tmp, path)
    return path


def ensure_ms(path: str | None) -> str:
    if path:
        return path
    target = os.path.join(DATA, "large.ms")
    if os.path.isdir(target):
        return target
    os.makedirs(DATA, exist_ok=True)
    gen = os.path.join(HERE, "make_ms.py")
    if os.path.exists(gen):
        subprocess.run([sys.executable, gen, "--out", target], check=True)
    else:
        make_standin_ms(target)
    return target


def run_once(task: str, body: str, work: str) -> dict:
    code = HARNESS.format(work=work, task=task, body=body)
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=work)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH-RESULT "):
            return json.loads(line[len("BENCH-RESULT "):])
    return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1][:200]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ms", default=None)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    ms = ensure_ms(args.ms)
    from casacore import tables as ct
    with ct.table(os.path.join(ms, "FIELD"), ack=False) as t:
        field = t.getcell("NAME", 0)
    work = tempfile.mkdtemp(prefix="casashell-bench-transform-")
    out = os.path.join(work, "out.ms")
    ops = [("split field+spw width=5", "split",
            f"split(vis={ms!r}, outputvis={out!r}, field={field!r}, spw='0:5~54', width=5, "
            f"datacolumn='data')"),
           ("hanningsmooth datacolumn=data", "hanningsmooth",
            f"hanningsmooth(vis={ms!r}, outputvis={out!r}, datacolumn='data')")]
    rows = []
    try:
        for name, task, body in ops:
            times, rss = [], []
            err = None
            for _ in range(args.runs):
                shutil.rmtree(out, ignore_errors=True)
                r = run_once(task, body, work)
                if "error" in r:
                    err = r["error"]
                    break
                times.append(r["seconds"])
                rss.append(r["rss_mb"])
            rows.append((name, err, statistics.median(times) if times else None,
                         max(rss) if rss else None))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"MS: {ms}")
    print(f"{'operation':<32} {'casashell s':>12} {'CASA 6.7 s':>11} {'peak RSS MB':>12}")
    for name, err, sec, rss in rows:
        if err:
            print(f"{name:<32} ERROR {err}")
        else:
            print(f"{name:<32} {sec:>12.2f} {CASA[name]:>11.1f} {rss:>12.0f}")
    return rows


if __name__ == "__main__":
    main()
