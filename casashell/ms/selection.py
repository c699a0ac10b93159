"""CASA data selection syntax, parsed by our own code into rows, channels and
correlations of a MeasurementSet.

    sel = select("x.ms", field="3C*", spw="0:4~60", antenna="ea07&ea08")
    sel.rows          # sorted int64 main-table row numbers
    sel.channels      # {spw_id: bool mask over that spw's channels}
    sel.correlations  # {pol_id: bool mask over that setup's correlations}

Parsing works on the subtables (``MSMetadata``); the main table is then read
in bounded chunks, only the columns the given parameters need, and every test
is a vectorised numpy operation.  TaQL's ``mscal`` functions are not used.

The syntax accepted, and where we chose a behaviour CASA leaves open, is
described in ``docs/selection.md``.
"""

from __future__ import annotations

import calendar
import datetime
import fnmatch
import re

import numpy as np

from .core import open_ms
from .metadata import MSMetadata, STOKES_CODES

C_LIGHT = 299792458.0
_MJD_EPOCH = datetime.datetime(1858, 11, 17)

#: selection parameters that accept a string
PARAMS = ("field", "spw", "antenna", "scan", "timerange", "uvrange", "correlation",
          "intent", "observation", "array", "feed")


class SelectionError(ValueError):
    """A selection string is malformed or matches nothing."""


def _fail(param, value, why):
    raise SelectionError(f"{param} selection '{value}': {why}")


# ---------------------------------------------------------------------------
# result
#: lazily computed id lists of a Selection -> main-table columns they come from
_LAZY = {"fields": ("FIELD_ID",), "antennas": ("ANTENNA1", "ANTENNA2"),
         "scans": ("SCAN_NUMBER",), "observations": ("OBSERVATION_ID",),
         "arrays": ("ARRAY_ID",), "states": ("STATE_ID",)}


class Selection:
    """The outcome of :func:`select`.

    ``rows``, ``channels``, ``correlations``, ``spws`` and ``ddids`` are computed
    by :func:`select`; ``fields``, ``antennas``, ``scans``, ``observations``,
    ``arrays`` and ``states`` (the distinct values in the selected rows) are read
    when first used unless select() already had the column in hand.
    """

    def __init__(self, vis, rows, channels, correlations, spws, ddids, params=None,
                 total_rows=0, known=None):
        self.vis = vis
        self.rows = rows
        self.channels = channels
        self.correlations = correlations
        self.spws = spws
        self.ddids = ddids
        self.params = params or {}
        self.total_rows = total_rows
        self._known = dict(known or {})

    def _ids(self, name):
        if name not in self._known:
            from .io import iter_chunks
            cols = _LAZY[name]
            acc = set()
            with open_ms(self.vis) as t:
                have = set(t.colnames())
                if not all(c in have for c in cols):
                    self._known[name] = [0] if name in ("observations", "arrays") else []
                    return self._known[name]
                rows = None if self.all_rows else self.rows
                for _, c in iter_chunks(t, cols, rows=rows):
                    for col in cols:
                        acc.update(np.unique(c[col]).tolist())
            self._known[name] = sorted(int(x) for x in acc)
        return self._known[name]

    fields = property(lambda self: self._ids("fields"))
    antennas = property(lambda self: self._ids("antennas"))
    scans = property(lambda self: self._ids("scans"))
    observations = property(lambda self: self._ids("observations"))
    arrays = property(lambda self: self._ids("arrays"))
    states = property(lambda self: self._ids("states"))

    @property
    def nrows(self) -> int:
        return int(len(self.rows))

    @property
    def is_empty(self) -> bool:
        return len(self.rows) == 0

    @property
    def all_rows(self) -> bool:
        """True when every row of the MS is selected."""
        return len(self.rows) == self.total_rows

    def channel_ranges(self, spw: int) -> list:
        """The selected channels of ``spw`` as ``[(start, stop_inclusive), ...]``."""
        return mask_to_ranges(self.channels[spw])

    def row_mask(self) -> np.ndarray:
        """Boolean mask over all rows of the MS."""
        m = np.zeros(self.total_rows, dtype=bool)
        m[self.rows] = True
        return m

    def nchan(self, spw: int) -> int:
        return int(np.count_nonzero(self.channels[spw]))

    def __repr__(self):
        return (f"Selection({self.vis!r}, nrows={self.nrows} of {self.total_rows}, "
                f"spws={self.spws}, channels={{{', '.join(f'{k}: {self.nchan(k)}' for k in self.channels)}}})")


def mask_to_ranges(mask) -> list:
    """Runs of True in ``mask`` as ``[(first, last), ...]`` (inclusive)."""
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return []
    d = np.diff(np.concatenate([[0], m.astype(np.int8), [0]]))
    starts = np.nonzero(d == 1)[0]
    ends = np.nonzero(d == -1)[0] - 1
    return [(int(a), int(b)) for a, b in zip(starts, ends)]


# ---------------------------------------------------------------------------
# small parsing helpers
_INT_RE = re.compile(r"^\d+$")
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_NUM_RE = re.compile(rf"^\s*({_NUM})\s*([A-Za-z/]*)\s*$")


def _split(value: str, seps: str) -> list:
    return [p.strip() for p in re.split("[" + re.escape(seps) + "]", value)]


def _is_glob(tok: str) -> bool:
    return any(ch in tok for ch in "*?[")


#: characters after which a '/' opens a regular expression (or the start)
_REGEX_OPENERS = ",;&!@~"


def _scan_outside(text: str):
    """Yield (index, char) of the characters of ``text`` that are outside
    ``/regular expressions/`` and ``"quoted names"``.  A '/' opens a regular
    expression only at the start of an element (after one of ``,;&!@~`` or at
    the beginning), so '/' elsewhere (``km/s``) is an ordinary character."""
    mode = None
    prev = ""          # last non-space character outside a regex / quote
    for i, ch in enumerate(text):
        if mode is not None:
            if ch == mode:
                mode = None
                prev = ch
            continue
        if ch == '"':
            mode = '"'
            continue
        if ch == "/" and (prev == "" or prev in _REGEX_OPENERS):
            mode = "/"
            continue
        yield i, ch
        if not ch.isspace():
            prev = ch


def _split_outside(value: str, seps: str) -> list:
    """``_split`` that leaves separators inside /regex/ and "quotes" alone."""
    parts, start = [], 0
    for i, ch in _scan_outside(value):
        if ch in seps:
            parts.append(value[start:i].strip())
            start = i + 1
    parts.append(value[start:].strip())
    return parts


def _find_outside(text: str, sub: str) -> int:
    """Index of the first ``sub`` outside /regex/ and "quotes" (-1: none)."""
    outside = {i for i, _ in _scan_outside(text)}
    for i in range(len(text) - len(sub) + 1):
        if all(i + k in outside for k in range(len(sub))) and text.startswith(sub, i):
            return i
    return -1


def _token_kind(param, value, tok):
    """('regex', compiled) for ``/.../``, ('quoted', text) for ``"..."`` and
    ('plain', tok) otherwise.  As CASA's parser does, backslashes inside a
    regular expression are dropped (write ``[+]`` for a literal '+') and the
    expression must match a whole name (case-sensitive)."""
    if tok.startswith("/"):
        if len(tok) < 2 or not tok.endswith("/"):
            _fail(param, value, f"regular expression {tok} is unterminated or followed by "
                  "other text (a /.../ must be a whole element)")
        body = tok[1:-1].replace("\\", "")
        if body == "":
            _fail(param, value, "empty regular expression '//'")
        try:
            return "regex", re.compile(body)
        except re.error as exc:
            _fail(param, value, f"'{tok}' is not a valid regular expression ({exc})")
    if tok.startswith('"'):
        if len(tok) < 2 or not tok.endswith('"'):
            _fail(param, value, f"quoted name {tok} is unterminated or followed by other "
                  "text (a \"...\" must be a whole element)")
        if tok[1:-1].strip() == "":
            _fail(param, value, "empty quoted name")
        return "quoted", tok[1:-1]
    if '"' in tok:
        _fail(param, value, f"'{tok}': a quote must enclose a whole name")
    return "plain", tok


