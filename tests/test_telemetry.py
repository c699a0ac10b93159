"""Telemetry: off by default, records, size cap, bundles, submission to a local server."""

from __future__ import annotations

import getpass
import http.server
import json
import os
import socket
import threading
import time
from types import SimpleNamespace

import pytest

from casashell import telemetry
from casashell.logsink import casalog
from casashell.tasks import _framework as fw
from casashell.tasks._framework import Param, task


@task(summary="Telemetry test task", category="testing",
      params=[Param("vis", "path", "", "MS"), Param("fail", "bool", False, "Fail")])
def tel_task(vis, fail):
    if fail:
        raise RuntimeError("asked to fail")
    return True


def cfg(directory, **kw):
    base = dict(telemetry_enabled=True, telemetry_log_directory=str(directory),
                telemetry_log_limit=20480, telemetry_log_size_interval=60,
                telemetry_submit_interval=604800, telemetry_submit_url=None,
                cachedir=str(directory))
    base.update(kw)
    return SimpleNamespace(**base)


@pytest.fixture(autouse=True)
def _unregister():
    yield
    telemetry.stop()


@pytest.fixture
def vis(data_dir):
    return os.path.join(data_dir, "day2_TDEM0003_10s_norx_1scan.ms")


def lines(path):
    with open(path) as f:
        return [json.loads(ln) for ln in f.read().splitlines()]


def test_off_by_default(tmp_path, vis):
    n_hooks = len(fw.after_task_hooks)
    assert telemetry.startup(SimpleNamespace(cachedir=str(tmp_path))) is None
    assert telemetry.startup(SimpleNamespace(telemetry_enabled=False,
                                             telemetry_log_directory=str(tmp_path / "t"))) is None
    tel_task(vis)
    assert len(fw.after_task_hooks) == n_hooks
    assert os.listdir(tmp_path) == ["casa-test.log"]


