"""The task framework: a task is a function plus one declaration of its parameters.

    from casashell.tasks._framework import Param, task

    @task(summary="Get the summary of a MeasurementSet",
          params=[
              Param("vis", "path", "", "Name of input visibility file (MS)"),
              Param("selectdata", "bool", True, "Data selection parameters",
                    sub={True: ["field", "spw"]}),
              Param("field", "string", "", "Field selection"),
              Param("spw", "string", "", "Spectral window selection"),
          ],
          history=None)
    def listobs(vis, selectdata, field, spw):
        ...

The decorator returns the *modular* task: a plain function with the real
signature (``help(listobs)`` shows every parameter and its help) that
validates its arguments (``AssertionError`` naming the parameter, the value
and what is allowed), logs CASA's begin/end banners with origin
``NAME::::casa``, runs the implementation and, for tasks that write a
MeasurementSet, appends the call to its HISTORY table.

The declaration (``listobs.spec``, a :class:`TaskSpec`) is what ``inp``,
``go``, ``default``, ``tget``/``tput``, ``.last`` files and ``taskhelp()`` read.

Task modules must stay cheap to import: no numpy/casacore at module level;
import them inside the implementation.
"""

from __future__ import annotations

import datetime
import inspect
import os
import sys
import textwrap
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from ..logsink import casalog

NONEMPTY = object()  # key in ``Param.sub``: the parent is anything but '' / [] / None

# ---------------------------------------------------------------------------
# types
_TYPE_NAMES = {
    "string": "str", "path": "str (an existing path)", "newpath": "str",
    "bool": "bool", "int": "int", "double": "float", "stringVec": "list of str",
    "intVec": "list of int", "doubleVec": "list of float", "boolVec": "list of bool",
    "dict": "dict", "any": "any value", "record": "dict", "variant": "any value",
}


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool) or (
        type(v).__module__ == "numpy" and hasattr(v, "dtype") and v.dtype.kind in "iu")


def _is_float(v):
    return isinstance(v, float) or (
        type(v).__module__ == "numpy" and hasattr(v, "dtype") and v.dtype.kind == "f")


def _is_bool(v):
    return isinstance(v, bool) or (
        type(v).__module__ == "numpy" and hasattr(v, "dtype") and v.dtype.kind == "b")


def _coerce_one(tname: str, value):
    """Return (ok, coerced_value) for a single type name."""
    if tname in ("any", "variant"):
        return True, value
    if tname in ("string", "path", "newpath"):
        if isinstance(value, str):
            if tname in ("path", "newpath") and value.startswith("~"):
                value = os.path.expanduser(value)   # as CASA expands its path parameters
            if tname == "path" and not os.path.exists(value):
                return False, value
            return True, value
        return False, value
    if tname == "bool":
        return (True, bool(value)) if _is_bool(value) else (False, value)
    if tname == "int":
        return (True, int(value)) if _is_int(value) else (False, value)
    if tname == "double":
        if _is_float(value) or _is_int(value):
            return True, float(value)
        return False, value
    if tname in ("dict", "record"):
        return (True, value) if isinstance(value, dict) else (False, value)
    if tname.endswith("Vec"):
        base = {"stringVec": "string", "intVec": "int", "doubleVec": "double",
                "boolVec": "bool"}[tname]
        if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
            value = value.tolist()
        if isinstance(value, (list, tuple)):
            out = []
            for item in value:
                ok, c = _coerce_one(base, item)
                if not ok:
                    return False, value
                out.append(c)
            return True, out
        return False, value
    raise ValueError(f"unknown parameter type {tname!r}")