def _regex_hits(rx, names) -> list:
    return [i for i, n in enumerate(names) if rx.fullmatch(n)]


def _int_spec(param, value, tok):
    """An integer-list token -> (lo, hi) inclusive, or None when not numeric."""
    t = tok.replace(" ", "")
    if _INT_RE.match(t):
        return int(t), int(t)
    m = re.match(r"^(\d+)~(\d+)$", t)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2))
        if lo > hi:
            _fail(param, value, f"range '{tok}' has its start after its end")
        return lo, hi
    m = re.match(r"^>(\d+)&<(\d+)$", t)
    if m:
        lo, hi = int(m.group(1)) + 1, int(m.group(2)) - 1
        if lo > hi:
            _fail(param, value, f"'{tok}' contains no number")
        return lo, hi
    m = re.match(r"^(<=|>=|<|>)(\d+)$", t)
    if m:
        op, n = m.group(1), int(m.group(2))
        if op == "<":
            return -(1 << 62), n - 1
        if op == "<=":
            return -(1 << 62), n
        if op == ">":
            return n + 1, 1 << 62
        return n, 1 << 62
    return None


def _parse_int_list(param, value, *, allow_negation=False):
    """'1~3,5,>7' -> (include [(lo, hi)...], exclude [(lo, hi)...], tokens)."""
    inc, exc, toks = [], [], []
    for tok in _split(value, ","):
        if tok == "":
            _fail(param, value, "empty element in the list")
        neg = False
        if tok.startswith("!"):
            if not allow_negation:
                _fail(param, value, f"negation '{tok}' is not supported here")
            neg, tok = True, tok[1:].strip()
        spec = _int_spec(param, value, tok)
        if spec is None:
            _fail(param, value, f"'{tok}' is not a number, range (a~b) or bound (<n, >n)")
        (exc if neg else inc).append(spec)
        toks.append(("!" if neg else "") + tok)
    return inc, exc, toks


def _ranges_mask(values, ranges):
    m = np.zeros(len(values), dtype=bool)
    for lo, hi in ranges:
        m |= (values >= lo) & (values <= hi)
    return m