def test_records_and_privacy(tmp_path, vis):
    d = tmp_path / "tel"
    t0 = time.time()
    tel = telemetry.startup(cfg(d))
    assert tel is not None and tel.hook in fw.after_task_hooks
    tel_task(vis)
    with pytest.raises(RuntimeError):
        tel_task(vis, fail=True)
    with pytest.raises(AssertionError):
        tel_task(vis, fail="no")             # invalid parameters: the task never ran
    recs = lines(d / telemetry.PENDING_NAME)
    assert [(r["task"], r["success"]) for r in recs] == [("tel_task", True), ("tel_task", False)]
    assert set(recs[0]) == {"task", "start", "end", "success", "casashell", "python", "os"}
    for r in recs:
        start = time.mktime(time.strptime(r["start"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        assert t0 - 2 <= start <= time.time() + 1
        assert r["start"] <= r["end"] and r["start"].endswith("Z")
    text = (d / telemetry.PENDING_NAME).read_text()
    for secret in (getpass.getuser(), socket.gethostname(), str(tmp_path), vis,
                   os.path.expanduser("~")):
        assert f'"{secret}' not in text and f"{secret}/" not in text
    assert "day2" not in text


def test_size_cap_checked_every_interval(tmp_path, vis):
    d = tmp_path / "cap"
    tel = telemetry.startup(cfg(d, telemetry_log_limit=1, telemetry_log_size_interval=0))
    for _ in range(20):
        tel_task(vis)
    pending = d / telemetry.PENDING_NAME
    size = pending.stat().st_size
    one = len(pending.read_text().splitlines()[0]) + 1
    # records stop as soon as the file is larger than 1 KB
    assert 1024 < size <= 1024 + one
    assert len(lines(pending)) == 1024 // one + 1
    assert tel.stopped
    notes = [ln for ln in open(casalog.logfile()).read().splitlines() if "telemetry_log_limit" in ln]
    assert notes == [ln for ln in notes if ln.split("\t")[1] == "INFO"] and len(notes) == 1

    # with a long interval, the size is only looked at on the first record
    d2 = tmp_path / "cap2"
    telemetry.startup(cfg(d2, telemetry_log_limit=1, telemetry_log_size_interval=3600))
    for _ in range(20):
        tel_task(vis)
    assert len(lines(d2 / telemetry.PENDING_NAME)) == 20


def test_bundle_when_interval_passed(tmp_path, vis):
    d = tmp_path / "b"
    telemetry.startup(cfg(d, telemetry_submit_interval=3600))
    for _ in range(3):
        tel_task(vis)
    assert float((d / telemetry.STAMP_NAME).read_text()) == pytest.approx(time.time(), abs=5)
    # a new session before the interval has passed: nothing bundled
    telemetry.startup(cfg(d, telemetry_submit_interval=3600))
    assert sorted(os.listdir(d)) == [telemetry.PENDING_NAME, telemetry.STAMP_NAME]
    # pretend the last bundling was two hours ago
    (d / telemetry.STAMP_NAME).write_text(f"{time.time() - 7200:.3f}\n")
    before = time.time()
    telemetry.startup(cfg(d, telemetry_submit_interval=3600))
    bundles = [n for n in os.listdir(d) if n.startswith(telemetry.BUNDLE_PREFIX)]
    assert len(bundles) == 1
    assert bundles[0] == telemetry.BUNDLE_PREFIX + time.strftime(
        "%Y%m%d-%H%M%S", time.gmtime(float((d / telemetry.STAMP_NAME).read_text()))) + ".json"
    doc = json.loads((d / bundles[0]).read_text())
    assert doc["format"] == "casashell-telemetry-1" and len(doc["records"]) == 3
    assert all(r["task"] == "tel_task" for r in doc["records"])
    assert not (d / telemetry.PENDING_NAME).exists()
    assert float((d / telemetry.STAMP_NAME).read_text()) >= before - 1
    tel_task(vis)                               # new records start a new pending file
    assert len(lines(d / telemetry.PENDING_NAME)) == 1


class _Collector(http.server.BaseHTTPRequestHandler):
    bodies: list = []

    def do_POST(self):  # noqa: N802
        n = int(self.headers["Content-Length"])
        type(self).bodies.append((self.headers["Content-Type"], self.rfile.read(n)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_submission_to_local_server(tmp_path, vis):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Collector)
    th = threading.Thread(target=server.serve_forever, daemon=True)
    th.start()
    try:
        d = tmp_path / "s"
        url = f"http://127.0.0.1:{server.server_port}/telemetry"
        telemetry.startup(cfg(d, telemetry_submit_interval=0, telemetry_submit_url=url))
        tel_task(vis)
        tel_task(vis)
        tel = telemetry.startup(cfg(d, telemetry_submit_interval=0, telemetry_submit_url=url))
        tel.submit_thread.join(10)
        assert len(_Collector.bodies) == 1
        ctype, body = _Collector.bodies[0]
        assert ctype == "application/json"
        doc = json.loads(body)
        assert [r["task"] for r in doc["records"]] == ["tel_task", "tel_task"]
        sent = os.listdir(d / "sent")
        assert len(sent) == 1 and sent[0].startswith(telemetry.BUNDLE_PREFIX)
        assert not [n for n in os.listdir(d) if n.startswith(telemetry.BUNDLE_PREFIX)]
    finally:
        server.shutdown()
        server.server_close()


def test_submission_failure_keeps_bundle(tmp_path, vis):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                                  # nothing listens there
    d = tmp_path / "f"
    url = f"http://127.0.0.1:{port}/"
    telemetry.startup(cfg(d, telemetry_submit_interval=0, telemetry_submit_url=url))
    tel_task(vis)
    tel = telemetry.startup(cfg(d, telemetry_submit_interval=0, telemetry_submit_url=url))
    tel.submit_thread.join(10)
    assert len([n for n in os.listdir(d) if n.startswith(telemetry.BUNDLE_PREFIX)]) == 1
    assert not (d / "sent").exists()
    log = open(casalog.logfile()).read()
    assert "it will be retried at the next start" in log


def test_bundle_due_immediately_after_stamp(tmp_path):
    """submit_interval=0 bundles even when the stamp was written a moment ago
    (a stamp rounded up past 'now' once made CI's submission test flaky)."""
    tel = telemetry.Telemetry(str(tmp_path), submit_interval=0)
    tel._write_stamp(100.0006)
    with open(tel.pending, "w") as f:
        f.write(json.dumps({"task": "x"}) + "\n")
    bundle = tel.bundle_if_due(now=100.0007)
    assert bundle is not None
    with open(bundle) as f:
        assert [r["task"] for r in json.load(f)["records"]] == ["x"]
    # a clock that went back restarts the count instead of blocking submission forever
    tel2 = telemetry.Telemetry(str(tmp_path / "b"), submit_interval=60)
    os.makedirs(tel2.directory)
    tel2._write_stamp(10_000.0)
    with open(tel2.pending, "w") as f:
        f.write(json.dumps({"task": "y"}) + "\n")
    assert tel2.bundle_if_due(now=5_000.0) is None
    assert tel2.bundle_if_due(now=5_061.0) is not None
