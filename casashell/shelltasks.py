"""Shell-style tasks and the task commands of the interactive shell.

``populate_namespace(user_ns)`` puts into the shell's namespace:

- one *shell task* object per task (``listobs``, ``split``, ...).  It wraps
  the modular task (``casashell.tasks.X``) and behaves like a CASA shell
  task:

  * called with at least one argument that is not None ("Python style"),
    it uses those arguments and the defaults for the others, ignoring the
    global variables;
  * called with no arguments ("inp/go style") it reads every parameter from
    the global variables of the caller's shell namespace (``vis = 'x.ms'``),
    the defaults for the ones that are not set;
  * it never raises: invalid parameters and failures are logged (SEVERE
    ``Exception Reported: Error in NAME: MSG`` and the traceback at INFO)
    and the call returns ``False``.  Ctrl-C is the exception: the task
    stops, the interruption is logged, and ``KeyboardInterrupt`` goes on so
    that a running script stops too and the prompt comes back;
  * every call writes ``NAME.last`` in the current directory, also when it
    fails.

  Shell tasks are proxies: the task's module (and numpy, casacore...) is
  imported on first use, so populating the namespace costs next to nothing.

- ``inp go default tget tput saveinputs execfile tasklist taskhelp casalog``.

Which namespace holds the "globals": the nearest frame on the call stack
whose globals carry the ``__casashell_state__`` marker (the shell's
namespace, a script run by ``execfile`` or ``%run -i``, a copy of the shell
namespace made for ``casa -c script.py``), looked up at every call; never
cached.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
import types

MARKER = "__casashell_state__"

#: the state of the most recently populated shell (fallback namespace)
_STATE = None


class ShellState:
    """What the task commands share in one shell: the namespace, the colour
    scheme, the shell tasks and the "last task" slot used by ``inp``/``go``
    without argument."""

    def __init__(self, ns: dict, colors: str = "Neutral"):
        self.ns = ns
        self.colors = colors
        self.last_task = None      # ShellTask
        self.tasks: dict[str, ShellTask] = {}

    def __repr__(self):
        return "<casashell shell state>"


# ---------------------------------------------------------------------------
# finding the namespace of the caller

def _caller_ns(state: ShellState | None = None) -> dict:
    """The globals of the nearest caller frame that is a casashell namespace."""
    f = sys._getframe(1)
    own = globals()
    while f is not None:
        g = f.f_globals
        if g is not own and MARKER in g:
            return g
        f = f.f_back
    state = state or _STATE
    if state is None:
        raise RuntimeError("the casashell task commands need a shell namespace "
                           "(casashell.shelltasks.populate_namespace)")
    return state.ns


def _state_of(ns: dict) -> ShellState:
    st = ns.get(MARKER)
    if isinstance(st, ShellState):
        return st
    if _STATE is None:
        raise RuntimeError("no casashell shell namespace")
    return _STATE


# ---------------------------------------------------------------------------
# the shell task objects

class ShellTask:
    """A task as the shell offers it (see the module documentation).

    Attributes of the modular task (``spec``...) are reachable through it;
    ``help(task)`` and ``task?`` show the task's parameters.
    """

    def __init__(self, name: str, state: ShellState | None = None, modular=None):
        self.__name__ = name
        self.__qualname__ = name
        self._state = state
        self._modular = modular

    # -- loading ---------------------------------------------------------------
    def _load(self):
        if self._modular is None:
            from .tasks import TASK_MODULES
            modname = TASK_MODULES.get(self.__name__, self.__name__)
            module = importlib.import_module(f"casashell.tasks.{modname}")
            self._modular = getattr(module, self.__name__)
        return self._modular

    @property
    def spec(self):
        return self._load().spec

    @property
    def __doc__(self):  # noqa: D401 - computed documentation
        try:
            return self._load().__doc__
        except Exception as exc:  # noqa: BLE001
            return f"task {self.__name__} (cannot be loaded: {exc})"

    @property
    def __signature__(self):
        try:
            return self._load().__signature__
        except Exception:  # noqa: BLE001
            return None

    def __getattr__(self, attr):
        # private names (IPython probes _repr_html_, _ipython_display_...) never
        # load the task
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self._load(), attr)

    def __get__(self, obj, objtype=None):
        # makes help() document a shell task like a function
        return self

    def __repr__(self):
        return f"<casashell task {self.__name__}>"

    # -- calling ---------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        ns = _caller_ns(self._state)
        return self._run(args, kwargs, ns)

    def _run(self, args: tuple, kwargs: dict, ns: dict):
        name = self.__name__
        python_style = (any(a is not None for a in args)
                        or any(v is not None for v in kwargs.values()))
        try:
            last_path = os.path.join(os.getcwd(), f"{name}.last")
        except OSError:
            last_path = None
        spec = None
        raw = None
        try:
            try:
                spec = self._load().spec
                if python_style:
                    given = _given_args(spec, args, kwargs)
                else:
                    given = _globals_for(spec, ns)
                raw = spec.defaults(given)
                values = spec.validate(raw)
                raw = values
            except Exception as exc:  # noqa: BLE001 - the shell reports, never raises
                _report(name, exc)
                return False
            from .tasks._framework import execute
            try:
                return execute(spec, values)
            except Exception as exc:  # noqa: BLE001
                _report(name, exc)
                return False
        finally:
            if spec is not None and raw is not None and last_path is not None:
                _write_last(spec, raw, last_path, python_style)

    # -- CASA task object methods ------------------------------------------------
    def inp(self):
        """Show this task's parameters (same as ``inp(task)``)."""
        return _inp(self, _caller_ns(self._state))

    def tget(self, savefile=None):
        return _tget(self, savefile, _caller_ns(self._state))

    def tput(self, outfile=None):
        return _tput(self, outfile, _caller_ns(self._state))

    def set_global_defaults(self):
        return _default(self, _caller_ns(self._state))