# ---------------------------------------------------------------------------
# field
def _match_names(pattern, names):
    """Ids whose name equals ``pattern`` (glob when it has * ? [)."""
    if _is_glob(pattern):
        hits = [i for i, n in enumerate(names) if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            low = pattern.lower()
            hits = [i for i, n in enumerate(names) if fnmatch.fnmatchcase(n.lower(), low)]
        return hits
    hits = [i for i, n in enumerate(names) if n == pattern]
    if not hits:
        hits = [i for i, n in enumerate(names) if n.lower() == pattern.lower()]
    return hits


def parse_field(md: MSMetadata, value: str) -> set:
    names = [f.name for f in md.fields]
    nf = len(names)
    inc, exc = set(), set()
    positive = False
    missing = []        # ids (and id ranges) that are no field of the MS
    for tok in _split_outside(value, ","):
        if tok == "":
            _fail("field", value, "empty element in the list")
        neg = tok.startswith("!")
        if neg:
            tok = tok[1:].strip()
        else:
            positive = True
        kind, what = _token_kind("field", value, tok)
        if kind == "regex":
            if neg:
                # CASA refuses '!/.../' too
                _fail("field", value, f"a regular expression cannot be negated ('!{tok}')")
            ids = set(_regex_hits(what, names))
            if not ids:
                _fail("field", value, f"no field name matches the regular expression {tok}")
            inc.update(ids)
            continue
        if kind == "quoted":
            # a quoted text is a name (or name pattern), never an id
            ids = set(_match_names(what, names))
            if not ids:
                _fail("field", value, f"no field is named {tok}")
            (exc if neg else inc).update(ids)
            continue
        spec = _int_spec("field", value, tok)
        ids = set()
        if spec is not None:
            ids = {i for i in range(nf) if spec[0] <= i <= spec[1]}
            if not ids:
                ids = set(_match_names(tok, names))  # a field literally named '12'
            if not ids:
                if not nf:
                    _fail("field", value, "the MS has no fields")
                if neg or tok.startswith(("<", ">")):
                    _fail("field", value, f"no field with id {tok} (the MS has {nf} field"
                          f"{'s' if nf != 1 else ''}: 0~{nf - 1})")
                # CASA 6.7 drops ids out of range from a list (with a warning)
                # and refuses the list only when nothing else is selected
                missing.append(tok)
                continue
        else:
            ids = set(_match_names(tok, names))
            if not ids:
                _fail("field", value, f"no field matches '{tok}'")
        (exc if neg else inc).update(ids)
    if missing:
        what = f"no field with id {', '.join(missing)} (the MS has {nf} field" \
            f"{'s' if nf != 1 else ''}: 0~{nf - 1})"
        if not inc:
            _fail("field", value, what)
        _warn(f"field selection '{value}': {what}; selecting the others")
    if not positive:
        inc = set(range(nf))
    out = inc - exc
    if not out:
        _fail("field", value, "the negations exclude every field")
    return out


# ---------------------------------------------------------------------------
# spw
_FREQ_UNITS = {"hz": 1.0, "khz": 1e3, "mhz": 1e6, "ghz": 1e9, "thz": 1e12}
_VEL_UNITS = ("m/s", "km/s")


def _freq_value(param, value, text, default_unit=None):
    """'1.4GHz' -> (Hz, unit) ; a bare number -> (number, None)."""
    m = _NUM_RE.match(text)
    if not m:
        _fail(param, value, f"'{text}' is not a number")
    num, unit = float(m.group(1)), m.group(2).lower()
    if unit == "":
        if default_unit is None:
            return num, None
        unit = default_unit
    if unit in _VEL_UNITS:
        _fail(param, value, f"velocity units ('{text}') are not supported (CASA 6.7 "
              "disables them too); use channels or frequencies")
    if unit not in _FREQ_UNITS:
        _fail(param, value, f"unknown frequency unit '{m.group(2)}' in '{text}' "
              "(use Hz, kHz, MHz or GHz)")
    return num * _FREQ_UNITS[unit], unit


def _has_unit(text):
    return re.search(r"[A-Za-z]", text) is not None


_FREQ_RE = re.compile(rf"^\s*{_NUM}\s*[A-Za-z/]*\s*(~\s*{_NUM}\s*[A-Za-z/]*\s*)?$")


def _freq_range(param, value, text):
    """'1.4~1.5GHz' / '1.42GHz' -> (lo_Hz, hi_Hz); None when ``text`` is not a
    number (range) with a unit."""
    if not _has_unit(text) or not _FREQ_RE.match(text):
        return None
    if "~" in text:
        a, b = text.split("~", 1)
        _, ub = _freq_value(param, value, b) if _has_unit(b) else (None, None)
        fa, _ = _freq_value(param, value, a, default_unit=ub)
        fb, _ = _freq_value(param, value, b, default_unit=ub)
        if fa is None or fb is None:
            _fail(param, value, f"'{text}' needs a frequency unit")
        return min(fa, fb), max(fa, fb)
    f, _ = _freq_value(param, value, text)
    return f, f


def _chan_edges(spw):
    f = np.asarray(spw.chan_freq, float)
    w = np.abs(np.asarray(spw.chan_width, float))
    if w.shape != f.shape:
        w = np.zeros_like(f)
    return f - w / 2, f + w / 2


def _channels_in_freq(spw, lo, hi):
    """Channels whose centre lies in [lo, hi] (widened by 1 % of a channel width, so
    that frequencies typed with rounding still catch the edge channels); a single
    frequency picks the channel whose extent contains it."""
    f = np.asarray(spw.chan_freq, float)
    a, b = _chan_edges(spw)
    if lo == hi:
        return (a <= lo) & (lo <= b)
    tol = 0.01 * (b - a)
    return (f >= lo - tol) & (f <= hi + tol)


def _warn(message):
    from ..logsink import casalog
    casalog.post(message, "WARN")


def _parse_chan_part(value, spw, text):
    """Channel expression for one spw -> bool mask (may be all False for a
    frequency range outside this spw)."""
    n = spw.nchan
    mask = np.zeros(n, dtype=bool)
    for piece in _split(text, ";"):
        if piece == "":
            _fail("spw", value, "empty channel range")
        step = 1
        fstep = None
        if "^" in piece:
            piece, st = piece.rsplit("^", 1)
            st = st.strip()
            piece = piece.strip()
            if _INT_RE.match(st) and int(st) >= 1:
                step = int(st)
            elif _has_unit(st) and _FREQ_RE.match(st) and "~" not in st:
                fstep, _ = _freq_value("spw", value, st)
                widest = float(np.max(np.abs(spw.chan_width))) if n else 0.0
                step = max(1, int(abs(fstep) / widest)) if widest > 0 else 1
            else:
                _fail("spw", value, f"channel step '^{st}' must be a positive integer "
                      "or a frequency")
        fr = _freq_range("spw", value, piece)
        if fr is not None:
            m = _channels_in_freq(spw, *fr)
            if step > 1:
                idx = np.nonzero(m)[0]
                m = np.zeros(n, dtype=bool)
                m[idx[::step]] = True
            mask |= m
            continue
        p = piece.replace(" ", "")
        if p == "*":
            lo, hi = 0, n - 1
        elif _INT_RE.match(p):
            lo = hi = int(p)
        elif re.match(r"^\d+~\d+$", p):
            lo, hi = (int(x) for x in p.split("~"))
            if lo > hi:
                _fail("spw", value, f"channel range '{piece}' has its start after its end")
        elif re.match(r"^<\d+$", p):
            lo, hi = 0, int(p[1:]) - 1
        elif re.match(r"^>\d+$", p):
            lo, hi = int(p[1:]) + 1, n - 1
        else:
            _fail("spw", value, f"'{piece}' is not a channel, channel range (a~b) or "
                  "frequency range")
        if lo >= n:
            _fail("spw", value, f"channel {lo} is out of range for spw {spw.id} "
                  f"({n} channels: 0~{n - 1})")
        if hi >= n:
            _warn(f"spw selection '{value}': channel {hi} is out of range for spw {spw.id} "
                  f"(0~{n - 1}); using channels {lo}~{n - 1}")
            hi = n - 1
        if hi < lo:
            _fail("spw", value, f"'{piece}' selects no channel of spw {spw.id}")
        mask[lo:hi + 1:step] = True
    return mask


def _spws_by_frequency(spws, lo, hi):
    """Spws chosen by a frequency (range) without a channel part: as CASA, a range
    picks the spws whose centre frequency (mean of the first and last channel)
    lies in it; a single frequency picks the spws whose band contains it."""
    out = []
    for s in spws:
        f = np.asarray(s.chan_freq, float)
        if len(f) == 0:
            continue
        if lo == hi:
            a, b = _chan_edges(s)
            if a.min() <= lo <= b.max():
                out.append(s.id)
        elif lo <= (f[0] + f[-1]) / 2 <= hi:
            out.append(s.id)
    return out


def _spw_ids(md, value, spart, cpart):
    """The spw ids one spw part (before ':') names: ids, ranges, bounds,
    names, patterns, "quoted names", frequencies."""
    spws = md.spws
    nspw = len(spws)
    names = [s.name for s in spws]
    kind, what = _token_kind("spw", value, spart) if spart else ("plain", spart)
    if kind == "quoted":
        # a quoted text is a name (or name pattern), never an id or a frequency
        ids = _match_names(what, names)
        if not ids:
            _fail("spw", value, f"no spectral window is named {spart}")
    elif spart in ("*", ""):
        if spart == "" and cpart is None:
            _fail("spw", value, "empty spw")
        ids = list(range(nspw))
    else:
        spec = _int_spec("spw", value, spart)
        if spec is not None:
            ids = [i for i in range(nspw) if spec[0] <= i <= spec[1]]
            if "~" in spart and not spart.startswith(("<", ">")) and spec[1] >= nspw:
                # CASA 6.7's split and msselect refuse a range with an id the MS
                # does not have ('0~3' of 2 spws); its flagdata takes the rest
                gone = ", ".join(str(i) for i in range(max(spec[0], nspw), spec[1] + 1))
                _fail("spw", value, f"no spectral window with id {gone} (the MS has "
                      f"{nspw}: 0~{nspw - 1})")
            if not ids:
                _fail("spw", value, f"no spectral window with id {spart} (the MS has "
                      f"{nspw}: 0~{nspw - 1})")
        else:
            mb = re.match(rf"^(<|>)\s*({_NUM}\s*[A-Za-z/]+)$", spart)
            fr = _freq_range("spw", value, spart) if re.match(
                rf"^\s*{_NUM}", spart) else None
            if mb:
                # <f / >f: spws whose reference frequency is below / above f
                f, _ = _freq_value("spw", value, mb.group(2))
                ids = [s.id for s in spws if (s.ref_freq < f if mb.group(1) == "<"
                                              else s.ref_freq > f)]
                if not ids:
                    _fail("spw", value, f"no spectral window has its reference "
                          f"frequency {spart}")
            elif fr is not None:
                ids = _spws_by_frequency(spws, *fr)
                if not ids:
                    _fail("spw", value, f"no spectral window covers '{spart}'")
            else:
                ids = _match_names(spart, names)
                if not ids:
                    _fail("spw", value, f"no spectral window matches '{spart}'")
    return ids


def parse_spw(md: MSMetadata, value: str) -> dict:
    """-> {spw_id: channel mask}."""
    spws = md.spws
    nspw = len(spws)
    out, excluded = {}, set()
    positive = False
    for tok in _split_outside(value, ","):
        if tok == "":
            _fail("spw", value, "empty element in the list")
        neg = tok.startswith("!")
        if neg:
            tok = tok[1:].strip()
        if tok.startswith("/"):
            # CASA 6.7's spw grammar has no regular expressions either
            _fail("spw", value, f"regular expressions ('{tok}') are not supported for spw; "
                  "use names with * ? [..] wildcards")
        colon = _find_outside(tok, ":")
        if colon >= 0:
            spart, cpart = tok[:colon].strip(), tok[colon + 1:].strip()
            if cpart == "":
                _fail("spw", value, f"'{tok}' has an empty channel part")
        else:
            spart, cpart = tok, None
        if neg and cpart is not None:
            _fail("spw", value, f"negation with channels ('!{tok}') is not supported")
        if _find_outside(spart, ";") >= 0:
            # ';' in the spw part lists spws sharing the channel part, as CASA reads
            # it: '0;2:0~3' is channels 0~3 of spws 0 and 2
            ids = []
            for sub in _split_outside(spart, ";"):
                if sub == "":
                    _fail("spw", value, f"empty spw between ';' in '{tok}'")
                ids += [i for i in _spw_ids(md, value, sub, cpart) if i not in ids]
        else:
            ids = _spw_ids(md, value, spart, cpart)
        if neg:
            excluded.update(ids)
            continue
        positive = True
        got = False
        for i in ids:
            if cpart is not None:
                m = _parse_chan_part(value, spws[i], cpart)
            else:
                m = np.ones(spws[i].nchan, dtype=bool)
            if not m.any():
                continue  # e.g. '*:1.42GHz' in the spws that do not cover it
            got = True
            out[i] = out[i] | m if i in out else m
        if not got:
            _fail("spw", value, f"'{tok}' selects no channel")
    if not positive:
        out = {i: np.ones(spws[i].nchan, dtype=bool) for i in range(nspw)}
    for i in excluded:
        out.pop(i, None)
    out = {i: m for i, m in out.items() if m.any()}
    if not out:
        _fail("spw", value, "selects no spectral window")
    return dict(sorted(out.items()))


# ---------------------------------------------------------------------------
# antenna / baseline
def _name_or_station_hits(pattern, names, stations) -> list:
    """Antennas whose name or station matches ``pattern`` (glob when it has
    * ? [); CASA takes both, so ``W0*`` finds the antennas on W01, W02..."""
    if _is_glob(pattern):
        hits = {i for i, n in enumerate(names) if fnmatch.fnmatchcase(n, pattern)}
        hits |= {i for i, n in enumerate(stations) if fnmatch.fnmatchcase(n, pattern)}
    else:
        hits = {i for i, n in enumerate(names) if n == pattern}
        hits |= {i for i, n in enumerate(stations) if n == pattern}
    if not hits:
        hits = set(_match_names(pattern, names))   # a name in another case
    return sorted(hits)


def _station_ids(md, value, station, param) -> set:
    stations = [a.station for a in md.antennas]
    kind, what = _token_kind(param, value, station) if station else ("plain", station)
    if kind == "regex":
        on = set(_regex_hits(what, stations))
    else:
        on = set(_match_names(what, stations))
    if not on:
        _fail(param, value, f"no antenna on station '{station}'")
    return on


def _antenna_ids(md, value, text, *, param="antenna"):
    """Comma-separated antennas -> sorted list of ids.

    As in CASA, an integer is matched as an antenna NAME first (VLA antennas
    are named '1', '2', ...) and as an id otherwise, and so is every integer of
    an ``a~b`` range.  Other tokens are names, with ``* ? [..]`` wildcards,
    or station names; ``NAME@STATION`` (or ``@STATION``) restricts to antennas
    on that station.  ``/regex/`` and ``"quoted"`` tokens match names and
    stations (a quoted number is a name, never an id).
    """
    ants = md.antennas
    names = [a.name for a in ants]
    stations = [a.station for a in ants]
    nant = len(ants)
    out = set()
    missing = []        # numbers that are neither a name nor an id of the MS
    for tok in _split_outside(text, ","):
        if tok == "":
            _fail(param, value, "empty antenna in the list")
        at = _find_outside(tok, "@")
        if at >= 0:
            left, station = tok[:at].strip(), tok[at + 1:].strip()
            on = _station_ids(md, value, station, param)
            ids = on if left in ("", "*") else set(_antenna_ids(md, value, left,
                                                                param=param)) & on
            if not ids:
                _fail(param, value, f"no antenna matches '{tok}'")
            out.update(ids)
            continue
        kind, what = _token_kind(param, value, tok)
        if kind == "regex":
            hits = sorted(set(_regex_hits(what, names)) | set(_regex_hits(what, stations)))
            if not hits:
                _fail(param, value, f"no antenna name or station matches the regular "
                      f"expression {tok}")
            out.update(hits)
            continue
        if kind == "quoted":
            hits = _name_or_station_hits(what, names, stations)
            if not hits:
                _fail(param, value, f"no antenna or station is named {tok}")
            out.update(hits)
            continue
        if tok == "*":
            out.update(range(nant))
            continue
        if _is_glob(tok):
            hits = _name_or_station_hits(tok, names, stations)
            if not hits:
                _fail(param, value, f"no antenna matches '{tok}'")
            out.update(hits)
            continue
        m = re.match(r"^(\d+)\s*~\s*(\d+)$", tok)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if lo > hi:
                _fail(param, value, f"range '{tok}' has its start after its end")
            found = False
            for k in range(lo, hi + 1):
                i = _one_antenna(md, value, str(k), param, quiet=True)
                if i is not None:
                    out.add(i)
                    found = True
            if not found:
                missing.append(tok)
            continue
        if "~" in tok:
            _fail(param, value, f"range '{tok}' must be two integers (a~b)")
        m = re.match(r"^(<|>)(\d+)$", tok)
        if m:
            n = int(m.group(2))
            rng = range(0, min(n, nant)) if m.group(1) == "<" else range(n + 1, nant)
            if len(rng) == 0:
                _fail(param, value, f"no antenna id is {tok}")
            out.update(rng)
            continue
        if _INT_RE.match(tok):
            # CASA 6.7 drops numbers that are no antenna from a list and
            # refuses the list only when none of its antennas exists
            i = _one_antenna(md, value, tok, param, quiet=True)
            if i is None:
                missing.append(tok)
            else:
                out.add(i)
            continue
        out.add(_one_antenna(md, value, tok, param))
    if missing:
        what = (f"no antenna named or numbered '{', '.join(missing)}' "
                f"(ids 0~{nant - 1})")
        if not out:
            _fail(param, value, what)
        _warn(f"{param} selection '{value}': {what}; selecting the others of '{text}'")
    if not out:
        _fail(param, value, f"no antenna matches '{text}'")
    return sorted(out)


def _one_antenna(md, value, tok, param, quiet=False):
    """A name, else an id (a number), else a name in another case, else a
    station name (CASA matches stations when no name does)."""
    ants = md.antennas
    hits = [a.id for a in ants if a.name == tok]
    if hits:
        return hits[0]
    if _INT_RE.match(tok):
        i = int(tok)
        if i < len(ants):
            return i
        if quiet:
            return None
        _fail(param, value, f"no antenna named or numbered '{tok}' (ids 0~{len(ants) - 1})")
    hits = [a.id for a in ants if a.name.lower() == tok.lower()]
    if hits:
        return hits[0]
    hits = [a.id for a in ants if a.station == tok]
    if hits:
        return hits[0]
    if quiet:
        return None
    _fail(param, value, f"no antenna matches '{tok}'")


_BLEN_BOUND_RE = re.compile(r"^(<=?|>=?)\s*(\d+(?:\.\d*)?|\.\d+)\s*(m|km)?$", re.I)
_BLEN_RANGE_RE = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*(m|km)?\s*~\s*"
                            r"(\d+(?:\.\d*)?|\.\d+)\s*(m|km)$", re.I)


