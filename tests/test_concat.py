"""concat of pyuvdata's multi_1.ms and multi_2.ms (and variations of them)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from casacore import tables as ct

from casashell.tasks import concat

from casa_ref import requires_casa, run_casa

M1, M2 = "multi_1.ms", "multi_2.ms"


def cols(path, *names):
    with ct.table(path, ack=False) as t:
        return [t.getcol(n) for n in names]


def sub(path, name, col=None):
    with ct.table(os.path.join(path, name), ack=False) as t:
        return t.getcol(col) if col else t.nrows()


def test_concat_multi(data_dir, tmp_path):
    a, b = os.path.join(data_dir, M1), os.path.join(data_dir, M2)
    out = str(tmp_path / "c.ms")
    concat(vis=[a, b], concatvis=out)
    d1, w1, a11 = cols(a, "DATA", "WEIGHT", "ANTENNA1")
    d2, w2, a12 = cols(b, "DATA", "WEIGHT", "ANTENNA1")
    d, w, dd, fld, an1 = cols(out, "DATA", "WEIGHT", "DATA_DESC_ID", "FIELD_ID", "ANTENNA1")
    assert len(d) == len(d1) + len(d2) == 2720
    np.testing.assert_array_equal(d[:len(d1)], d1)
    np.testing.assert_array_equal(d[len(d1):], d2)
    np.testing.assert_array_equal(np.concatenate([w1, w2]), w)
    np.testing.assert_array_equal(np.concatenate([a11, a12]), an1)
    # two spectral windows (4 MHz apart), one field, one set of antennas
    assert dd[:len(d1)].tolist() == [0] * len(d1) and dd[len(d1):].tolist() == [1] * len(d2)
    freqs = sub(out, "SPECTRAL_WINDOW", "CHAN_FREQ")
    np.testing.assert_array_equal(freqs[0], sub(a, "SPECTRAL_WINDOW", "CHAN_FREQ")[0])
    np.testing.assert_array_equal(freqs[1], sub(b, "SPECTRAL_WINDOW", "CHAN_FREQ")[0])
    assert set(fld.tolist()) == {0} and sub(out, "FIELD") == 1
    assert sub(out, "ANTENNA") == 28 and sub(out, "FEED") == 28
    assert sub(out, "OBSERVATION") == 1
    assert sorted(sub(out, "SOURCE", "SPECTRAL_WINDOW_ID").tolist()) == [0, 1]
    assert "taskname=concat" in list(sub(out, "HISTORY", "MESSAGE"))


def test_freqtol_merges_spws_and_weightscale(data_dir, tmp_path):
    a, b = os.path.join(data_dir, M1), os.path.join(data_dir, M2)
    out = str(tmp_path / "c.ms")
    concat(vis=[a, b], concatvis=out, freqtol="5MHz", visweightscale=[1.0, 4.0], timesort=True)
    dd, w, s, t = cols(out, "DATA_DESC_ID", "WEIGHT", "SIGMA", "TIME")
    assert sub(out, "SPECTRAL_WINDOW") == 1 and set(dd.tolist()) == {0}
    assert np.all(np.diff(t) >= 0)
    w1, = cols(a, "WEIGHT")
    w2, s2 = cols(b, "WEIGHT", "SIGMA")
    assert np.isclose(w.sum(dtype=np.float64), w1.sum(dtype=np.float64) + 4 * w2.sum(dtype=np.float64),
                      rtol=1e-6)


def test_dirtol(data_dir, tmp_path):
    b2 = str(tmp_path / "moved.ms")
    import shutil
    shutil.copytree(os.path.join(data_dir, M2), b2)
    with ct.table(os.path.join(b2, "FIELD"), readonly=False, ack=False) as t:
        for c in ("PHASE_DIR", "DELAY_DIR", "REFERENCE_DIR"):
            v = t.getcol(c)
            v[:, 0, 1] += np.deg2rad(2 / 3600)         # 2 arcsec north
            t.putcol(c, v)
    out1, out2 = str(tmp_path / "c1.ms"), str(tmp_path / "c2.ms")
    concat(vis=[os.path.join(data_dir, M1), b2], concatvis=out1)
    concat(vis=[os.path.join(data_dir, M1), b2], concatvis=out2, dirtol="5arcsec")
    assert sub(out1, "FIELD") == 2
    assert sorted(set(cols(out1, "FIELD_ID")[0].tolist())) == [0, 1]
    assert sub(out2, "FIELD") == 1


def test_append_to_existing(data_dir, tmp_path):
    import shutil
    out = str(tmp_path / "c.ms")
    shutil.copytree(os.path.join(data_dir, M1), out)
    concat(vis=[os.path.join(data_dir, M2)], concatvis=out)
    assert len(cols(out, "TIME")[0]) == 2720
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []


def test_failure_leaves_nothing(data_dir, tmp_path, monkeypatch):
    import casashell.ms.transform_concat as tc

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(tc, "_copy_rows", boom)
    with pytest.raises(KeyboardInterrupt):
        concat(vis=[os.path.join(data_dir, M1), os.path.join(data_dir, M2)],
               concatvis=str(tmp_path / "c.ms"))
    assert os.listdir(tmp_path) == ["casa-test.log"]


def test_chronological_order_and_scratch_columns(data_dir, tmp_path):
    import shutil
    early = str(tmp_path / "early.ms")
    shutil.copytree(os.path.join(data_dir, M2), early)
    with ct.table(early, readonly=False, ack=False) as t:
        for c in ("TIME", "TIME_CENTROID"):
            t.putcol(c, t.getcol(c) - 3600.0)
        desc = t.getcoldesc("DATA")
        t.addcols(ct.maketabdesc(ct.makecoldesc("CORRECTED_DATA", desc)))
        t.putcol("CORRECTED_DATA", t.getcol("DATA") * 2)
    out = str(tmp_path / "c.ms")
    concat(vis=[os.path.join(data_dir, M1), early], concatvis=out)
    d1, = cols(os.path.join(data_dir, M1), "DATA")
    de, ce = cols(early, "DATA", "CORRECTED_DATA")
    d, c, t = cols(out, "DATA", "CORRECTED_DATA", "TIME")
    n = len(de)
    # the earlier MS comes first
    np.testing.assert_array_equal(d[:n], de)
    np.testing.assert_array_equal(c[:n], ce)
    # the MS without CORRECTED_DATA gets CORRECTED_DATA = DATA
    np.testing.assert_array_equal(d[n:], d1)
    np.testing.assert_array_equal(c[n:], d1)
    with pytest.raises(ValueError, match="positive"):
        concat(vis=[os.path.join(data_dir, M1), early], concatvis=str(tmp_path / "x.ms"),
               visweightscale=[1.0, -2.0])


def test_same_ms_twice_refused(data_dir, tmp_path, monkeypatch):
    """CASA 6.7: "'x.ms is contained in the list more than once.'", nothing written; here
    also when the second name is spelled differently (trailing slash, absolute, symlink)."""
    import shutil
    monkeypatch.chdir(tmp_path)
    shutil.copytree(os.path.join(data_dir, M1), "a.ms")
    os.symlink("a.ms", "link.ms")
    for second in ("a.ms", "a.ms/", str(tmp_path / "a.ms"), "link.ms"):
        with pytest.raises(ValueError, match=r"^a\.ms( \(also as .*\))? is contained in the "
                                             r"list more than once$"):
            concat(vis=["a.ms", second], concatvis="c2.ms")
        assert not os.path.exists("c2.ms")
    with pytest.raises(ValueError, match="more than once"):
        concat(vis=["a.ms", "a.ms"], concatvis="a.ms")      # appending to itself
    assert cols("a.ms", "TIME")[0].shape == cols(os.path.join(data_dir, M1), "TIME")[0].shape


@requires_casa
def test_same_ms_twice_as_casa(data_dir, tmp_path, monkeypatch):
    import shutil
    shutil.copytree(os.path.join(data_dir, M1), tmp_path / "a.ms")
    casa = run_casa("""
        import os
        from casatasks import concat
        try:
            concat(vis=['a.ms', 'a.ms'], concatvis='c2.ms')
            result = 'no error'
        except Exception as e:
            result = [str(e), os.path.exists('c2.ms')]
        """, cwd=str(tmp_path))
    assert "'a.ms is contained in the list more than once.'" in casa[0] and casa[1] is False
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as exc:
        concat(vis=["a.ms", "a.ms"], concatvis="c3.ms")
    assert str(exc.value) + "." in casa[0] and not os.path.exists("c3.ms")
