"""listobs measured against live CASA 6.7, and our written MSs opened by CASA.

One module-scoped fixture prepares everything: copies of pyuvdata's MSs,
synthetic MSs, the outputs of our writing tasks (split, mstransform,
hanningsmooth, concat, importuvfits, partition, clearcal, initweights), our
listobs text and dictionary for every case, our flagdata summary of every
written MS.  Then ONE CASA run does CASA's listobs on every case (text and
dictionary), CASA's flagdata summary, and opens every written MS with the
``ms`` tool and ``msmetadata``.  The tests compare the two.

Known differences, where CASA is wrong (docs/inspection.md, "Measured
against CASA"), are checked for what each side prints: the observation-date
column of a multi-observation MS (CASA prints the raw TIME_RANGE numbers),
antenna offsets CASA measures from an observatory position far from the
antennas (OVRO_MMA's table entry holds a height where a radius belongs; MSs
whose telescope name belongs to another site), and telescopes CASA does not
know (its verbose listobs fails).  CASA's vishead(mode='list') is compared
too.
"""

from __future__ import annotations

import math
import os
import re
import shutil

import numpy as np
import pytest

from casa_ref import requires_casa, run_casa
from conftest import DATA_DIR, REAL_MSS

pytestmark = requires_casa

SCAN1 = "day2_TDEM0003_10s_norx_1scan.ms"
SRC1 = "day2_TDEM0003_10s_norx_1src_1spw.ms"
OVRO = "2018-03-21-01_26_33_0004384620257280_000000_downselected.ms"
PAPER = "zen.2456865.60537.xy.uvcRREAAM.ms"

#: synthetic MS: 4 fields, 6 scans with intents, 3 spws of 8/16/4 channels and
#: 4/2/1 correlations, 2 observations, CORRECTED_DATA
SYN_KW = dict(nant=6, nfield=4, nscan=6, nspw=3, nchan=[8, 16, 4], ncorr=[4, 2, 1],
              ntimes_per_scan=3, nobs=2, corrected=True, seed=3)
#: a second one for combinespws (same correlations in every spw, adjacent spws)
SYN2_KW = dict(nant=5, nfield=2, nscan=3, nspw=2, nchan=8, ncorr=2, ntimes_per_scan=4,
               corrected=True, seed=5, spw_bandwidth=64e6)
#: three observations, four correlations everywhere
SYN3_KW = dict(nant=5, nfield=3, nscan=5, nspw=2, nchan=8, ncorr=4, ntimes_per_scan=3,
               nobs=3, corrected=True, seed=1)
#: linear feeds, no autocorrelations, WEIGHT_SPECTRUM, MODEL_DATA, and the
#: telescope named ALMA while the antennas stand at the VLA (CASA measures the
#: offsets from ALMA's site: a documented difference)
LIN_KW = dict(nant=4, nfield=2, nscan=3, nspw=2, nchan=[5, 7], ncorr=[2, 4],
              ntimes_per_scan=2, linear=True, autocorr=False, telescope="ALMA",
              weight_spectrum=True, model=True, seed=9)

#: listobs runs on the synthetic MS with other parameters
SYN_CASES = {
    "syn": {},
    "syn_brief": dict(verbose=False),
    "syn_unfl": dict(listunfl=True),
    "syn_field": dict(field="1,TARGET_1"),
    "syn_spw": dict(spw="1,2"),
    "syn_scan": dict(scan="2~4"),
    "syn_ant": dict(antenna="ea01,ea03"),
    "syn_time": dict(timerange="2010/04/26/06:01:00~2010/04/26/06:05:00"),
    "syn_mixed": dict(field="0,2", spw="0,2", scan="1~5", antenna="ea02", listunfl=True),
    "syn_nosel": dict(selectdata=False, field="0", listunfl=True),
    "syn_chan": dict(spw="0:2~5,1:0~3"),
    "syn_notant": dict(antenna="!ea01"),
    "syn_autos": dict(antenna="ea02&&&"),
    "syn_glob": dict(field="J*,TARGET*"),
    "syn_after": dict(timerange=">06:05:00"),
}
SYN3_CASES = {
    "syn3": {},
    "syn3_intent": dict(intent="*PHASE*"),
    "syn3_obs": dict(observation="1"),
    "syn3_corr": dict(correlation="RR"),
    "syn3_uvrange": dict(uvrange="<300m"),
    "syn3_array": dict(array="0"),
    "syn3_brief_unfl": dict(verbose=False, listunfl=True),
}