def _baseline_length_term(md, value, term, n, param):
    """``<L``, ``>L`` (metres, or with a unit ``m``/``km``) and ``L1~L2m``:
    the baselines whose length - the distance between the two antennas'
    positions - is below / above / between the bounds (CASA reads an antenna
    expression starting with ``<`` or ``>`` as a baseline length, so
    ``antenna='<2'`` is every baseline shorter than 2 m, i.e. the
    autocorrelations).  Returns None when ``term`` is not such a form."""
    mb = _BLEN_BOUND_RE.match(term)
    mr = None if mb else _BLEN_RANGE_RE.match(term)
    if mb is None and mr is None:
        return None
    pos = np.array([np.asarray(a.position, float) for a in md.antennas]).reshape(-1, 3)
    d = np.full((n, n), np.nan)
    k = min(n, len(pos))
    d[:k, :k] = np.sqrt(((pos[:k, None, :] - pos[None, :k, :]) ** 2).sum(axis=-1))
    with np.errstate(invalid="ignore"):
        if mb:
            lim = float(mb.group(2)) * (1000.0 if (mb.group(3) or "").lower() == "km" else 1.0)
            op = mb.group(1)
            m = {"<": d < lim, "<=": d <= lim, ">": d > lim, ">=": d >= lim}[op]
        else:
            s2 = 1000.0 if mr.group(4).lower() == "km" else 1.0
            s1 = s2 if mr.group(2) is None else (1000.0 if mr.group(2).lower() == "km" else 1.0)
            lo, hi = float(mr.group(1)) * s1, float(mr.group(3)) * s2
            if lo > hi:
                _fail(param, value, f"baseline length range '{term}' has its start after its end")
            m = (d >= lo) & (d <= hi)
    if not m.any():
        _fail(param, value, f"no baseline has a length {term}")
    return m


