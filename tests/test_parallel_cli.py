"""A real ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1
(started here as subprocesses, ended by the fixture): flagdata and split on
a Multi-MS through them equal the serial run; the casa options."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from casashell import config
from casashell.parallel import executor
from test_parallel import assert_same_ms, log_lines, make_pair, use_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask_cli():
    exe = os.path.join(os.path.dirname(sys.executable), "dask")
    return [exe] if os.path.exists(exe) else [sys.executable, "-m", "dask"]


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    d = tmp_path_factory.mktemp("dask")
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    log = open(d / "cluster.log", "wb")
    procs = []

    def stop():
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()

    try:
        procs.append(subprocess.Popen(
            _dask_cli() + ["scheduler", "--host", "127.0.0.1", "--port", str(port),
                           "--no-dashboard"], stdout=log, stderr=log, cwd=d))
        for k in (1, 2):
            procs.append(subprocess.Popen(
                _dask_cli() + ["worker", addr, "--nthreads", "1", "--name", f"cli{k}",
                               "--host", "127.0.0.1", "--no-dashboard",
                               "--local-directory", str(d)],
                stdout=log, stderr=log, cwd=d))
        t_end = time.monotonic() + 60
        while True:                   # the scheduler listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < t_end and procs[0].poll() is None
                time.sleep(0.1)
        old = use_config(dask_scheduler=addr)
        client = executor.get_client()
        client.wait_for_workers(2, timeout=60)
        yield addr, client, procs
        config._current = old
        executor.close_client()
        from distributed import Client
        with Client(addr, timeout=10, set_as_default=False) as c:
            c.shutdown()              # stops the scheduler and its workers
    finally:
        stop()
    assert all(p.poll() is not None for p in procs)


def test_flagdata_and_split_through_cli_workers(scheduler, tmp_path):
    from casashell.tasks import flagdata, split
    addr, client, procs = scheduler
    workers = client.scheduler_info()["workers"]
    assert sorted(w["name"] for w in workers.values()) == ["cli1", "cli2"]
    assert all(a.startswith("tcp://127.0.0.1:") for a in workers)
    ms, mms = make_pair(str(tmp_path), axis="scan", numsubms=4)
    kw = dict(mode="clip", clipminmax=[0.0, 2.0], datacolumn="data", spw="0:2~5")
    flagdata(vis=ms, **kw)
    flagdata(vis=mms, **kw)
    assert_same_ms(ms, mms, cols=("FLAG",))
    a = flagdata(vis=ms, mode="summary", spwchan=True, basecnt=True)
    b = flagdata(vis=mms, mode="summary", spwchan=True, basecnt=True)
    assert a == b and b["flagged"] > 0
    for kw in (dict(width=4, datacolumn="data"), dict(timebin="30s", field="NGC5548")):
        out1, out2 = str(tmp_path / "s.ms"), str(tmp_path / "s.mms")
        split(vis=ms, outputvis=out1, **kw)
        split(vis=mms, outputvis=out2, **kw)
        assert_same_ms(out1, out2)
        from casacore import tables as ct
        with ct.table(out1, ack=False) as t1, ct.table(out2, ack=False) as t2:
            assert complex(t1.getcol("DATA").sum(dtype=np.complex128)) == \
                pytest.approx(complex(t2.getcol("DATA").sum(dtype=np.complex128)), rel=1e-12)
        shutil.rmtree(out1), shutil.rmtree(out2)
    origins = {ln.split("\t")[2] for ln in log_lines(tmp_path) if "::worker-cli" in ln}
    assert origins == {"flagdata::worker-cli1::casa", "flagdata::worker-cli2::casa",
                       "split::worker-cli1::casa", "split::worker-cli2::casa"}
    # the workers processed sub-MSs, not the session
    assert all(p.poll() is None for p in procs)


def test_unreachable_scheduler_is_one_clear_error(tmp_path):
    old = use_config(dask_scheduler=f"tcp://127.0.0.1:{_free_port()}")
    try:
        executor.close_client()
        with pytest.raises(RuntimeError, match=r"cannot connect to the dask scheduler "
                                               r"tcp://127\.0\.0\.1:\d+"):
            executor.get_client()
    finally:
        config._current = old


def test_casa_options_set_the_configuration(tmp_path):
    home = tmp_path / "home"
    (home / ".casa").mkdir(parents=True)
    dump = ("import json; from casashell import config; c = config.current(); "
            "print('CFG=' + json.dumps([c.dask_scheduler, c.cores]))")
    env = dict(os.environ, HOME=str(home))
    env.pop("PYTHONNOUSERSITE", None)

    def run(*args):
        r = subprocess.run([sys.executable, os.path.join(ROOT, "bin", "casa"), "--nologger",
                            *args, "-c", dump], capture_output=True, text=True, env=env,
                           cwd=tmp_path, timeout=60)
        assert r.returncode == 0, r.stderr
        (line,) = [x for x in r.stdout.splitlines() if x.startswith("CFG=")]
        return json.loads(line[4:]), r

    assert run()[0] == [None, 0]
    assert run("--dask-scheduler", "tcp://10.0.0.5:8786", "--cores", "3")[0] == \
        ["tcp://10.0.0.5:8786", 3]
    (home / ".casa" / "config.py").write_text("dask_scheduler = 'tcp://h:1'\ncores = 2\n")
    assert run()[0] == ["tcp://h:1", 2]
    assert run("--cores=5")[0] == ["tcp://h:1", 5]
    cfg, r = run("--cores", "-2")
    assert cfg == ["tcp://h:1", 2]
    assert "cores" in r.stderr and "WARN" in r.stderr
    h = subprocess.run([sys.executable, os.path.join(ROOT, "bin", "casa"), "--help"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert "--dask-scheduler ADDR" in h.stdout and "--cores N" in h.stdout