@dataclass
class Param:
    """One task parameter.

    ``types``: a type name or a list of alternatives among ``string``,
    ``path`` (a string naming an existing file or directory), ``newpath``,
    ``bool``, ``int``, ``double`` (ints are accepted and made float),
    ``stringVec``, ``intVec``, ``doubleVec``, ``boolVec``, ``dict``, ``any``.

    ``allowed``: the values accepted (strings compare case-insensitively
    unless ``case_sensitive``); ``range``: (lo, hi) for numbers, either may
    be None.  ``check``: a callable returning an error text or None.

    ``sub``: which parameters appear under this one, by this one's value:
    ``{value: [name, ...]}`` or ``{value: {name: context_default, ...}}``;
    the key :data:`NONEMPTY` matches any non-empty value.  A subparameter is
    shown by ``inp`` only while its parent has a matching value, and takes
    the context default when the parent has that value.
    """

    name: str
    types: Any = "string"
    default: Any = ""
    help: str = ""
    allowed: list | None = None
    range: tuple | None = None
    sub: dict | None = None
    check: Callable | None = None
    case_sensitive: bool = False
    longhelp: str = ""

    def __post_init__(self):
        if isinstance(self.types, str):
            self.types = [self.types]
        self.types = list(self.types)

    @property
    def type_text(self) -> str:
        return " or ".join(_TYPE_NAMES.get(t, t) for t in self.types)

    def validate(self, value):
        """Return the coerced value, or raise AssertionError naming the problem."""
        for tname in self.types:
            ok, coerced = _coerce_one(tname, value)
            if ok:
                break
        else:
            if "path" in self.types and isinstance(value, str):
                raise AssertionError(
                    f"the {self.name} parameter must be a path that exists "
                    f"({value!r} does not exist)")
            raise AssertionError(
                f"parameter {self.name}={value!r} has the wrong type "
                f"({type(value).__name__}); expected {self.type_text}")
        # a vector is checked element by element (unless whole lists are allowed)
        elementwise = isinstance(coerced, list) and not (
            self.allowed is not None and any(isinstance(a, list) for a in self.allowed))
        items = coerced if elementwise else [coerced]
        if self.allowed is not None:
            for v in items:
                if not self._is_allowed(v):
                    raise AssertionError(
                        f"parameter {self.name}={value!r} is not allowed; allowed values: "
                        + ", ".join(repr(a) for a in self.allowed))
            if not self.case_sensitive:
                canon = [self._canonical(v) for v in items]
                coerced = canon if elementwise else canon[0]
        if self.range is not None:
            lo, hi = self.range
            for v in (coerced if elementwise else [coerced]):
                if not (_is_int(v) or _is_float(v)):
                    continue
                if (lo is not None and v < lo) or (hi is not None and v > hi):
                    raise AssertionError(
                        f"parameter {self.name}={value!r} is out of range; allowed: "
                        f"{'' if lo is None else lo}..{'' if hi is None else hi}")
        if self.check is not None:
            msg = self.check(coerced)
            if msg:
                raise AssertionError(f"parameter {self.name}={value!r}: {msg}")
        return coerced

    def _canonical(self, v):
        """The declared spelling of an allowed string (case-insensitive match)."""
        if isinstance(v, str):
            for a in self.allowed:
                if isinstance(a, str) and a.lower() == v.lower():
                    return a
        return v

    def _is_allowed(self, v) -> bool:
        for a in self.allowed:
            if isinstance(a, str) and isinstance(v, str) and not self.case_sensitive:
                if a.lower() == v.lower():
                    return True
            elif a == v and type(a) is type(v) or (a == v and not isinstance(a, bool)
                                                    and not isinstance(v, bool)):
                return True
        return False

    def problem(self, value) -> str | None:
        """The validation error text for ``value``, or None if it is valid."""
        try:
            self.validate(value)
        except AssertionError as exc:
            return str(exc)
        return None