def parse_baselines(md, value, nant=None, *, param="antenna", id_resolver=None):
    """Antenna/baseline expression -> bool matrix ``M[a1, a2]`` of selected baselines.

    ``;``-separated terms are folded left to right as CASA does: a positive term
    is OR-ed in, a negated (``!``) term AND-s in its complement (a leading
    negation starts from its complement, i.e. from everything else).

    ``A`` baselines with any antenna of A (cross-correlations only), ``A&B``
    between A and B (cross), ``A&`` among A (cross), ``A&&B`` / ``A&&`` the same
    including autocorrelations, ``A&&&`` autocorrelations of A only (``&&&``
    alone: all autocorrelations).
    """
    resolve = id_resolver or (lambda text: _antenna_ids(md, value, text, param=param))
    n = len(md.antennas) if nant is None else nant
    node = None
    cross = ~np.eye(n, dtype=bool)
    for grp in _split_outside(value, ";"):
        if grp == "":
            _fail(param, value, "empty element between ';'")
        negate = grp.startswith("!")
        g = grp[1:].strip() if negate else grp
        blen = _baseline_length_term(md, value, g, n, param)
        if blen is not None:
            m = blen
            if negate:
                node = ~m if node is None else (node & ~m)
            else:
                node = m if node is None else (node | m)
            continue
        amp = _find_outside(g, "&")     # '&' inside /regex/ or "quotes" is text
        if g.endswith("&&&") and amp == len(g) - 3:
            mode, left, right = "autos", g[:-3].strip(), None
        elif amp >= 0 and g.startswith("&&", amp):
            mode = "with_autos"
            left, right = g[:amp].strip(), g[amp + 2:].strip()
        elif amp >= 0:
            mode = "cross"
            left, right = g[:amp].strip(), g[amp + 1:].strip()
        else:
            mode, left, right = "one", g, None
        if _find_outside(right or "", "&") >= 0 or _find_outside(left, "&") >= 0:
            _fail(param, value, f"malformed baseline '{grp}'")
        if left == "":
            if mode == "autos":
                a_ids = list(range(n))
            else:
                _fail(param, value, f"'{grp}' has no antenna before '&'")
        else:
            a_ids = resolve(left)
        b_ids = resolve(right) if right not in (None, "") else a_ids
        a_ids = np.asarray(a_ids, dtype=np.int64)
        b_ids = np.asarray(b_ids, dtype=np.int64)
        m = np.zeros((n, n), dtype=bool)
        if mode == "one":
            m[a_ids, :] = True
            m[:, a_ids] = True
            m &= cross
        elif mode == "autos":
            m[a_ids, a_ids] = True
        else:
            m[np.ix_(a_ids, b_ids)] = True
            m[np.ix_(b_ids, a_ids)] = True
            if mode == "cross":
                m &= cross
            if not m.any():
                _fail(param, value, f"'{grp}' selects no baseline")
        if negate:
            m = ~m
            node = m if node is None else (node & m)
        else:
            node = m if node is None else (node | m)
    return node


# ---------------------------------------------------------------------------
# correlation
def _corr_codes(value, text):
    wanted = []
    for tok in _split(text, ", "):
        if tok == "":
            continue
        code = STOKES_CODES.get(tok.upper())
        if code is None:
            _fail("correlation", value, f"unknown correlation '{tok}'")
        wanted.append(code)
    if not wanted:
        _fail("correlation", value, "no correlation given")
    return wanted


def parse_correlation_dd(md, value):
    """-> (ddids, {pol_id: bool mask}): the data descriptions the expression
    keeps and the correlations of each polarization setup.

    ``;``-separated parts, each ``CORRS`` (every spw) or ``SPW:CORRS`` (the spws
    of a spw expression, as CASA: ``0:RR,LL``, ``0~1:RR;2:LL``, ``*:RL``); the
    correlations are separated by commas or spaces.  Setups with none of the
    correlations are left out together with their data descriptions.  Parts
    asking different correlations of spws that share one polarization setup
    cannot be expressed as one mask per setup and are refused."""
    spw_of_dd = md.spw_of_ddid()
    pol_of_dd = md.pol_of_ddid()
    codes_of = md.pol_codes
    per_dd = {}
    for part in _split_outside(value, ";"):
        if part == "":
            _fail("correlation", value, "empty element between ';'")
        colon = _find_outside(part, ":")
        if colon >= 0:
            spw_text, corr_text = part[:colon].strip(), part[colon + 1:].strip()
            if _find_outside(corr_text, ":") >= 0:
                _fail("correlation", value, f"'{part}': one ':' at most (SPW:CORRS; "
                      "channels cannot be given here)")
            try:
                spws = set(parse_spw(md, spw_text))
            except SelectionError as exc:
                _fail("correlation", value, f"spectral windows '{spw_text}': "
                      + str(exc).split("': ", 1)[-1])
        else:
            spws, corr_text = None, part
        wanted = _corr_codes(value, corr_text)
        got = False
        for dd in range(len(spw_of_dd)):
            pid = int(pol_of_dd[dd])
            if pid < 0 or pid not in codes_of or (spws is not None
                                                  and int(spw_of_dd[dd]) not in spws):
                continue
            m = np.isin(codes_of[pid], wanted)
            if m.any():
                got = True
                per_dd[dd] = per_dd[dd] | m if dd in per_dd else m
        if not got and spws is not None:
            _fail("correlation", value, f"no polarization setup of spectral window(s) "
                  f"'{spw_text}' has {corr_text}")
    if not per_dd:
        have = sorted({n for names in md.pols.values() for n in names})
        _fail("correlation", value, "no polarization setup has these correlations "
              f"(the MS has {', '.join(have)})")
    out = {}
    for dd, m in sorted(per_dd.items()):
        pid = int(pol_of_dd[dd])
        if pid in out and not np.array_equal(out[pid], m):
            _fail("correlation", value, "different correlations for spectral windows that "
                  f"share polarization setup {pid} are not supported")
        out[pid] = m
    return sorted(per_dd), dict(sorted(out.items()))


def parse_correlation(md, value) -> dict:
    """-> {pol_id: bool mask}; setups with no selected correlation are left out
    (see :func:`parse_correlation_dd`, which also gives the data descriptions)."""
    return parse_correlation_dd(md, value)[1]


# ---------------------------------------------------------------------------
# intent
def parse_intent(md, value) -> set:
    states = md.states
    if not states:
        _fail("intent", value, "the MS has no scan intents (empty STATE table)")
    out = set()
    missing = []        # state ids that are no row of the STATE table
    for tok in _split_outside(value, ","):
        if tok == "":
            _fail("intent", value, "empty element in the list")
        kind, what = _token_kind("intent", value, tok)
        if kind == "regex":
            # as CASA: the expression must match one whole intent of the state
            hits = {s.id for s in states if any(what.fullmatch(c) for c in s.intents)}
            if not hits:
                _fail("intent", value, f"no scan intent matches the regular expression {tok}")
            out |= hits
            continue
        if kind == "quoted":
            tok = what
        spec = _int_spec("intent", value, tok) if kind == "plain" else None
        if spec is not None:
            hits = {s.id for s in states if spec[0] <= s.id <= spec[1]}
            if not hits:
                # as CASA 6.7: state ids that do not exist are dropped from a list
                missing.append(tok)
                continue
        else:
            pat = tok
            hits = set()
            for s in states:
                cands = [s.obs_mode] + s.intents
                if _is_glob(pat):
                    ok = any(fnmatch.fnmatchcase(c, pat) for c in cands)
                else:
                    # a plain name matches a whole intent or its part before '#'
                    ok = any(c == pat or c.split("#")[0] == pat for c in cands)
                if ok:
                    hits.add(s.id)
        if not hits:
            _fail("intent", value, f"no scan intent matches '{tok}'")
        out |= hits
    if missing:
        what = (f"no scan intent matches '{', '.join(missing)}' "
                f"(state ids 0~{len(states) - 1})")
        if not out:
            _fail("intent", value, what)
        _warn(f"intent selection '{value}': {what}; selecting the others")
    return out


# ---------------------------------------------------------------------------
# timerange
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}


def _mjd_seconds(y, mo, d, h=0, mi=0, s=0.0):
    dt = datetime.datetime(y, mo, d) - _MJD_EPOCH
    return dt.days * 86400.0 + h * 3600.0 + mi * 60.0 + s


def _mjd_fields(mjd_seconds):
    """MJD seconds -> [year, month, day, hour, minute, seconds]."""
    d = _MJD_EPOCH + datetime.timedelta(seconds=float(mjd_seconds))
    return [d.year, d.month, d.day, d.hour, d.minute,
            d.second + d.microsecond / 1e6]


def _num_field(value, text, whole, kind=int):
    t = text.strip()
    if t == "*":
        return None
    try:
        return kind(t)
    except ValueError:
        _fail("timerange", value, f"'{whole}' is not a time")