#: MSs whose antenna offsets CASA measures from a far-away observatory
#: position (docs/inspection.md): compared but for the three offset columns
FAR_REFERENCE = {OVRO, "lin", "w_mst_lin", "w_import_mwa_elsewhere"}

#: the written MSs: name -> how our task made it
WRITTEN = ["generated", "split_avg", "split_real", "split_timebin", "split_sel",
           "split_mwa", "mst_regrid", "mst_regrid_freq", "mst_combine", "mst_average",
           "mst_lin", "hanning", "hanning_real", "concat", "importuvfits",
           "import_1scan", "import_subarrays", "import_longname", "import_mwa_elsewhere",
           "import_hera", "partition", "partition_spw", "clearcal", "initweights"]
#: written MSs of arrays CASA does not know (its listobs fails)
UNKNOWN_TELESCOPE = {"import_hera": "mock-HERA"}


def _ours_listobs(vis, listfile, **kw):
    from casashell.tasks import listobs
    try:
        rec = listobs(vis=vis, listfile=listfile, **kw)
    except Exception as exc:  # noqa: BLE001 - recorded and asserted on
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"rec": rec}


def _make_written(w: str) -> dict:
    """Our writing tasks' outputs in ``w``: name -> path."""
    from casashell.tasks import (clearcal, concat, hanningsmooth, importuvfits,
                                 initweights, mstransform, partition, split)

    syn = os.path.join(w, "syn.ms")
    syn2 = os.path.join(w, "syn2.ms")
    out = {"generated": syn}
    out["split_avg"] = os.path.join(w, "split_avg.ms")
    split(vis=syn, outputvis=out["split_avg"], datacolumn="corrected", width=2,
          timebin="20s", correlation="RR,LL", spw="0,1")
    out["split_real"] = os.path.join(w, "split_real.ms")
    split(vis=os.path.join(w, SCAN1), outputvis=out["split_real"], datacolumn="data",
          width=4, correlation="RR,LL")
    syn3 = os.path.join(w, "syn3.ms")
    lin = os.path.join(w, "lin.ms")
    out["split_timebin"] = os.path.join(w, "split_timebin.ms")
    split(vis=os.path.join(w, SCAN1), outputvis=out["split_timebin"], datacolumn="data",
          timebin="30s", keepflags=False)
    out["split_sel"] = os.path.join(w, "split_sel.ms")
    split(vis=syn3, outputvis=out["split_sel"], field="1,2", scan="2~4",
          datacolumn="corrected", correlation="LL")
    out["split_mwa"] = os.path.join(w, "split_mwa.ms")
    split(vis=os.path.join(w, "1102865728_small.ms"), outputvis=out["split_mwa"],
          datacolumn="data", width=2, timebin="4s")
    out["mst_regrid_freq"] = os.path.join(w, "mst_regrid_freq.ms")
    mstransform(vis=os.path.join(w, SCAN1), outputvis=out["mst_regrid_freq"],
                datacolumn="data", regridms=True, mode="frequency", nchan=20,
                start="1.4GHz", width="2MHz", outframe="BARY")
    out["mst_average"] = os.path.join(w, "mst_average.ms")
    mstransform(vis=syn3, outputvis=out["mst_average"], datacolumn="data",
                chanaverage=True, chanbin=4, timeaverage=True, timebin="20s")
    out["mst_lin"] = os.path.join(w, "mst_lin.ms")
    mstransform(vis=lin, outputvis=out["mst_lin"], datacolumn="all", spw="1",
                correlation="XX,YY")
    out["hanning_real"] = os.path.join(w, "hanning_real.ms")
    hanningsmooth(vis=os.path.join(w, SRC1), outputvis=out["hanning_real"])
    for name, fits in [("import_1scan", "day2_TDEM0003_10s_norx_1scan.uvfits"),
                       ("import_subarrays", "multi_subarray.uvfits"),
                       ("import_longname", "fewant_randsrc_airybeam_Nsrc100_10MHz.uvfits"),
                       ("import_mwa_elsewhere", "ref_1.1_uniform.uvfits"),
                       ("import_hera", "corrected2_zen.2458106.28114.ant012.HH.uvfits")]:
        out[name] = os.path.join(w, name + ".ms")
        importuvfits(fitsfile=os.path.join(DATA_DIR, fits), vis=out[name])
    out["partition_spw"] = os.path.join(w, "part_spw.mms")
    partition(vis=syn3, outputvis=out["partition_spw"], separationaxis="spw",
              flagbackup=False)
    out["mst_regrid"] = os.path.join(w, "mst_regrid.ms")
    mstransform(vis=os.path.join(w, SRC1), outputvis=out["mst_regrid"], datacolumn="data",
                regridms=True, outframe="LSRK", mode="channel", nchan=10, start=5, width=2)
    out["mst_combine"] = os.path.join(w, "mst_combine.ms")
    mstransform(vis=syn2, outputvis=out["mst_combine"], datacolumn="data", combinespws=True)
    out["hanning"] = os.path.join(w, "hanning.ms")
    hanningsmooth(vis=syn, outputvis=out["hanning"], datacolumn="all")
    out["concat"] = os.path.join(w, "concat.ms")
    concat(vis=[os.path.join(w, "multi_1.ms"), os.path.join(w, "multi_2.ms")],
           concatvis=out["concat"])
    out["importuvfits"] = os.path.join(w, "imported.ms")
    importuvfits(fitsfile=os.path.join(DATA_DIR, "day2_TDEM0003_10s_norx_1src_1spw.uvfits"),
                 vis=out["importuvfits"])
    out["partition"] = os.path.join(w, "part.mms")
    partition(vis=syn, outputvis=out["partition"], separationaxis="scan", numsubms=3,
              flagbackup=False)
    out["clearcal"] = os.path.join(w, "clearcal.ms")
    shutil.copytree(syn, out["clearcal"])
    clearcal(vis=out["clearcal"], addmodel=True)
    out["initweights"] = os.path.join(w, "initweights.ms")
    shutil.copytree(syn, out["initweights"])
    initweights(vis=out["initweights"], wtmode="nyq", dowtsp=True)
    return out