def _sub_matches(key, value) -> bool:
    if key is NONEMPTY:
        return value not in ("", None, [], ())
    if isinstance(key, str) and isinstance(value, str):
        return key.lower() == value.lower()
    if isinstance(key, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(key, bool) and key == value
    return key == value


class TaskSpec:
    """The declaration of a task: its parameters, in order, and metadata."""

    def __init__(self, name: str, summary: str, params: list[Param], impl: Callable,
                 description: str = "", history: str | None = None,
                 category: str = "general"):
        self.name = name
        self.summary = summary
        self.description = description
        self.params = list(params)
        self.impl = impl
        self.history = history
        self.category = category
        self.by_name = {p.name: p for p in self.params}
        if len(self.by_name) != len(self.params):
            raise ValueError(f"task {name}: duplicate parameter names")
        # parent of every subparameter: name -> [(parent, key, context_default|_NOCTX)]
        self.parents: dict[str, list] = {}
        for p in self.params:
            for key, names in (p.sub or {}).items():
                items = names.items() if isinstance(names, dict) else ((n, _NOCTX) for n in names)
                for n, ctx in items:
                    if n not in self.by_name:
                        raise ValueError(f"task {name}: subparameter {n} of {p.name} is not declared")
                    self.parents.setdefault(n, []).append((p.name, key, ctx))

    # -- structure ------------------------------------------------------------
    @property
    def top_level(self) -> list[Param]:
        return [p for p in self.params if p.name not in self.parents]

    def children(self, parent: Param, value) -> list[Param]:
        """The subparameters of ``parent`` visible when it has ``value``."""
        names = []
        for key, sub in (parent.sub or {}).items():
            if _sub_matches(key, value):
                for n in (sub.keys() if isinstance(sub, dict) else sub):
                    if n not in names:
                        names.append(n)
        return [self.by_name[n] for n in names]

    def is_active(self, name: str, values: dict) -> bool:
        """Is parameter ``name`` in effect given the other values?"""
        if name not in self.parents:
            return True
        for parent, key, _ in self.parents[name]:
            pv = values.get(parent, self.default_for(parent, values))
            if self.is_active(parent, values) and _sub_matches(key, pv):
                return True
        return False

    def default_for(self, name: str, values: dict):
        """The default of ``name`` in the context of the other values."""
        for parent, key, ctx in self.parents.get(name, ()):
            if ctx is _NOCTX:
                continue
            pv = values.get(parent, self.by_name[parent].default)
            if _sub_matches(key, pv):
                return _copy(ctx)
        return _copy(self.by_name[name].default)

    def defaults(self, given: dict | None = None) -> dict:
        """Every parameter's value: ``given`` where present, defaults elsewhere.

        Parents are resolved first so subparameter defaults see their values.
        """
        given = dict(given or {})
        out = {}
        for p in self.params:
            if p.name in given:
                out[p.name] = given[p.name]
        for p in self.params:
            if p.name not in out:
                out[p.name] = self.default_for(p.name, out)
        return {p.name: out[p.name] for p in self.params}

    def display_order(self, values: dict) -> list[tuple[Param, int]]:
        """(param, depth) in the order ``inp`` shows them, only active ones."""
        seen = set()
        out = []

        def visit(p, depth):
            if p.name in seen:
                return
            seen.add(p.name)
            out.append((p, depth))
            for c in self.children(p, values.get(p.name, self.default_for(p.name, values))):
                visit(c, depth + 1)

        for p in self.top_level:
            visit(p, 0)
        return out

    # -- validation -------------------------------------------------------------
    def bind(self, args: tuple, kwargs: dict) -> dict:
        """Positional + keyword arguments to a full, validated value dict."""
        if len(args) > len(self.params):
            raise TypeError(f"{self.name}() takes at most {len(self.params)} positional "
                            f"arguments ({len(args)} given)")
        given = {}
        for p, a in zip(self.params, args):
            given[p.name] = a
        for k, v in kwargs.items():
            if k not in self.by_name:
                raise TypeError(f"{self.name}() got an unexpected keyword argument {k!r}")
            if k in given:
                raise TypeError(f"{self.name}() got multiple values for argument {k!r}")
            given[k] = v
        # None stands for "the default" (as in shell calls), except where None is a value
        given = {k: v for k, v in given.items()
                 if v is not None or {"any", "variant"} & set(self.by_name[k].types)}
        return self.validate(self.defaults(given))

    def validate(self, values: dict) -> dict:
        """Validate every active parameter; inactive ones keep their defaults."""
        out = {}
        for p in self.params:
            v = values.get(p.name, self.default_for(p.name, values))
            if self.is_active(p.name, values):
                v = p.validate(v)
            else:
                v = self.default_for(p.name, values)
            out[p.name] = v
        return out

    # -- text -------------------------------------------------------------------
    def call_text(self, values: dict) -> str:
        inner = ", ".join(f"{p.name}={plain_value(values[p.name])!r}" for p in self.params)
        return f"{self.name}( {inner} )"

    def last_text(self, values: dict, python_style: bool = False) -> str:
        """The text of a ``TASK.last`` file for ``values`` (valid Python).

        ``taskname = 'NAME'`` first, then one ``name = value`` line per
        parameter (names padded to the longest), then the call as a comment.
        Parameters are in declaration order, or for a Python-style call the
        top-level parameters first and then the subparameters (as CASA).
        """
        params = list(self.params)
        if python_style:
            params = self.top_level + [p for p in self.params if p.name in self.parents]
        width = max([len("taskname")] + [len(p.name) for p in params])
        lines = [f"{'taskname':<{width}} = {self.name!r}"]
        for p in params:
            lines.append(f"{p.name:<{width}} = {python_literal(values.get(p.name))}")
        inner = ",".join(f"{p.name}={python_literal(values.get(p.name))}" for p in params)
        lines.append(f"#{self.name}( {inner} )")
        return "\n".join(lines) + "\n"

    def docstring(self) -> str:
        lines = [self.summary, ""]
        if self.description:
            lines += [textwrap.dedent(self.description).strip(), ""]
        lines += ["Parameters", "----------"]
        for p in self.params:
            default = repr(p.default)
            lines.append(f"{p.name} : {p.type_text} = {default}")
            body = p.help + (("\n" + p.longhelp) if p.longhelp else "")
            if p.allowed is not None:
                body += "\nAllowed: " + ", ".join(repr(a) for a in p.allowed)
            if p.range is not None:
                body += f"\nRange: {p.range[0]}..{p.range[1]}"
            if p.name in self.parents:
                conds = ", ".join(f"{par}={_keytext(k)}" for par, k, _ in self.parents[p.name])
                body += f"\n(subparameter, shown when {conds})"
            for line in body.strip().splitlines() or [""]:
                lines.append("    " + line)
        return "\n".join(lines)

    def signature(self) -> inspect.Signature:
        return inspect.Signature([
            inspect.Parameter(p.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                              default=p.default) for p in self.params])


class _NoCtx:
    def __repr__(self):
        return "<no context default>"


_NOCTX = _NoCtx()


def _keytext(k):
    return "<non-empty>" if k is NONEMPTY else repr(k)


def plain_value(v):
    """numpy scalars and arrays as plain Python values (lists, floats...)."""
    if type(v).__module__ == "numpy" and hasattr(v, "tolist"):
        return v.tolist()
    if isinstance(v, tuple):
        return tuple(plain_value(x) for x in v)
    if isinstance(v, list):
        return [plain_value(x) for x in v]
    if isinstance(v, dict):
        return {k: plain_value(x) for k, x in v.items()}
    return v


def python_literal(v) -> str:
    """A Python expression for ``v`` that can be read back with ``eval``.

    Objects whose repr is ``<...>`` are written as ``None``; non-finite
    floats as ``float('inf')`` / ``float('nan')``.
    """
    v = plain_value(v)
    if isinstance(v, float) and v != v:
        return "float('nan')"
    if isinstance(v, float) and v in (float("inf"), float("-inf")):
        return "float('inf')" if v > 0 else "-float('inf')"
    if isinstance(v, (list, tuple)):
        inner = ", ".join(python_literal(x) for x in v)
        if isinstance(v, tuple):
            return f"({inner}{',' if len(v) == 1 else ''})"
        return f"[{inner}]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{python_literal(k)}: {python_literal(x)}"
                               for k, x in v.items()) + "}"
    try:
        text = repr(v)
    except Exception:  # noqa: BLE001
        return "None"
    if text.startswith("<") and text.endswith(">"):
        return "None"
    return text