def _time_fields(value, text):
    """One time as CASA writes it -> [Y, M, D, h, m, s] with None where omitted.

    Dates: ``YYYY/MM/DD``, ``YYYY-MM-DD``, ``DD-Mon-YYYY`` (listobs' form), followed by
    ``/``, ``T`` or a space and a time.  Times, as CASA's grammar reads them:
    ``hh:mm:ss.s``, ``hh:mm:`` (seconds 0), ``mm:ss.s`` (two fields are minutes and
    seconds, hour 0), ``ss.s`` (seconds only).  ``*`` leaves a field to its default.
    """
    t = text.strip()
    if t == "":
        _fail("timerange", value, "empty time")
    date = [None, None, None]
    rest = t
    m = re.match(r"^(\d{4})[/-](\d{1,2})[/-](\d{1,2})(?:[/T ](.*))?$", t)
    if m:
        date = [int(m.group(1)), int(m.group(2)), int(m.group(3))]
        rest = m.group(4) or ""
    else:
        m = re.match(r"^(\d{1,2})-([A-Za-z]{3})-(\d{4})(?:/(.*))?$", t)
        if m:
            mon = _MONTHS.get(m.group(2).lower())
            if mon is None:
                _fail("timerange", value, f"unknown month '{m.group(2)}' in '{text}'")
            date = [int(m.group(3)), mon, int(m.group(1))]
            rest = m.group(4) or ""
    clock = [None, None, None]
    rest = rest.strip()
    if rest:
        parts = rest.split(":")
        if len(parts) > 3 or not re.match(r"^[\d.:* ]+$", rest):
            _fail("timerange", value, f"'{text}' is not a time")
        if len(parts) == 3:
            clock = [_num_field(value, parts[0], text), _num_field(value, parts[1], text),
                     0.0 if parts[2].strip() == "" else
                     _num_field(value, parts[2], text, float)]
        elif len(parts) == 2:
            if parts[1].strip() == "":          # 'ss:' (CASA reads a lone field as seconds)
                clock = [0, 0, _num_field(value, parts[0], text, float)]
            else:                                # 'mm:ss'
                clock = [0, _num_field(value, parts[0], text),
                         _num_field(value, parts[1], text, float)]
        else:
            clock = [None, None, _num_field(value, parts[0], text, float)]
    elif date == [None, None, None]:
        _fail("timerange", value, f"'{text}' is not a time")
    return date + clock


def _resolve_time(value, text, fields, defaults):
    f = [d if x is None else x for x, d in zip(fields, defaults)]
    y, mo, d, h, mi, sec = f
    try:
        datetime.date(int(y), int(mo), int(d))
    except ValueError:
        _fail("timerange", value, f"'{text}' is not a valid date")
    if not (0 <= mi < 60 and 0 <= sec < 60.5 and h >= 0):
        _fail("timerange", value, f"'{text}' is not a valid time of day")
    return f, _mjd_seconds(int(y), int(mo), int(d), int(h), int(mi), float(sec))


def parse_timerange(value, first_time, first_exposure):
    """-> list of (lo, hi) in MJD seconds (inclusive), one per comma-separated part.

    Omitted fields take the values of the first row's time (CASA's rule); in a
    range the end's omitted fields take the start's.
    """
    first = _mjd_fields(first_time)
    half = max(float(first_exposure), 0.0) / 2.0
    out = []
    for tok in _split(value, ","):
        if tok == "":
            _fail("timerange", value, "empty element in the list")
        buf = 0.0
        m = re.match(rf"^({_NUM})?\s*\[(.*)\]$", tok)
        if m:  # [T0~T1]: also rows within half an integration (or N s) of the edges
            buf = float(m.group(1)) if m.group(1) else half
            tok = m.group(2).strip()
            if "~" not in tok:
                _fail("timerange", value, f"'[{tok}]' must hold a range T0~T1")
        if tok.startswith(">") or tok.startswith("<"):
            _, t = _resolve_time(value, tok[1:], _time_fields(value, tok[1:]), first)
            out.append((t, np.inf) if tok[0] == ">" else (-np.inf, t))
        elif "~" in tok:
            a, b = tok.split("~", 1)
            fa, ta = _resolve_time(value, a, _time_fields(value, a), first)
            _, tb = _resolve_time(value, b, _time_fields(value, b), fa)
            if ta > tb:
                _fail("timerange", value, f"'{tok}' ends before it starts")
            out.append((ta - buf, tb + buf))
        elif "+" in tok:
            a, b = tok.split("+", 1)
            _, ta = _resolve_time(value, a, _time_fields(value, a), first)
            fb = _time_fields(value, b)
            if fb[:3] != [None, None, None]:
                _fail("timerange", value, f"duration '{b.strip()}' cannot have a date")
            h, mi, sec = (0 if x is None else x for x in fb[3:])
            out.append((ta, ta + h * 3600.0 + mi * 60.0 + sec))
        else:
            _, t = _resolve_time(value, tok, _time_fields(value, tok), first)
            out.append((t - half, t + half))
    return out


# ---------------------------------------------------------------------------
# uvrange
_UV_UNITS = {"m": (1.0, False), "km": (1e3, False), "lambda": (1.0, True),
             "klambda": (1e3, True), "mlambda": (1e6, True)}


def _uv_value(value, text, default_unit):
    m = _NUM_RE.match(text)
    if not m:
        _fail("uvrange", value, f"'{text}' is not a number with a unit")
    unit = m.group(2).lower() or default_unit
    if unit not in _UV_UNITS:
        _fail("uvrange", value, f"unknown unit '{m.group(2)}' (use m, km, lambda, klambda "
              "or Mlambda)")
    scale, wave = _UV_UNITS[unit]
    return float(m.group(1)) * scale, wave, unit


def parse_uvrange(value):
    """-> list of (lo, hi, in_wavelengths)."""
    out = []
    for tok in _split(value, ","):
        if tok == "":
            _fail("uvrange", value, "empty element in the list")
        t = tok.replace(" ", "")
        if t.startswith("<") or t.startswith(">"):
            op, body = t[0], t[1:]
            if body.startswith("="):
                body = body[1:]
            v, wave, _ = _uv_value(value, body, "m")
            out.append((0.0, v, wave) if op == "<" else (v, np.inf, wave))
        elif "~" in t:
            a, b = t.split("~", 1)
            mb = _NUM_RE.match(b)
            unit_b = mb.group(2).lower() if mb and mb.group(2) else "m"
            va, wa, _ = _uv_value(value, a, unit_b)
            vb, wb, _ = _uv_value(value, b, unit_b)
            if wa != wb:
                _fail("uvrange", value, f"'{tok}' mixes metres and wavelengths")
            if va > vb:
                _fail("uvrange", value, f"'{tok}' ends before it starts")
            out.append((va, vb, wa))
        elif ":" in t and t.endswith("%"):
            a, pct = t[:-1].split(":", 1)
            v, wave, _ = _uv_value(value, a, "m")
            try:
                p = float(pct) / 100.0
            except ValueError:
                _fail("uvrange", value, f"'{pct}%' is not a percentage")
            out.append((v * (1 - p), v * (1 + p), wave))
        else:
            v, wave, _ = _uv_value(value, t, "m")
            out.append((v, v, wave))
    return out


# ---------------------------------------------------------------------------
# main entry
def _as_str(param, v):
    if v is None:
        return ""
    if isinstance(v, (list, tuple)):
        v = ",".join(str(x) for x in v)
    elif isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = str(v)
    if not isinstance(v, str):
        raise SelectionError(f"{param} selection must be a string, not {type(v).__name__}")
    return v.strip()


# ---------------------------------------------------------------------------
# a small cache of the main-table columns selections read: flag command lists
# call select() once per command, and these columns never change in place
_CACHE: dict = {}          # key -> ndarray, in least-recently-used order
_CACHE_BYTES = [0]


