"""Running CASA 5 (Python 2) scripts: a translator for the common Python 2 syntax.

``execfile`` first compiles a script as Python 3.  Only if that fails with a
SyntaxError is the script translated with :func:`translate` and compiled
again; if the translation compiles it is run (and the log says so),
otherwise the original SyntaxError is raised.  Valid Python 3 is never
touched.

Translated constructs (those found in ALMA restore and calibration scripts of
the CASA 4/5 era):

- ``print x, y`` / ``print x,`` / ``print >>f, x`` / ``print``  -> ``print(...)``
- ``exec code in ns``                      -> ``exec(code, ns)``
- ``except E, e:``                         -> ``except E as e:``
- ``raise E, "message"``                   -> ``raise E("message")``
- ``d.has_key(k)``                         -> ``(k in d)``
- ``a <> b``                               -> ``a != b``
- ```x```                                  -> ``repr(x)``
- ``0777``, ``10L``, ``ur'...'``           -> ``0o777``, ``10``, ``r'...'``
- ``cElementTree`` in imports              -> ``ElementTree``
- ``.iteritems() .itervalues() .iterkeys() sys.maxint os.getcwdu()``
                                           -> ``.items() .values() .keys() sys.maxsize os.getcwd()``

and :data:`BUILTINS` (``xrange``, ``raw_input``, ``unicode``...) are provided to
translated scripts.  Not translated: integer division (``7/2`` is 3.5 in
Python 3), other removed methods, string module constants.
"""

from __future__ import annotations

import io
import keyword
import tokenize

#: Python 2 builtins given to translated scripts (only where the name is unset)
BUILTINS = {
    "xrange": range, "raw_input": input, "unicode": str, "basestring": str,
    "long": int, "unichr": chr, "file": open,
}
try:
    from functools import reduce as _reduce
    BUILTINS["reduce"] = _reduce
except ImportError:  # pragma: no cover
    pass

#: attributes renamed in Python 3 (``x.iteritems()`` ...)
_RENAMED_ATTRS = {"iteritems": "items", "itervalues": "values", "iterkeys": "keys",
                  "maxint": "maxsize", "getcwdu": "getcwd"}

_NAME, _OP, _NUMBER, _STRING, _ERR = (tokenize.NAME, tokenize.OP, tokenize.NUMBER,
                                      tokenize.STRING, tokenize.ERRORTOKEN)
_ENDS = (tokenize.NEWLINE, tokenize.ENDMARKER)
_OPEN, _CLOSE = "([{", ")]}"


class _Src:
    def __init__(self, text):
        self.lines = text.splitlines(keepends=True) or [""]
        self.offsets = [0]
        for ln in self.lines:
            self.offsets.append(self.offsets[-1] + len(ln))
        self.text = text

    def pos(self, rc):
        row, col = rc
        if row - 1 >= len(self.lines):
            return len(self.text)
        return self.offsets[row - 1] + col

    def slice(self, a, b):
        return self.text[self.pos(a):self.pos(b)]