def _copy(v):
    if isinstance(v, list):
        return list(v)
    if isinstance(v, dict):
        return dict(v)
    return v


# ---------------------------------------------------------------------------
# execution

#: functions called after each task run with (name, start, end, success);
#: telemetry registers itself here.
after_task_hooks: list[Callable] = []

HASH_LINE = "#" * 42


def banner(kind: str, name: str) -> str:
    """``##### Begin Task: listobs            #####`` (42 characters).

    The name is padded to 18 characters, so Begin and End lines of names up
    to 18 characters are 42 characters long; longer names are not cut.
    """
    pad = " " * max(0, 18 - len(name))
    if kind == "Begin":
        return f"##### Begin Task: {name}{pad} #####"
    return f"##### {kind} Task: {name}{pad}   #####"


class TaskInterrupted(KeyboardInterrupt):
    pass


def execute(spec: TaskSpec, values: dict):
    """Run a task with already validated ``values``: banners, implementation,
    HISTORY, hooks.  Exceptions propagate (after being logged)."""
    name = spec.name
    old_origin = casalog.getOrigin()
    casalog.origin(name)
    start = datetime.datetime.now()
    t0 = time.time()
    ok = False
    try:
        casalog.post(HASH_LINE)
        casalog.post(banner("Begin", name))
        casalog.post(spec.call_text(values))
        try:
            # a Multi-MS input runs sub-MS by sub-MS (casashell.parallel.dispatch)
            from ..parallel import dispatch
            result = dispatch.run(spec, values)
            ok = True
        except KeyboardInterrupt:
            casalog.post(f"Task {name} was interrupted by the user (Ctrl-C)", "WARN")
            raise
        except Exception as exc:
            exc = _specific(exc)
            casalog.post(f"Task {name} raised an exception of class "
                         f"{type(exc).__name__} with the following message: {exc}", "SEVERE")
            raise exc
        finally:
            end = datetime.datetime.now()
            if ok and spec.history:
                write_history(spec, values)
            casalog.post(f"Task {name} complete. Start time: {start} End time: {end}")
            if ok:
                casalog.post(f"Result {name}: {_short_repr(result)}", "DEBUGGING")
            casalog.post(banner("End", name))
            casalog.post(HASH_LINE)
        return result
    finally:
        casalog.origin(old_origin)
        for hook in list(after_task_hooks):
            try:
                hook(name, t0, time.time(), ok)
            except Exception:
                pass