def _given_args(spec, args, kwargs) -> dict:
    if len(args) > len(spec.params):
        raise TypeError(f"{spec.name}() takes at most {len(spec.params)} positional "
                        f"arguments ({len(args)} given)")
    given = {}
    for p, a in zip(spec.params, args):
        if a is not None:
            given[p.name] = a
    for k, v in kwargs.items():
        if k not in spec.by_name:
            raise TypeError(f"{spec.name}() got an unexpected keyword argument {k!r}")
        if k in given:
            raise TypeError(f"{spec.name}() got multiple values for argument {k!r}")
        if v is not None:
            given[k] = v
    return given


def _report(name: str, exc: BaseException) -> None:
    """Log a failure the way shell tasks do: SEVERE line, traceback at INFO."""
    from .logsink import casalog
    old = casalog.getOrigin()
    casalog.origin(name)
    try:
        casalog.post(f"Exception Reported: Error in {name}: {exc}", "SEVERE")
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        casalog.post(text.rstrip("\n"), "INFO")
    finally:
        casalog.origin(old)


def _write_last(spec, values: dict, path: str, python_style: bool) -> None:
    """Write ``NAME.last`` (through ``NAME.pre`` and a rename)."""
    pre = path[:-len(".last")] + ".pre"
    try:
        with open(pre, "w") as f:
            f.write(spec.last_text(values, python_style=python_style))
        os.replace(pre, path)
    except Exception as exc:  # noqa: BLE001 - a .last file never fails a task
        from .logsink import casalog
        casalog.post(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}", "WARN")
        try:
            os.unlink(pre)
        except OSError:
            pass


# ---------------------------------------------------------------------------
# inp / go / default / tget / tput / saveinputs

def _resolve(task, ns: dict):
    """The ShellTask meant by ``task`` (object, modular function, name, or
    None for the last task); prints an error and returns None if there is none."""
    state = _state_of(ns)
    if task is None:
        # CASA 5 kept the active task in the global 'taskname' (also the first
        # line of .last files); it wins when it names a task
        name = ns.get("taskname")
        if isinstance(name, str) and name and (
                state.last_task is None or name != state.last_task.__name__):
            found = _lookup_name(name, ns, state, quiet=True)
            if found is not None:
                return found
        if state.last_task is None:
            print("ERROR task not specified and no active task")
            return None
        return state.last_task
    if isinstance(task, ShellTask):
        return task
    spec = getattr(task, "spec", None)
    if spec is not None and callable(task) and hasattr(spec, "params"):
        found = state.tasks.get(spec.name)
        if found is not None and found._modular in (None, task):
            found._modular = task
            return found
        return ShellTask(spec.name, state, modular=task)
    if isinstance(task, str):
        found = _lookup_name(task, ns, state)
        if found is not None:
            return found
    print(f"ERROR {task} does not seem to be a CASA task")
    return None


def _lookup_name(name: str, ns: dict, state: ShellState, quiet: bool = False):
    obj = ns.get(name)
    if isinstance(obj, ShellTask):
        return obj
    if name in state.tasks:
        return state.tasks[name]
    from .tasks import TASK_MODULES
    if name in TASK_MODULES:
        st = ShellTask(name, state)
        try:
            st._load()
            return st
        except Exception as exc:  # noqa: BLE001
            if not quiet:
                print(f"ERROR task {name} cannot be loaded: {exc}")
    return None


def _set_last(ns: dict, st) -> None:
    """Remember the active task (for inp/go/... without argument)."""
    _state_of(ns).last_task = st
    ns["taskname"] = st.__name__