def translate(source: str) -> tuple[str, list[str]]:
    """Return (translated source, list of the kinds of changes made)."""
    src = _Src(source)
    toks = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
            if t.type not in (tokenize.NL,) and not (t.type == _ERR and t.string.isspace())]
    edits: list[tuple[int, int, str]] = []       # (start offset, end offset, text)
    kinds: list[str] = []

    def edit(a, b, text, kind):
        edits.append((src.pos(a), src.pos(b), text))
        if kind not in kinds:
            kinds.append(kind)

    def sub(text):
        """``text`` (a part of a statement replaced as a whole: the arguments of
        print, the body of exec, ...) with its own Python 2 constructs translated."""
        if not text.strip():
            return text
        try:
            new, more = translate(text)
        except (tokenize.TokenError, IndentationError, SyntaxError):
            return text
        for k in more:
            if k not in kinds:
                kinds.append(k)
        return new

    def forget_edits(a, b):
        """Drop the edits already made inside source offsets [a, b) (that text is
        about to be replaced as a whole, translated by :func:`sub`)."""
        edits[:] = [e for e in edits if not (a <= e[0] and e[1] <= b)]

    # depth and "statement start" of every token
    depth = 0
    starts = []
    depths = []
    at_start = True
    for t in toks:
        depths.append(depth)
        starts.append(at_start)
        if t.type == _OP and t.string in _OPEN:
            depth += 1
        elif t.type == _OP and t.string in _CLOSE:
            depth = max(0, depth - 1)
        if t.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            at_start = True
        elif t.type == _OP and t.string in (";", ":") and depth == 0:
            at_start = True
        elif t.type == tokenize.COMMENT:
            pass
        else:
            at_start = False

    def stmt_end(i):
        """Index of the token ending the simple statement that starts at i."""
        d0 = depths[i]
        j = i
        while j < len(toks):
            t = toks[j]
            if t.type in _ENDS or (t.type == tokenize.COMMENT and depths[j] == d0):
                return j
            if t.type == _OP and t.string == ";" and depths[j] == d0:
                return j
            j += 1
        return len(toks) - 1

    def split_commas(a, b):
        """Depth-0 comma indices between token a (incl.) and b (excl.)."""
        d0 = depths[a] if a < len(depths) else 0
        return [k for k in range(a, b) if toks[k].type == _OP and toks[k].string == ","
                and depths[k] == d0]

    def text_between(a, b):
        """Source text from token a's start to token b-1's end."""
        if b <= a:
            return ""
        return src.slice(toks[a].start, toks[b - 1].end)

    def matching(i):
        """Index of the bracket matching the one at i (either direction)."""
        s = toks[i].string
        if s in _OPEN:
            d = 0
            for k in range(i, len(toks)):
                if toks[k].type == _OP and toks[k].string in _OPEN:
                    d += 1
                elif toks[k].type == _OP and toks[k].string in _CLOSE:
                    d -= 1
                    if d == 0:
                        return k
        else:
            d = 0
            for k in range(i, -1, -1):
                if toks[k].type == _OP and toks[k].string in _CLOSE:
                    d += 1
                elif toks[k].type == _OP and toks[k].string in _OPEN:
                    d -= 1
                    if d == 0:
                        return k
        return None

    i = 0
    n = len(toks)
    closing_backticks: set[int] = set()
    while i < n:
        t = toks[i]
        nxt = toks[i + 1] if i + 1 < n else None
        # print / exec statements
        if (t.type == _NAME and t.string in ("print", "exec") and starts[i] and nxt is not None
                and not (nxt.type == _OP and nxt.string in ("(", "=", ".", "[", ","))):
            end = stmt_end(i + 1)
            a = i + 1
            if t.string == "print":
                target = None
                if a < end and toks[a].type == _OP and toks[a].string == ">>":
                    commas = split_commas(a + 1, end)
                    stop = commas[0] if commas else end
                    target = sub(text_between(a + 1, stop))
                    a = stop + 1 if commas else end
                commas = split_commas(a, end)
                trailing = bool(commas) and commas[-1] == end - 1
                args = sub(text_between(a, end - 1 if trailing else end))
                extra = []
                if trailing:
                    extra.append("end=' '")
                if target:
                    extra.append(f"file={target}")
                inner = ", ".join(x for x in [args] + extra if x)
                stop_pos = toks[end - 1].end if end - 1 >= i + 1 else t.end
                edit(t.start, stop_pos, f"print({inner})", "print statement")
            else:
                ins = [k for k in range(a, end) if toks[k].type == _NAME
                       and toks[k].string == "in" and depths[k] == depths[a]]
                if ins:
                    body = sub(text_between(a, ins[0])) + ", " + sub(text_between(ins[0] + 1,
                                                                                  end))
                else:
                    body = sub(text_between(a, end))
                edit(t.start, toks[end - 1].end, f"exec({body})", "exec statement")
            i = end
            continue
        # except E, e:
        if t.type == _NAME and t.string == "except":
            k = i + 1
            while k < n and not (toks[k].type == _OP and toks[k].string == ":"
                                 and depths[k] == depths[i]):
                if toks[k].type in _ENDS:
                    break
                k += 1
            commas = split_commas(i + 1, k)
            if (len(commas) == 1 and commas[0] + 2 == k and toks[commas[0] + 1].type == _NAME):
                edit(toks[commas[0]].start, toks[commas[0]].end, " as", "except E, e")
            i += 1
            continue
        # raise E, V
        if t.type == _NAME and t.string == "raise" and starts[i]:
            end = stmt_end(i + 1)
            commas = split_commas(i + 1, end)
            if len(commas) == 1:
                exc = sub(text_between(i + 1, commas[0]))
                val = sub(text_between(commas[0] + 1, end))
                edit(toks[i + 1].start, toks[end - 1].end, f"{exc}({val})", "raise E, V")
            i = end
            continue
        # x.has_key(k)
        if (t.type == _NAME and t.string == "has_key" and i >= 2 and toks[i - 1].string == "."
                and nxt is not None and nxt.string == "("):
            close = matching(i + 1)
            j = i - 2
            ok = close is not None
            while ok:
                tj = toks[j]
                if tj.type == _OP and tj.string in _CLOSE:
                    j = matching(j)
                    if j is None:
                        ok = False
                        break
                    prev = toks[j - 1] if j > 0 else None
                    if prev is not None and ((prev.type == _NAME and not keyword.iskeyword(
                            prev.string)) or (prev.type == _OP and prev.string in _CLOSE)):
                        j -= 1
                        continue
                    break
                if tj.type in (_NAME, _STRING, _NUMBER) and not keyword.iskeyword(tj.string):
                    if j >= 2 and toks[j - 1].string == "." and toks[j - 1].type == _OP:
                        j -= 2
                        continue
                    break
                ok = False
            if ok:
                forget_edits(src.pos(toks[j].start), src.pos(toks[i - 2].end))
                recv = sub(src.slice(toks[j].start, toks[i - 2].end))
                key = sub(text_between(i + 2, close))
                if close - (i + 2) > 1:
                    key = f"({key})"
                edit(toks[j].start, toks[close].end, f"({key} in {recv})", "has_key")
                i = close + 1
                continue
        # a <> b (one token from Python 3.12's tokenizer, two before)
        if t.type == _OP and t.string == "<>":
            edit(t.start, t.end, "!=", "<>")
            i += 1
            continue
        if (t.type == _OP and t.string == "<" and nxt is not None and nxt.string == ">"
                and nxt.start == t.end):
            edit(t.start, nxt.end, "!=", "<>")
            i += 2
            continue
        # `x` (an error token before Python 3.12, an operator since); the tokens
        # between the backticks are translated too
        if i in closing_backticks:
            i += 1
            continue
        if t.type in (_ERR, _OP) and t.string == "`":
            k = i + 1
            while k < n and not (toks[k].type in (_ERR, _OP) and toks[k].string == "`"):
                if toks[k].type in _ENDS:
                    break
                k += 1
            if k < n and toks[k].string == "`":
                edit(t.start, t.end, "repr(", "backticks")
                edit(toks[k].start, toks[k].end, ")", "backticks")
                closing_backticks.add(k)
                i += 1
                continue
        # 0777 (one token since Python 3.12) and 10L
        if (t.type == _NUMBER and len(t.string) > 1 and t.string[0] == "0"
                and t.string.isdigit() and set(t.string) <= set("01234567")):
            edit(t.start, t.end, "0o" + t.string.lstrip("0") if t.string.strip("0") else "0",
                 "octal literal")
            i += 1
            continue
        if t.type == _NUMBER and nxt is not None and nxt.start == t.end:
            if t.string == "0" and nxt.type == _NUMBER and nxt.string.isdigit() \
                    and set(nxt.string) <= set("01234567"):
                edit(t.start, nxt.end, "0o" + nxt.string, "octal literal")
                i += 2
                continue
            if nxt.type == _NAME and nxt.string in ("L", "l"):
                edit(nxt.start, nxt.end, "", "long literal")
                i += 2
                continue
        # ur'...'
        if (t.type == _NAME and t.string.lower() == "ur" and nxt is not None
                and nxt.type == _STRING and nxt.start == t.end):
            edit(t.start, t.end, "r", "ur'' string")
        # d.iteritems() -> d.items(), sys.maxint -> sys.maxsize
        if (t.type == _NAME and t.string in _RENAMED_ATTRS and i >= 1
                and toks[i - 1].type == _OP and toks[i - 1].string == "."):
            edit(t.start, t.end, _RENAMED_ATTRS[t.string], t.string)
        # from xml.etree import cElementTree
        if t.type == _NAME and t.string == "cElementTree":
            edit(t.start, t.end, "ElementTree", "cElementTree")
        i += 1

    out = source
    for a, b, text in sorted(edits, reverse=True):
        out = out[:a] + text + out[b:]
    return out, kinds


def compile_script(source: bytes, filename: str):
    """Compile a script, translating Python 2 syntax if (and only if) needed.

    Returns (code, kinds): ``kinds`` lists the translated constructs (empty
    for Python 3 scripts).  Raises the original SyntaxError if the script is
    neither Python 3 nor translatable.
    """
    try:
        return compile(source, filename, "exec", dont_inherit=True), []
    except SyntaxError as original:
        try:
            text = source.decode("utf-8") if isinstance(source, bytes) else source
            new, kinds = translate(text)
            if not kinds:
                raise original
            return compile(new, filename, "exec", dont_inherit=True), kinds
        except SyntaxError:
            raise original from None
        except (tokenize.TokenError, UnicodeDecodeError, IndentationError):
            raise original from None