_CASA_CODE = """
import os, casatasks, casatools
result = {"listobs": {}, "flags": {}, "open": {}}
for name, kw in cases.items():
    print("CASE", name, file=sys.stderr, flush=True)
    try:
        rec = casatasks.listobs(listfile=os.path.join(w, name + ".casa.txt"), **kw)
        result["listobs"][name] = {"rec": rec}
    except Exception as exc:
        result["listobs"][name] = {"error": repr(exc)}
for name, path in written.items():
    try:
        s = casatasks.flagdata(vis=path, mode="summary")
    except Exception as exc:
        result["flags"][name] = {"error": repr(exc)}
        s = None
    if s is not None:
        result["flags"][name] = {"flagged": s["flagged"], "total": s["total"],
                                 "spw": {k: [v["flagged"], v["total"]]
                                         for k, v in s["spw"].items()},
                                 "field": {k: [v["flagged"], v["total"]]
                                           for k, v in s["field"].items()}}
    info = {}
    m = casatools.ms()
    try:
        m.open(path)
        info["nrow"] = int(m.nrow())
        m.close()
    except Exception as exc:
        info["ms_error"] = repr(exc)
    md = casatools.msmetadata()
    try:
        md.open(path)
        info["nspw"] = int(md.nspw())
        info["nfields"] = int(md.nfields())
        info["nscans"] = len(md.scannumbers())
        info["scans"] = [int(v) for v in md.scannumbers()]
        info["antennas"] = list(md.antennanames())
        info["fieldnames"] = list(md.fieldnames())
        info["chanfreqs"] = [md.chanfreqs(i).tolist() for i in range(md.nspw())]
        info["corrtypes"] = [md.corrtypesforpol(p).tolist()
                             for p in range(len(md.ncorrforpol()))]
        md.close()
    except Exception as exc:
        info["md_error"] = repr(exc)
    result["open"][name] = info
result["vishead"] = {}
for name, path in vishead.items():
    try:
        result["vishead"][name] = casatasks.vishead(vis=path, mode="list", listitems=[])
    except Exception as exc:
        result["vishead"][name] = {"error": repr(exc)}
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from casashell.tasks import flagdata, vishead

    w = str(tmp_path_factory.mktemp("casa_listobs"))
    for name in REAL_MSS:
        shutil.copytree(os.path.join(DATA_DIR, name), os.path.join(w, name))
    from casashell.ms.generate import make_ms
    make_ms(os.path.join(w, "syn.ms"), **SYN_KW)
    make_ms(os.path.join(w, "syn2.ms"), **SYN2_KW)
    make_ms(os.path.join(w, "syn3.ms"), **SYN3_KW)
    make_ms(os.path.join(w, "lin.ms"), **LIN_KW)
    # two (sub)arrays: ARRAY_ID 1 from the fourth scan on (make_ms writes one)
    shutil.copytree(os.path.join(w, "syn3.ms"), os.path.join(w, "arrays.ms"))
    from casacore import tables as ct
    with ct.table(os.path.join(w, "arrays.ms"), readonly=False, ack=False) as t:
        t.putcol("ARRAY_ID", np.where(t.getcol("SCAN_NUMBER") >= 4, 1, 0).astype(np.int32))
    # BBC numbers and per-row field direction frames (a VarRefCol on PHASE_DIR)
    shutil.copytree(os.path.join(w, "syn.ms"), os.path.join(w, "bbc.ms"))
    with ct.table(os.path.join(w, "bbc.ms", "SPECTRAL_WINDOW"), readonly=False,
                  ack=False) as t:
        t.addcols(ct.makescacoldesc("BBC_NO", 0))
        t.putcol("BBC_NO", np.array([3, 7, 12], dtype=np.int32))
    with ct.table(os.path.join(w, "bbc.ms", "FIELD"), readonly=False, ack=False) as t:
        t.addcols(ct.makescacoldesc("PhaseDir_Ref", 0))
        t.putcol("PhaseDir_Ref", np.array([0, 1, 0, 1], dtype=np.int32))
        mi = dict(t.getcolkeyword("PHASE_DIR", "MEASINFO"))
        mi.pop("Ref", None)
        mi.update(VarRefCol="PhaseDir_Ref", TabRefTypes=["J2000", "B1950"], TabRefCodes=[0, 1])
        t.putcolkeyword("PHASE_DIR", "MEASINFO", mi)
    written = _make_written(w)

    cases = {}
    for name in REAL_MSS:
        cases[name] = dict(vis=os.path.join(w, name))
        cases["brief_" + name] = dict(vis=os.path.join(w, name), verbose=False)
        cases["unfl_" + name] = dict(vis=os.path.join(w, name), listunfl=True)
    cases["scan1_unfl"] = dict(vis=os.path.join(w, SCAN1), listunfl=True)
    cases["scan1_brief"] = dict(vis=os.path.join(w, SCAN1), verbose=False)
    cases["scan1_sel"] = dict(vis=os.path.join(w, SCAN1), spw="1", antenna="1,2,3",
                              timerange="03:22:20~03:22:50")
    for name, kw in SYN_CASES.items():
        cases[name] = dict(vis=os.path.join(w, "syn.ms"), **kw)
    for name, kw in SYN3_CASES.items():
        cases[name] = dict(vis=os.path.join(w, "syn3.ms"), **kw)
    cases["lin"] = dict(vis=os.path.join(w, "lin.ms"))
    cases["arrays"] = dict(vis=os.path.join(w, "arrays.ms"))
    cases["arrays_sel"] = dict(vis=os.path.join(w, "arrays.ms"), array="1", listunfl=True)
    cases["bbc"] = dict(vis=os.path.join(w, "bbc.ms"))
    # selection forms: regular expressions, stations, quoted names, spw-prefixed
    # correlations, ';' spw lists
    cases["syn_rx"] = dict(vis=os.path.join(w, "syn.ms"), field="/J1.*|NGC.*/",
                           antenna="/ea0[1-3]/&&&;/ea0[45]/", intent="/.*PHASE.*/,*TARGET*")
    cases["syn_quoted"] = dict(vis=os.path.join(w, "syn.ms"), field='"3C286",2',
                               spw="0;2", correlation="0:RR,LL")
    for name, path in written.items():
        cases["w_" + name] = dict(vis=path)

    vishead_of = {n: os.path.join(w, n) for n in REAL_MSS if n != "multi_len_spw.ms"}
    vishead_of.update({n: os.path.join(w, n + ".ms") for n in ("syn", "syn3", "lin")})
    vishead_of.update({n: written[n] for n in ("concat", "importuvfits", "split_avg")})
    ours, our_flags, our_vishead = {}, {}, {}
    for name, path in vishead_of.items():
        our_vishead[name] = vishead(vis=path, mode="list", listitems=[])
    for name, kw in cases.items():
        ours[name] = _ours_listobs(listfile=os.path.join(w, name + ".ours.txt"), **kw)
    for name, path in written.items():
        s = flagdata(vis=path, mode="summary")
        our_flags[name] = s

    # Two CASA processes: after the listobs calls, CASA 6.7 crashes (SIGSEGV) in
    # flagdata(mode='summary') on our Multi-MS part_spw.mms, which a fresh process
    # reads without trouble; the written MSs are checked in a process of their own.
    listed = run_casa(f"cases = {cases!r}\nwritten = {{}}\nvishead = {{}}\nw = {w!r}\n"
                      + _CASA_CODE, w)
    casa = run_casa(f"cases = {{}}\nwritten = {written!r}\nvishead = {vishead_of!r}\n"
                    f"w = {w!r}\n" + _CASA_CODE, w)
    casa["listobs"] = listed["listobs"]
    return dict(w=w, cases=cases, ours=ours, casa=casa, our_flags=our_flags,
                written=written, our_vishead=our_vishead)


def _text(env, name, who):
    path = os.path.join(env["w"], f"{name}.{who}.txt")
    with open(path) as fh:
        return fh.read().splitlines()


_OBS_HEADER = "  Telescope Observation Date    Observer       Project        "
_CASA_OBS_LINE = re.compile(r"^  (.{10})\[\s*(\S+), (\S+)\](.*)$")
_OUR_OBS_LINE = re.compile(r"^  (.{10})(\d{4}/\d\d/\d\d/\d\d:\d\d:\d\d) (.*)$")


def _mjd_seconds(text):
    y, mo, d, h, mi, s = (int(v) for v in re.split(r"[/:]", text))
    import datetime as dt
    days = (dt.date(y, mo, d) - dt.date(1858, 11, 17)).days
    return days * 86400.0 + h * 3600 + mi * 60 + s


def compare_text(ours: list, casa: list, far_reference: bool = False):
    """Every line but the MS name; the two documented differences checked
    for what each side must print."""
    assert len(ours) == len(casa), "\n".join(ours) + "\n----\n" + "\n".join(casa)
    in_obs = in_ant = False
    for i, (a, b) in enumerate(zip(ours, casa)):
        if i == 1:
            assert a.startswith("           MeasurementSet Name:  ")
            assert b.startswith("           MeasurementSet Name:  ")
            assert a.split()[-3:] == b.split()[-3:]          # MS Version 2
            continue
        if a == _OBS_HEADER:
            in_obs = True
        elif in_obs and a.startswith("Data records:"):
            in_obs = False
        elif in_obs:
            ma, mb = _OUR_OBS_LINE.match(a), _CASA_OBS_LINE.match(b)
            assert ma and mb, f"line {i + 1}:\nours: {a!r}\nCASA: {b!r}"
            assert ma.group(1) == mb.group(1) and ma.group(3) == mb.group(4)
            # CASA: the TIME_RANGE start as %g (6 digits); ours: its date
            assert abs(_mjd_seconds(ma.group(2)) - float(mb.group(2))) <= 5e3
            continue
        if far_reference and a.startswith("  ID   Name  Station   Diam.    Long. "):
            in_ant = True
        elif in_ant and re.match(r"^  \d+ ", a):
            # the same but for the East/North/Elevation offsets: ours from the
            # array's own centre, CASA's from an observatory position far away
            ta, tb = a.split(), b.split()
            assert ta[:-6] == tb[:-6] and ta[-3:] == tb[-3:], f"line {i + 1}"
            assert max(abs(float(v)) for v in ta[-6:-3]) < 1e4
            assert max(abs(float(v)) for v in tb[-6:-3]) > 1e5
            continue
        assert a == b, f"line {i + 1} differs:\nours: {a!r}\nCASA: {b!r}"


def compare_records(ours, casa, where="rec"):
    """Same keys, same values; floats to 1e-9 relative."""
    if isinstance(ours, np.ndarray):
        ours = ours.tolist()
    if isinstance(ours, np.generic):
        ours = ours.item()
    if isinstance(casa, dict):
        assert isinstance(ours, dict), where
        assert sorted(ours) == sorted(casa), f"{where}: {sorted(ours)} != {sorted(casa)}"
        for k in casa:
            compare_records(ours[k], casa[k], f"{where}.{k}")
    elif isinstance(casa, list):
        assert isinstance(ours, (list, tuple)) and len(ours) == len(casa), where
        for k, (a, b) in enumerate(zip(ours, casa)):
            compare_records(a, b, f"{where}[{k}]")
    elif isinstance(casa, float) and not isinstance(ours, str):
        assert math.isclose(float(ours), casa, rel_tol=1e-9, abs_tol=1e-12), \
            f"{where}: {ours!r} != {casa!r}"
    else:
        assert ours == casa and type(ours) is type(casa), f"{where}: {ours!r} != {casa!r}"


def _check_case(env, name):
    ours, casa = env["ours"][name], env["casa"]["listobs"][name]
    assert "error" not in casa, casa
    assert "error" not in ours, ours
    compare_text(_text(env, name, "ours"), _text(env, name, "casa"),
                 far_reference=any(name == f or name.endswith("_" + f)
                                   for f in FAR_REFERENCE))
    compare_records(ours["rec"], casa["rec"])


# -- pyuvdata's MSs -------------------------------------------------------------------

@pytest.mark.parametrize("name", REAL_MSS)
def test_real_ms(env, name):
    casa = env["casa"]["listobs"][name]
    ours = env["ours"][name]
    if name == PAPER:
        # CASA cannot place PAPER: listobs fails; ours lists it
        assert "Telescope PAPER is not recognized" in casa["error"]
        assert "rec" in ours and ours["rec"]["numrecords"] > 0
        assert _text(env, name, "ours")[4].startswith("Observation: PAPER")
        return
    if name == "multi_len_spw.ms":
        # not a table at all (a folder of raw files): both refuse it
        assert "table.dat does not exist" in casa["error"]
        assert "is not a table" in ours["error"]
        return
    _check_case(env, name)


@pytest.mark.parametrize("name", ["scan1_unfl", "scan1_brief", "scan1_sel"]
                         + [p + n for n in REAL_MSS for p in ("brief_", "unfl_")])
def test_real_ms_options(env, name):
    if name.endswith(PAPER) and not name.startswith("brief_"):
        # as test_real_ms (verbose=False does not need the array position: CASA
        # lists it, and is compared below)
        assert "Telescope PAPER is not recognized" in env["casa"]["listobs"][name]["error"]
        assert env["ours"][name]["rec"]["numrecords"] > 0
        return
    if name.endswith("multi_len_spw.ms"):
        assert "error" in env["casa"]["listobs"][name] and "error" in env["ours"][name]
        return
    _check_case(env, name)


def test_every_real_ms_was_compared(env):
    failed = sorted(n for n in REAL_MSS if "error" in env["casa"]["listobs"][n])
    assert failed == ["multi_len_spw.ms", PAPER]
    assert len(REAL_MSS) - len(failed) >= 7


# -- synthetic MSs --------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SYN_CASES) + sorted(SYN3_CASES)
                         + ["lin", "arrays", "arrays_sel", "bbc", "syn_rx", "syn_quoted"])
def test_synthetic(env, name):
    _check_case(env, name)


def test_synthetic_covers_what_it_should(env):
    text = "\n".join(_text(env, "syn", "ours"))
    assert "ObservationID = 1" in text
    assert "(3 unique spectral windows and 3 unique polarization setups)" in text
    assert "[CALIBRATE_AMPLI#UNSPECIFIED,CALIBRATE_PHASE#UNSPECIFIED]" in text
    assert "ObservationID = 2" in "\n".join(_text(env, "syn3", "casa"))
    text = "\n".join(_text(env, "arrays", "casa"))
    assert "ObservationID = 1         ArrayID = 1" in text
    assert "ObservationID = 2         ArrayID = 1" in text
    unfl = _text(env, "syn_unfl", "casa")
    # a flagged fraction shows in the unflagged row counts (not all integers)
    assert any(re.search(r"\s\d+\.(?!00)\d\d\s", ln) for ln in unfl)


# -- our written MSs opened by CASA ---------------------------------------------------

@pytest.mark.parametrize("name", WRITTEN)
def test_written_ms_listobs(env, name):
    if name in UNKNOWN_TELESCOPE:
        err = env["casa"]["listobs"]["w_" + name]["error"]
        assert f"Telescope {UNKNOWN_TELESCOPE[name]} is not recognized" in err
        assert env["ours"]["w_" + name]["rec"]["numrecords"] > 0
        return
    _check_case(env, "w_" + name)


@pytest.mark.parametrize("name", WRITTEN)
def test_written_ms_flag_summary(env, name):
    ours, casa = env["our_flags"][name], env["casa"]["flags"][name]
    assert ours["total"] == casa["total"] and ours["flagged"] == casa["flagged"]
    assert {k: [v["flagged"], v["total"]] for k, v in ours["spw"].items()} == casa["spw"]
    assert {k: [v["flagged"], v["total"]] for k, v in ours["field"].items()} == casa["field"]


@pytest.mark.parametrize("name", WRITTEN)
def test_written_ms_opens_in_casa_tools(env, name):
    info = env["casa"]["open"][name]
    rec = env["ours"]["w_" + name]["rec"]
    assert "ms_error" not in info and "md_error" not in info, info
    assert info["nrow"] == rec["numrecords"]
    assert info["nfields"] >= rec["nfields"]
    assert info["nscans"] == len({k for k in rec if k.startswith("scan_")})


# -- vishead(mode='list') -------------------------------------------------------------

VISHEAD_MSS = ([n for n in REAL_MSS if n != "multi_len_spw.ms"]
               + ["syn", "syn3", "lin", "concat", "importuvfits", "split_avg"])


@pytest.mark.parametrize("name", VISHEAD_MSS)
def test_vishead_list_matches_casa(env, name):
    casa = env["casa"]["vishead"][name]
    assert "error" not in casa, casa
    compare_records(env["our_vishead"][name], casa, name)
    # the pointing centres of a variable-shaped column come per row
    assert set(casa["ptcs"][0]) == {f"r{i + 1}" for i in range(len(casa["ptcs"][0]))}


@pytest.mark.parametrize("name", WRITTEN)
def test_written_ms_metadata_as_casa_reads_it(env, name):
    """CASA's msmetadata reads the same antennas, fields, scans, channel
    frequencies and correlation types as our MS layer."""
    from casacore import tables as ct

    from casashell.ms.metadata import MSMetadata

    info = env["casa"]["open"][name]
    path = env["written"][name]
    md = MSMetadata(path)
    assert info["antennas"] == [a.name for a in md.antennas]
    assert info["fieldnames"] == [f.name for f in md.fields]
    assert len(info["chanfreqs"]) == len(md.spws)
    for casa_f, spw in zip(info["chanfreqs"], md.spws):
        assert np.allclose(casa_f, spw.chan_freq, rtol=1e-12, atol=0)
    assert info["corrtypes"] == [list(md.pol_codes[p]) for p in sorted(md.pol_codes)]
    with ct.table(path, ack=False) as t:
        assert info["scans"] == sorted(set(t.getcol("SCAN_NUMBER").tolist()))


def test_bbc_and_row_frames_are_listed(env):
    """The 'bbc' case (compared with CASA in test_synthetic) really has what it is for."""
    text = _text(env, "bbc", "ours")
    hdr = next(ln for ln in text if ln.startswith("  SpwID"))
    assert "BBC Num" in hdr
    j = text.index("Fields: 4")
    ep = text[j + 1].index("Epoch")
    assert [text[j + 2 + k][ep:ep + 8].strip() for k in range(4)] == \
        ["J2000", "B1950", "J2000", "B1950"]
    assert env["ours"]["syn_rx"]["rec"]["numrecords"] > 0
    assert env["ours"]["syn_quoted"]["rec"]["numrecords"] > 0