def _spec_or_error(st):
    try:
        return st.spec
    except Exception as exc:  # noqa: BLE001
        print(f"ERROR task {st.__name__} cannot be loaded: {exc}")
        return None


def _globals_for(spec, ns: dict) -> dict:
    """The parameters of ``spec`` set as globals in ``ns`` (None, task objects
    and modules count as not set)."""
    return {p.name: ns[p.name] for p in spec.params if _is_value(ns.get(p.name))}


def _is_value(v) -> bool:
    return v is not None and not isinstance(v, (ShellTask, ShellState, types.ModuleType))


def _use_color(state: ShellState) -> bool:
    if str(state.colors).lower() == "nocolor":
        return False
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _inp(st, ns):
    spec = _spec_or_error(st)
    if spec is None:
        return None
    state = _state_of(ns)
    _set_last(ns, st)
    from .inp import format_inp
    print(format_inp(spec, _globals_for(spec, ns), color=_use_color(state)))
    return None


def inp(task=None):
    """Show the parameters of ``task`` (default: the last task used) with the
    values of the global variables: ``inp(split)``, ``inp split``, ``inp('split')``."""
    ns = _caller_ns()
    st = _resolve(task, ns)
    if st is None:
        return None
    return _inp(st, ns)


def go(task=None):
    """Run ``task`` (default: the last task) with the global variables as
    parameters; returns the task's result (False if it failed)."""
    ns = _caller_ns()
    st = _resolve(task, ns)
    if st is None:
        return None
    _set_last(ns, st)
    return st._run((), {}, ns)


def _default(st, ns):
    spec = _spec_or_error(st)
    if spec is None:
        return None
    _set_last(ns, st)
    for p in spec.params:
        ns.pop(p.name, None)
    return None


def default(task=None):
    """Reset the parameters of ``task`` (default: the last task): every global
    variable named like one of its parameters is deleted, so the defaults apply."""
    ns = _caller_ns()
    st = _resolve(task, ns)
    if st is None:
        return None
    return _default(st, ns)


def _tget(st, savefile, ns):
    spec = _spec_or_error(st)
    if spec is None:
        return None
    name = spec.name
    if not savefile:
        candidates = [f"{name}.last", f"{name}.saved"]
        found = [c for c in candidates if os.path.isfile(c)]
        if not found:
            print(f"could not find last file: {name}.last or {name}.saved")
            print("setting defaults instead...")
            return _default(st, ns)
        savefile = found[0]
    savefile = os.fspath(savefile)
    if not os.path.isfile(savefile):
        print(f"ERROR tget: file {savefile} does not exist; parameters unchanged")
        return None
    scope: dict = {}
    try:
        with open(savefile, "rb") as f:
            code = compile(f.read(), savefile, "exec", dont_inherit=True)
        exec(code, scope)
    except Exception as exc:  # noqa: BLE001
        print(f"ERROR tget: cannot read {savefile}: {type(exc).__name__}: {exc}")
        return None
    _set_last(ns, st)
    for p in spec.params:
        if p.name in scope:
            ns[p.name] = scope[p.name]
    return None


def tget(task=None, savefile=None):
    """Set the global variables of ``task`` from a file written by ``tput``,
    ``saveinputs`` or a task run: ``savefile``, or ``TASK.last`` if it exists,
    else ``TASK.saved``.  Only the task's parameter names are taken."""
    ns = _caller_ns()
    st = _resolve(task, ns)
    if st is None:
        return None
    return _tget(st, savefile, ns)


def _tput(st, outfile, ns, myparams=None):
    spec = _spec_or_error(st)
    if spec is None:
        return None
    _set_last(ns, st)
    given = _globals_for(spec, ns)
    if myparams:
        given.update({k: v for k, v in myparams.items() if k in spec.by_name})
    values = spec.defaults(given)
    path = os.fspath(outfile) if outfile else os.path.join(os.getcwd(), f"{spec.name}.last")
    try:
        with open(path, "w") as f:
            f.write(spec.last_text(values))
    except OSError as exc:
        print(f"ERROR cannot write {path}: {exc.strerror or exc}")
    return None


def tput(task=None, outfile=None):
    """Write the current global values of ``task``'s parameters (defaults for
    unset ones) to ``outfile`` or ``TASK.last`` in the current directory, as a
    Python file that ``tget`` and ``execfile`` read back."""
    ns = _caller_ns()
    st = _resolve(task, ns)
    if st is None:
        return None
    return _tput(st, outfile, ns)