def _short_repr(value, limit: int = 2000) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not fail the task
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[:limit] + "..."


def _specific(exc: BaseException) -> BaseException:
    """A bare ``Exception`` becomes a RuntimeError with the same message."""
    if type(exc) is Exception:
        new = RuntimeError(*exc.args)
        new.__cause__ = exc
        new.__traceback__ = exc.__traceback__
        return new
    return exc


def history_lines(spec: TaskSpec, values: dict) -> list[str]:
    from .. import __version__
    lines = [f"taskname={spec.name}", f"version: casashell {__version__}"]
    for p in spec.params:
        v = values[p.name]
        text = f'"{v}"' if isinstance(v, str) else str(v)
        lines.append(f"{p.name:<11} = {text}")
    return lines


def write_history(spec: TaskSpec, values: dict) -> None:
    """Append the call to the HISTORY table of the MS named by ``spec.history``.

    A list of MSs gets the rows in each.  A failure is one WARN in the log
    (per MS); the task's result stands.
    """
    targets = values.get(spec.history)
    if not targets:
        return
    if isinstance(targets, str):
        targets = [targets]
    lines = history_lines(spec, values)
    for target in targets:
        try:
            from ..ms.history import append_history
            append_history(target, lines, origin=spec.name)
        except Exception as exc:  # noqa: BLE001 - any failure is only a warning
            casalog.post(f'*** Error "{exc}" updating HISTORY of {target}', "WARN")


# ---------------------------------------------------------------------------
# the decorator and the registry of loaded specs

_SPECS: dict[str, TaskSpec] = {}


def task(summary: str, params: list[Param], *, name: str | None = None,
         description: str = "", history: str | None = None, category: str = "general"):
    """Declare a task; returns the modular task function."""

    def deco(impl):
        tname = name or impl.__name__
        spec = TaskSpec(tname, summary, params, impl, description=description,
                        history=history, category=category)
        missing = set(spec.by_name) ^ set(inspect.signature(impl).parameters)
        if missing:
            raise ValueError(f"task {tname}: implementation parameters differ from "
                             f"the declaration: {sorted(missing)}")

        def modular(*args, **kwargs):
            values = spec.bind(args, kwargs)
            return execute(spec, values)

        modular.__name__ = tname
        modular.__qualname__ = tname
        modular.__module__ = impl.__module__
        modular.__doc__ = spec.docstring()
        modular.__signature__ = spec.signature()
        modular.spec = spec
        modular.__wrapped_impl__ = impl
        _SPECS[tname] = spec
        return modular

    return deco


def format_exception_lines(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def stderr(msg: str) -> None:
    sys.stderr.write(msg + "\n")
