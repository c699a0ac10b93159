#!/usr/bin/env python
"""Multi-MS benchmark: flagdata clip and split with channel averaging on 1 vs 2 dask workers.

    python benchmarks/bench_mms.py                 # benchmarks/data/large.ms (made if missing)
    python benchmarks/bench_mms.py --ms x.ms --numsubms 8 --workers 1,2

The MS is partitioned once into ``--numsubms`` sub-MSs (timed, on the
largest worker count).  Then, for each worker count, a fresh local cluster
(scheduler + N single-threaded ``dask worker`` processes on 127.0.0.1) runs
flagdata clip (three times, the same clip, the fastest kept: later runs
read and write the same data) and split with channel averaging (width 4, a Multi-MS output).
The monolithic MS is also run in this process (no dask) for reference, and
listobs (with and without ``listunfl``) of the MS and the Multi-MS (best of five).
Times are wall times of the task calls; memory is each worker process's
peak resident set (``ru_maxrss``) at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

CLIP = dict(mode="clip", clipminmax=[0.0, 2.0], correlation="ABS_ALL", datacolumn="data",
            flagbackup=False)
SPLIT = dict(width=4, datacolumn="data")


def _peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _timed(fn, *a, **kw):
    t0 = time.perf_counter()
    fn(*a, **kw)
    return time.perf_counter() - t0


def _use(cores):
    from casashell import config
    from casashell.parallel import executor
    executor.close_client()
    config._current = config.load(noconfig=True, overrides={"cores": cores})
    t0 = time.perf_counter()
    client = executor.get_client()
    return client, time.perf_counter() - t0


def run(ms: str, numsubms: int, workers: list[int], work: str) -> list[tuple]:
    from casashell.logsink import casalog
    casalog.setlogfile(os.path.join(work, "bench.log"))
    from casashell.tasks import flagdata, partition, split

    rows = []
    mms = os.path.join(work, "large.mms")
    client, t_start = _use(max(workers))
    t = _timed(partition, vis=ms, outputvis=mms, separationaxis="auto", numsubms=numsubms)
    rows.append(("partition (auto)", f"{max(workers)} workers", t, None))
    # reference: the monolithic MS in this process (a copy, flags are changed)
    mono = os.path.join(work, "mono.ms")
    shutil.copytree(ms, mono)
    rows.append(("flagdata clip", "monolithic, in-process", _timed(flagdata, vis=mono, **CLIP),
                 None))
    out = os.path.join(work, "mono_split.ms")
    rows.append(("split width=4", "monolithic, in-process",
                 _timed(split, vis=mono, outputvis=out, **SPLIT), None))
    shutil.rmtree(out)
    rows.append(("(session peak RSS)", "", None, _peak_rss_mib()))
    shutil.rmtree(mono)
    # listobs: the Multi-MS is listed as one table, in this process
    from casashell.tasks import listobs
    for unfl in (False, True):
        for label, v in (("monolithic", ms), ("Multi-MS", mms)):
            rows.append((f"listobs{' listunfl' if unfl else ''}", label,
                         min(_timed(listobs, vis=v, listunfl=unfl) for _ in range(5)), None))
    for n in workers:
        client, t_start = _use(n)
        rows.append(("start cluster", f"{n} workers", t_start, None))
        t = min(_timed(flagdata, vis=mms, **CLIP) for _ in range(3))
        rows.append(("flagdata clip", f"{n} workers", t, None))
        out = os.path.join(work, f"split{n}.mms")
        rows.append(("split width=4 (keepmms)", f"{n} workers",
                     _timed(split, vis=mms, outputvis=out, **SPLIT), None))
        shutil.rmtree(out)
        rss = client.run(_peak_rss_mib)
        for name, mib in sorted(rss.items()):
            rows.append(("worker peak RSS", f"{n} workers: {name.split('//')[-1]}", None, mib))
    from casashell.parallel import executor
    executor.close_client()
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ms", default=os.path.join(HERE, "data", "large.ms"))
    p.add_argument("--numsubms", type=int, default=8)
    p.add_argument("--workers", default="1,2")
    p.add_argument("--workdir", default=None, help="where the Multi-MS is written "
                   "(default: a temporary directory beside the MS)")
    a = p.parse_args(argv)
    if not os.path.exists(a.ms) and a.ms == os.path.join(HERE, "data", "large.ms"):
        subprocess.run([sys.executable, os.path.join(HERE, "make_ms.py")], check=True)
    workers = [int(w) for w in a.workers.split(",")]
    work = tempfile.mkdtemp(prefix="bench_mms-", dir=a.workdir or os.path.dirname(
        os.path.abspath(a.ms)))
    try:
        rows = run(os.path.abspath(a.ms), a.numsubms, workers, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    times = {(r[0], r[1]): r[2] for r in rows if r[2] is not None}
    print(f"{'operation':<26} {'setup':<34} {'seconds':>8} {'MiB':>7}")
    for op, setup, sec, mib in rows:
        print(f"{op:<26} {setup:<34} {'' if sec is None else f'{sec:8.2f}':>8} "
              f"{'' if mib is None else f'{mib:7.0f}':>7}")
    if len(workers) >= 2:
        lo, hi = min(workers), max(workers)
        for op in ("flagdata clip", "split width=4 (keepmms)"):
            a1, a2 = times.get((op, f"{lo} workers")), times.get((op, f"{hi} workers"))
            if a1 and a2:
                print(f"speed-up {op}, {hi} vs {lo} workers: {a1 / a2:.2f}x")
    return rows


if __name__ == "__main__":
    main()