def cache_limit_bytes() -> int:
    """Size limit of the column cache (env CASASHELL_SELECTION_CACHE_MB, default 128)."""
    import os
    try:
        return int(float(os.environ.get("CASASHELL_SELECTION_CACHE_MB", "128")) * (1 << 20))
    except ValueError:
        return 128 << 20


def clear_cache() -> None:
    """Forget every cached column."""
    _CACHE.clear()
    _CACHE_BYTES[0] = 0


def _cache_key(path, nrows, col):
    """Identifies a column's content: any write to the main table changes the
    modification time or size of one of its data files."""
    import os
    stamp = []
    try:
        with os.scandir(path) as it:
            for e in it:
                if e.name.startswith("table.") and e.name != "table.lock" and e.is_file():
                    st = e.stat()
                    stamp.append((e.name, st.st_mtime_ns, st.st_size))
    except OSError:
        return None
    return (os.path.realpath(path), nrows, tuple(sorted(stamp)), col)


def _main_chunks(t, path, cols, max_bytes):
    """(rownrs, {col: array}) over all rows: whole cached columns when they fit in
    the cache, otherwise bounded chunks straight from the table."""
    from .io import iter_chunks, row_bytes
    nrows = t.nrows()
    limit = cache_limit_bytes()
    if not cols or nrows == 0 or nrows * row_bytes(t, cols) > limit:
        yield from iter_chunks(t, cols, max_bytes=max_bytes)
        return
    out = {}
    for col in cols:
        key = _cache_key(path, nrows, col)
        arr = _CACHE.pop(key, None) if key is not None else None
        if arr is None:
            arr = t.getcol(col)
            arr.setflags(write=False)
            if key is None:
                out[col] = arr
                continue
            _CACHE_BYTES[0] += arr.nbytes
        _CACHE[key] = arr  # (re)inserted as the most recently used
        out[col] = arr
    while _CACHE_BYTES[0] > limit and len(_CACHE) > len(cols):
        old = next(iter(_CACHE))
        _CACHE_BYTES[0] -= _CACHE.pop(old).nbytes
    yield np.arange(nrows, dtype=np.int64), out


def _lut(ids, size):
    lut = np.zeros(max(size, (max(ids) + 1) if ids else 0, 1), dtype=bool)
    lut[list(ids)] = True
    return lut


def _take(lut, values):
    """lut[values] with out-of-range values counted as not selected."""
    ok = (values >= 0) & (values < len(lut))
    out = np.zeros(len(values), dtype=bool)
    out[ok] = lut[values[ok]]
    return out