def saveinputs(taskname=None, outfile=None, myparams=None, ipython_globals=None,
               scriptstr=None):
    """Same as ``tput``; CASA 5's extra arguments are accepted: ``myparams``
    (a dict of values written instead of the globals of those names) and
    ``ipython_globals`` (the namespace to read); ``scriptstr`` is ignored."""
    ns = ipython_globals if isinstance(ipython_globals, dict) else _caller_ns()
    st = _resolve(taskname, ns)
    if st is None:
        return None
    return _tput(st, outfile, ns, myparams)


# ---------------------------------------------------------------------------
# execfile

_MISSING = object()


def execfile(filename, globals=None, locals=None):  # noqa: A002 - CASA's signature
    """Run a Python script, CASA 5 style.

    Without ``globals`` the script runs in the namespace of its caller when
    that is a casashell namespace (at the prompt: the shell's namespace;
    inside a script run by ``execfile``: that script's namespace), otherwise
    in the shell's namespace.  Its variables, functions and imports stay
    there afterwards.  ``execfile('other.py', globals())`` inside a script
    shares that script's variables both ways.  During the run ``__file__``
    and ``sys.argv[0]`` are the script's name; both are restored afterwards
    (``__name__`` is left alone).  Errors propagate with a traceback naming
    the script's file and line.  A script in Python 2 syntax (print
    statements...) is translated first (see ``casashell.taskpy2``), with a
    warning in the log.
    """
    __tracebackhide__ = True   # noqa: F841 - IPython shows the script's frames, not ours
    if globals is None:
        globals = _caller_ns()
    elif not isinstance(globals, dict):
        raise TypeError(f"execfile() globals must be a dict, not {type(globals).__name__}")
    if MARKER not in globals and _STATE is not None:
        globals[MARKER] = _STATE
    path = os.fspath(filename)
    with open(path, "rb") as f:
        source = f.read()
    try:
        code = compile(source, os.path.abspath(path), "exec", dont_inherit=True)
    except SyntaxError:
        # perhaps a CASA 5 (Python 2) script: translate its Python 2 syntax
        from .taskpy2 import BUILTINS, compile_script
        code, kinds = compile_script(source, os.path.abspath(path))
        from .logsink import casalog
        casalog.post(f"execfile: {path} is written in Python 2; it was run with these "
                     f"constructs translated: {', '.join(kinds)}", "WARN")
        for name, value in BUILTINS.items():
            if name not in globals:
                globals[name] = value
    old_file = globals.get("__file__", _MISSING)
    old_argv = list(sys.argv)
    globals["__file__"] = path
    if sys.argv:
        sys.argv[0] = path
    else:
        sys.argv.append(path)
    globals.setdefault("__builtins__", __builtins__)
    try:
        exec(code, globals, globals if locals is None else locals)
    finally:
        if old_file is _MISSING:
            globals.pop("__file__", None)
        else:
            globals["__file__"] = old_file
        sys.argv[:] = old_argv


# ---------------------------------------------------------------------------
# the namespace

def shell_task_names() -> list[str]:
    """Names of the tasks installed (their module exists)."""
    from .tasks import available_tasks
    return available_tasks()


def add_task(user_ns: dict, modular) -> ShellTask:
    """Offer a modular task (a function made by ``@task``) in a populated shell
    namespace as a shell task; returns the shell task."""
    state = _state_of(user_ns)
    st = ShellTask(modular.spec.name, state, modular=modular)
    state.tasks[st.__name__] = st
    user_ns[st.__name__] = st
    return st


def populate_namespace(user_ns: dict, colors: str = "Neutral") -> ShellState:
    """Put the shell tasks and the task commands into ``user_ns``.

    Cheap: no task module (and nothing heavy) is imported here.
    """
    global _STATE
    from .logsink import casalog
    from . import tasks as _tasks

    # At the prompt these only print, as CASA's do: a returned dict would be
    # printed a second time as Out[N].  (casashell.tasks.tasklist returns it.)
    def tasklist():
        """Print the available tasks by category."""
        _tasks.tasklist()

    def taskhelp():
        """Print each available task with its one-line summary."""
        _tasks.taskhelp()

    state = ShellState(user_ns, colors)
    _STATE = state
    user_ns[MARKER] = state
    for name in shell_task_names():
        st = ShellTask(name, state)
        state.tasks[name] = st
        user_ns[name] = st
    user_ns.update(inp=inp, go=go, default=default, tget=tget, tput=tput,
                   saveinputs=saveinputs, execfile=execfile, tasklist=tasklist,
                   taskhelp=taskhelp, casalog=casalog)
    # Python 2 had execfile as a builtin, and CASA 5 scripts (and modules they
    # import) use it everywhere: offer it as one too.
    import builtins
    if not hasattr(builtins, "execfile"):
        builtins.execfile = execfile
    return state