def select(vis, field="", spw="", antenna="", scan="", timerange="", uvrange="",
           correlation="", intent="", observation="", array="", feed="", autocorr=False,
           *, taql="", allow_empty=False, metadata=None, max_bytes=16 << 20) -> Selection:
    """Select rows/channels/correlations of the MS ``vis`` with CASA's syntax.

    ``autocorr``: False (no restriction), True or 'only' (autocorrelations only, as
    flagdata's ``autocorr=True`` selects them), 'exclude' (cross-correlations only).
    ``allow_empty``: return an empty Selection instead of raising when the
    parameters together select no row.
    """
    vals = {p: _as_str(p, v) for p, v in zip(PARAMS, (field, spw, antenna, scan, timerange,
                                                      uvrange, correlation, intent,
                                                      observation, array, feed))}
    md = metadata if metadata is not None else MSMetadata(vis)
    if autocorr in (None, "", False, "false", "False"):
        auto_mode = None
    elif autocorr in (True, "only", "true", "True"):
        auto_mode = "only"
    elif autocorr == "exclude":
        auto_mode = "exclude"
    else:
        raise SelectionError(f"autocorr must be True, False, 'only' or 'exclude', "
                             f"not {autocorr!r}")

    # ---- parse everything that needs only the subtables
    spw_of_dd = md.spw_of_ddid()
    pol_of_dd = md.pol_of_ddid()
    ndd = len(spw_of_dd)
    field_lut = _lut(parse_field(md, vals["field"]), len(md.fields)) if vals["field"] else None
    spw_chans = parse_spw(md, vals["spw"]) if vals["spw"] else None
    corr_dds, corr_masks = (parse_correlation_dd(md, vals["correlation"])
                            if vals["correlation"] else (None, None))
    dd_ok = np.ones(ndd, dtype=bool)
    if spw_chans is not None:
        dd_ok &= np.isin(spw_of_dd, list(spw_chans))
        if not dd_ok.any():
            _fail("spw", vals["spw"], "no data description uses the selected spectral "
                  "window(s)")
    if corr_masks is not None:
        dd_corr = np.isin(np.arange(ndd), corr_dds)
        if not (dd_ok & dd_corr).any():
            _fail("correlation", vals["correlation"], "no selected spectral window has "
                  "these correlations")
        dd_ok &= dd_corr
    dd_lut = dd_ok if (spw_chans is not None or corr_masks is not None) else None
    bl = None
    if vals["antenna"]:
        bl = parse_baselines(md, vals["antenna"])
    state_lut = _lut(parse_intent(md, vals["intent"]), len(md.states)) \
        if vals["intent"] else None
    scan_sp = _parse_int_list("scan", vals["scan"], allow_negation=True) \
        if vals["scan"] else None
    obs_sp = _parse_int_list("observation", vals["observation"]) \
        if vals["observation"] else None
    arr_sp = _parse_int_list("array", vals["array"]) if vals["array"] else None
    feed_bl = _parse_feed(vals["feed"]) if vals["feed"] else None
    uv_ranges = parse_uvrange(vals["uvrange"]) if vals["uvrange"] else None
    if uv_ranges is not None and any(w for *_, w in uv_ranges):
        spws = md.spws
        inv_lambda = np.array([spws[s].ref_freq / C_LIGHT if 0 <= s < len(spws) else 0.0
                               for s in spw_of_dd])
    else:
        inv_lambda = None

    # ---- columns needed from the main table
    cols = {"DATA_DESC_ID"}
    if field_lut is not None:
        cols.add("FIELD_ID")
    if bl is not None or auto_mode is not None:
        cols |= {"ANTENNA1", "ANTENNA2"}
    if scan_sp is not None:
        cols.add("SCAN_NUMBER")
    if state_lut is not None:
        cols.add("STATE_ID")
    if obs_sp is not None:
        cols.add("OBSERVATION_ID")
    if arr_sp is not None:
        cols.add("ARRAY_ID")
    if feed_bl is not None:
        cols |= {"FEED1", "FEED2"}
    if vals["timerange"]:
        cols.add("TIME")
    if uv_ranges is not None:
        cols.add("UVW")

    with open_ms(md.path) as t:
        nrows = t.nrows()
        have = set(t.colnames())
        missing = [c for c in cols if c not in have]
        for c in missing:
            if c in ("STATE_ID", "OBSERVATION_ID", "ARRAY_ID", "FEED1", "FEED2"):
                cols.discard(c)
            else:
                raise OSError(f"{md.path}: main table has no {c} column")
        time_ranges = None
        if vals["timerange"]:
            if nrows == 0:
                _fail("timerange", vals["timerange"], "the MS has no rows")
            t0 = float(t.getcell("TIME", 0))
            exp0 = float(t.getcell("EXPOSURE", 0)) if "EXPOSURE" in have else \
                float(t.getcell("INTERVAL", 0)) if "INTERVAL" in have else 0.0
            time_ranges = parse_timerange(vals["timerange"], t0, exp0)
        taql_mask = None
        if taql:
            if "mscal" in taql.lower():
                raise SelectionError(f"taql selection '{taql}': TaQL mscal functions are not "
                                     "allowed (they crash python-casacore 3.8)")
            try:
                # CASA evaluates these in TaQL's Glish style: 1-based array
                # indices in Fortran axis order (UVW[1] is u, DATA[1,1] the
                # first correlation of the first channel)
                sub = t.query(taql, style="Glish")
            except RuntimeError as exc:
                raise SelectionError(f"taql selection '{taql}': "
                                     f"{str(exc).strip().splitlines()[0]}") from None
            taql_rows = sub.rownumbers()
            sub.close()
            taql_mask = np.zeros(nrows, dtype=bool)
            taql_mask[np.asarray(taql_rows, dtype=np.int64)] = True

        pieces = []
        hits = {p: 0 for p in PARAMS}
        tok_hits = {}
        uniq_cols = {c: name for name, cs in _LAZY.items() for c in cs if c in cols}
        uniq_cols["DATA_DESC_ID"] = "ddids"
        uniq = {name: set() for name in uniq_cols.values()}
        for rownrs, c in _main_chunks(t, md.path, sorted(cols), max_bytes):
            n = len(rownrs)
            if n == 0:
                continue
            mask = np.ones(n, dtype=bool)
            a1 = c.get("ANTENNA1")
            a2 = c.get("ANTENNA2")

            def apply(param, m):
                hits[param] += int(np.count_nonzero(m))
                return m

            if field_lut is not None:
                mask &= apply("field", _take(field_lut, c["FIELD_ID"]))
            if dd_lut is not None:
                m = _take(dd_lut, c["DATA_DESC_ID"])
                mask &= apply("spw" if spw_chans is not None else "correlation", m)
            if bl is not None:
                ok = (a1 >= 0) & (a1 < len(bl)) & (a2 >= 0) & (a2 < len(bl))
                m = np.zeros(n, dtype=bool)
                m[ok] = bl[a1[ok], a2[ok]]
                mask &= apply("antenna", m)
            if auto_mode == "only":
                mask &= a1 == a2
            elif auto_mode == "exclude":
                mask &= a1 != a2
            if state_lut is not None:
                st = c.get("STATE_ID")
                m = _take(state_lut, st) if st is not None else np.zeros(n, bool)
                mask &= apply("intent", m)
            if scan_sp is not None:
                sc = c["SCAN_NUMBER"]
                m = _ranges_mask(sc, scan_sp[0]) if scan_sp[0] else np.ones(n, bool)
                if scan_sp[1]:
                    m &= ~_ranges_mask(sc, scan_sp[1])
                for k, r in enumerate(scan_sp[0]):
                    tok_hits[("scan", k)] = tok_hits.get(("scan", k), 0) + int(
                        np.count_nonzero(_ranges_mask(sc, [r])))
                mask &= apply("scan", m)
            for param, sp, col in (("observation", obs_sp, "OBSERVATION_ID"),
                                   ("array", arr_sp, "ARRAY_ID")):
                if sp is None:
                    continue
                v = c.get(col, np.zeros(n, dtype=np.int64))
                m = _ranges_mask(v, sp[0])
                for k, r in enumerate(sp[0]):
                    tok_hits[(param, k)] = tok_hits.get((param, k), 0) + int(
                        np.count_nonzero(_ranges_mask(v, [r])))
                mask &= apply(param, m)
            if feed_bl is not None:
                f1 = c.get("FEED1", np.zeros(n, dtype=np.int64))
                f2 = c.get("FEED2", np.zeros(n, dtype=np.int64))
                mask &= apply("feed", feed_bl(f1, f2))
            if time_ranges is not None:
                tm = c["TIME"]
                mask &= apply("timerange", _ranges_mask(tm, time_ranges))
            if uv_ranges is not None:
                uvw = c["UVW"]
                uvd = np.hypot(uvw[:, 0], uvw[:, 1])
                m = np.zeros(n, dtype=bool)
                uvl = None
                for lo, hi, wave in uv_ranges:
                    if wave:
                        if uvl is None:
                            dd = c["DATA_DESC_ID"]
                            okd = (dd >= 0) & (dd < len(inv_lambda))
                            scale = np.zeros(n)
                            scale[okd] = inv_lambda[dd[okd]]
                            uvl = uvd * scale
                        m |= (uvl >= lo) & (uvl <= hi)
                    else:
                        m |= (uvd >= lo) & (uvd <= hi)
                mask &= apply("uvrange", m)
            if taql_mask is not None:
                mask &= taql_mask[rownrs]
            idx = np.nonzero(mask)[0]
            if len(idx):
                pieces.append(rownrs[idx])
                sub = None if len(idx) == n else idx
                for col, name in uniq_cols.items():
                    vals_c = c[col] if sub is None else c[col][sub]
                    uniq[name].update(np.unique(vals_c).tolist())

    # ---- parameters that match no row on their own
    # (as CASA 6.7, a number or range of a list that matches no row is left
    # out with a warning; the list is refused only when none of it matches)
    for param, sp in (("scan", scan_sp), ("observation", obs_sp), ("array", arr_sp)):
        if sp is None or not sp[0]:
            continue
        toks = [x for x in sp[2] if not x.startswith("!")]
        none = [toks[k] for k in range(len(toks)) if tok_hits.get((param, k), 0) == 0]
        if not none:
            continue
        what = f"no {param} {', '.join(none)} in the MS"
        if len(none) == len(toks):
            _fail(param, vals[param], what)
        _warn(f"{param} selection '{vals[param]}': {what}; selecting the others")
    for param in PARAMS:
        if param == "correlation" and spw_chans is not None:
            continue  # counted together with spw (both select data descriptions)
        if vals[param] and hits[param] == 0:
            _fail(param, vals[param], "matches no data in the MS")
    rows = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
    rows = rows.astype(np.int64, copy=False)
    anything = any(vals.values()) or auto_mode is not None or bool(taql)
    if len(rows) == 0 and not allow_empty and anything:
        given = ", ".join(f"{p}='{vals[p]}'" for p in PARAMS if vals[p])
        if auto_mode:
            given += (", " if given else "") + f"autocorr={autocorr!r}"
        if taql:
            given += (", " if given else "") + f"taql='{taql}'"
        raise SelectionError(f"selection {given or '(none)'} matches no rows of {md.path}")

    ddids = sorted(int(d) for d in uniq["ddids"])
    sel_spws = sorted({int(spw_of_dd[d]) for d in ddids if 0 <= d < ndd})
    spws_md = md.spws
    channels = {}
    for s in sel_spws:
        if spw_chans is not None and s in spw_chans:
            channels[s] = spw_chans[s]
        elif 0 <= s < len(spws_md):
            channels[s] = np.ones(spws_md[s].nchan, dtype=bool)
    pols = sorted({int(pol_of_dd[d]) for d in ddids if 0 <= d < ndd})
    pol_codes = md.pol_codes
    correlations = {}
    for p in pols:
        if corr_masks is not None and p in corr_masks:
            correlations[p] = corr_masks[p]
        elif p in pol_codes:
            correlations[p] = np.ones(len(pol_codes[p]), dtype=bool)
    known = {name: sorted(int(x) for x in vals_) for name, vals_ in uniq.items()
             if name != "ddids"}
    return Selection(md.path, rows, channels, correlations, sel_spws, ddids,
                     params={**vals, "autocorr": autocorr}, total_rows=nrows, known=known)


def _feed_ids(value, text):
    out = []
    for tok in _split(text, ","):
        if tok == "":
            _fail("feed", value, "empty element in the list")
        spec = _int_spec("feed", value, tok)
        if spec is None:
            _fail("feed", value, f"'{tok}' is not a feed id, range (a~b) or bound (<n, >n)")
        out.append(spec)
    return out


def _parse_feed(value):
    """Feed expression (ids, '1&2') -> function(FEED1, FEED2) -> bool mask."""
    groups = []
    for grp in _split(value, ";"):
        if grp == "":
            _fail("feed", value, "empty element between ';'")
        if "&" in grp:
            left, right = (s.strip() for s in grp.split("&", 1))
            right = right.lstrip("&").strip()
        else:
            left, right = grp, None
        inc_l = _feed_ids(value, left)
        inc_r = _feed_ids(value, right) if right else None
        groups.append((inc_l, inc_r))

    def fn(f1, f2):
        m = np.zeros(len(f1), dtype=bool)
        for l, r in groups:
            if r is None:
                m |= _ranges_mask(f1, l) | _ranges_mask(f2, l)
            else:
                m |= (_ranges_mask(f1, l) & _ranges_mask(f2, r)) | \
                    (_ranges_mask(f1, r) & _ranges_mask(f2, l))
        return m
    return fn
