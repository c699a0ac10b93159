"""The casashell configuration: typed variables, config files, command line.

Every variable has a built-in default (documented in ``config/config.py`` of
the source tree and in ``docs/shell.md``).  Then, in this order:

1. the site configuration file (skipped with ``nositeconfig``), the first
   of: ``$CASASITECONFIG`` when that variable is set (it must be an absolute
   path to an existing file, otherwise a SEVERE message and no site file);
   ``/opt/casa/casasiteconfig.py``; ``/home/casa/casasiteconfig.py``; a
   module ``casasiteconfig`` found on ``sys.path``;
2. the user configuration file (``~/.casa/config.py`` or
   ``casa --configfile FILE``; skipped with ``noconfig``);
3. the command-line flags.

Each file is plain Python, executed in a fresh namespace pre-filled with the
current value of every variable (so the user file sees, and can extend, the
site values); the names it leaves behind that are configuration variables
are copied back, after type checking.

* an unknown name left in the file's namespace -> a WARN log line naming it
  (imported modules, functions, classes and names starting with ``_`` are
  the file's own helpers and are ignored);
* a value of the wrong type -> a WARN line, the variable keeps its default;
* a file that raises -> a SEVERE line with the traceback; the whole file is
  discarded and startup goes on with the defaults.

Messages are not posted while loading (the log file is not known yet): they
are queued in ``cfg.messages`` and posted by ``cfg.post_messages()``.

``current()`` returns the configuration of this process: the one the ``casa``
launcher installed with ``set_current()``, or, when casashell is used as a
library (``import casashell``, ``python -m casashell``), the user's config
file evaluated once on first use.  It never raises.
"""

from __future__ import annotations

import os
import sys
import time

from traitlets import (Bool, CaselessStrEnum, Enum, HasTraits, Int, List, TraitError,
                       Unicode, validate)

#: Names of the IPython colour schemes, as CASA spells them.
COLOR_SCHEMES = ("Neutral", "NoColor", "Linux", "LightBG")

#: Path variables that cannot be empty (an empty value is refused with a WARN).
NONEMPTY_PATHS = ("logfile", "iplogfile", "cachedir")

#: Variables holding a path: ``~`` is expanded and they are made absolute.
PATH_VARIABLES = ("cachedir", "logfile", "iplogfile", "startupfile",
                  "telemetry_log_directory", "crashreporter_directory", "measurespath")


def default_configfile() -> str:
    return os.path.join(os.path.expanduser("~"), ".casa", "config.py")


#: the site configuration files looked for when $CASASITECONFIG is not set
SITE_CONFIG_PATHS = ("/opt/casa/casasiteconfig.py", "/home/casa/casasiteconfig.py")
#: the module looked for on sys.path when none of those exists
SITE_CONFIG_MODULE = "casasiteconfig"


def find_site_config(environ=None) -> tuple[str | None, str | None]:
    """(path of the site configuration file or None, error message or None).

    ``$CASASITECONFIG``, when set, decides alone: an absolute path to an
    existing file is used, anything else is an error and no site file is
    used.  Otherwise the first existing file of ``SITE_CONFIG_PATHS``, else
    the source file of a module ``casasiteconfig`` on ``sys.path`` (found
    without importing it).
    """
    environ = os.environ if environ is None else environ
    if "CASASITECONFIG" in environ:
        value = environ["CASASITECONFIG"]
        if os.path.isabs(value) and os.path.isfile(value):
            return value, None
        why = ("is not an absolute path" if not os.path.isabs(value)
               else "is not an existing file")
        return None, (f"CASASITECONFIG={value!r} {why}: no site configuration file "
                      "is used")
    for path in SITE_CONFIG_PATHS:
        if os.path.isfile(path):
            return path, None
    try:
        import importlib.util
        spec = importlib.util.find_spec(SITE_CONFIG_MODULE)
    except (ImportError, ValueError):
        spec = None
    origin = getattr(spec, "origin", None)
    if spec is not None and spec.has_location and origin and origin.endswith(".py") \
            and os.path.isfile(origin):
        return os.path.abspath(origin), None
    return None, None


def not_a_file(path: str) -> str:
    """Why ``path`` is not a readable file, for a message."""
    if os.path.isdir(path):
        return "is a directory, not a file"
    if os.path.lexists(path) and not os.path.exists(path):
        return "is a broken symbolic link"
    if os.path.exists(path):
        return "is not a regular file"
    return "does not exist"


def _utc_name(pattern: str, when: float | None = None) -> str:
    return time.strftime(pattern, time.gmtime(time.time() if when is None else when))


class CasaConfig(HasTraits):
    """The effective configuration (attributes named as in config.py)."""

    # -- log -------------------------------------------------------------
    logfile = Unicode(help="Log file. Default: casa-YYYYMMDD-HHMMSS.log (UTC start "
                      "time) in the current directory.")
    nologfile = Bool(False, help="Write no log file (logfile becomes /dev/null).")
    log2term = Bool(False, help="Also print every log line to the terminal (stderr).")
    nologger = Bool(False, help="Do not start the casalogger window.")
    # -- GUI / plotting -----------------------------------------------------
    nogui = Bool(False, help="No graphical windows: implies nologger and agg.")
    agg = Bool(False, help="Use matplotlib's non-interactive 'agg' backend.")
    # -- IPython -----------------------------------------------------------
    colors = CaselessStrEnum(COLOR_SCHEMES, default_value="Neutral",
                             help="IPython colour scheme: Neutral, NoColor, Linux or "
                             "LightBG (any case).")
    iplog = Bool(False, help="Log the typed input to iplogfile (IPython logging).")
    iplogfile = Unicode(help="IPython input log. Default: ipython-YYYYMMDD-HHMMSS.log "
                        "(UTC start time) in the current directory.")
    cachedir = Unicode("~/.casa", help="Working files; the command history is "
                       "cachedir/ipython/history.sqlite.")
    # -- files ---------------------------------------------------------------
    datapath = List(Unicode(), help="Directories searched for data files.")
    startupfile = Unicode("~/.casa/startup.py",
                          help="Python file run in the shell namespace at startup "
                          "(if it exists).")
    user_site = Bool(False, help="Keep the user site-packages (~/.local/...) on sys.path.")
    # -- telemetry and crash reports ---------------------------------------
    telemetry_enabled = Bool(False, help="Record usage statistics locally in "
                             "telemetry_log_directory (never sent anywhere).")
    telemetry_log_directory = Unicode("", help="Where telemetry files are written. "
                                      "Default: cachedir/telemetry.")
    telemetry_log_limit = Int(20480, help="Maximum total size of the telemetry "
                              "files, in KiB.")
    telemetry_log_size_interval = Int(60, help="Seconds between checks of the "
                                      "telemetry files' size.")
    telemetry_submit_interval = Int(604800, help="Seconds between telemetry "
                                    "submissions (one week).")
    telemetry_submit_url = Unicode(None, allow_none=True,
                                   help="Where telemetry bundles are sent (HTTP POST). "
                                   "Default None: nothing ever leaves the machine.")
    crashreporter_enabled = Bool(True, help="Write a crash report when the "
                                 "shell dies of a fatal error.")
    crashreporter_directory = Unicode("", help="Where crash reports are written. "
                                      "Default: cachedir/crashreports.")
    crashreporter_native_stack = Bool(True, help="Include the native (C/C++) stack "
                                      "of every thread, taken with gdb when installed.")
    # -- parallel processing of Multi-MSs (casashell.parallel) ------------------
    dask_scheduler = Unicode(None, allow_none=True,
                             help="Address of a dask scheduler (e.g. 'tcp://host:8786') "
                             "that runs Multi-MS tasks. None: a local cluster of "
                             "'cores' worker processes, started on first use.")
    cores = Int(0, min=0, help="Worker processes of the local dask cluster (0: one per CPU).")
    # -- accepted for compatibility with CASA config files; no effect ---------
    measurespath = Unicode("~/.casa/data", help="CASA's measures data location "
                           "(accepted; casashell downloads no data).")
    measures_auto_update = Bool(True, help="(accepted, no effect)")
    data_auto_update = Bool(True, help="(accepted, no effect)")
    measures_update_interval = Int(1, help="(accepted, no effect)")
    data_update_interval = Int(1, help="(accepted, no effect)")
    measures_site = List(Unicode(), help="(accepted, no effect)")
    measures_site_interval = Int(2, help="(accepted, no effect)")
    casaconfig_verbose = Int(1, help="(accepted, no effect)")
    skipnetworkcheck = Bool(False, help="(accepted, no effect)")
    pipeline = Bool(False, help="(accepted, no effect: there is no pipeline)")

    @validate("colors")
    def _canonical_color_name(self, proposal):
        value = proposal["value"]
        for name in COLOR_SCHEMES:
            if name.lower() == value.lower():
                return name
        return value

    def __init__(self, when: float | None = None, **kw):
        super().__init__(**kw)
        if not self.logfile:
            self.logfile = _utc_name("casa-%Y%m%d-%H%M%S.log", when)
        if not self.iplogfile:
            self.iplogfile = _utc_name("ipython-%Y%m%d-%H%M%S.log", when)
        #: the user config file that was looked at (None with noconfig)
        self.configfile: str | None = None
        #: 'loaded', 'missing', 'failed' or 'disabled'
        self.config_status = "disabled"
        #: the site config file used (None: none)
        self.siteconfig: str | None = None
        #: 'loaded', 'failed', 'missing' (none found), 'invalid' (bad
        #: $CASASITECONFIG) or 'disabled' (nositeconfig)
        self.siteconfig_status = "disabled"
        #: (priority, message) pairs to post once the log is set up
        self.messages: list[tuple[str, str]] = []
        #: names set by the config file / by the command line
        self.from_file: set[str] = set()
        self.from_command_line: set[str] = set()

    # -- helpers -------------------------------------------------------------
    @classmethod
    def variable_names(cls) -> list[str]:
        return sorted(cls.class_trait_names())

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.variable_names()}

    def changed_items(self) -> list[tuple[str, object]]:
        """(name, value) of the variables that differ from the built-in defaults."""
        ref = CasaConfig()
        skip = {"logfile", "iplogfile"}   # time-stamped defaults
        out = []
        for name in self.variable_names():
            value = getattr(self, name)
            if name in _CACHEDIR_DEFAULTS:
                default = _abspath(os.path.join(self.cachedir, _CACHEDIR_DEFAULTS[name]))
            elif name in PATH_VARIABLES and name not in skip:
                default = _abspath(getattr(ref, name))
            else:
                default = getattr(ref, name)
            if name in skip:
                if name in self.from_file or name in self.from_command_line:
                    out.append((name, value))
                continue
            if value != default:
                out.append((name, value))
        return out

    def post_messages(self, log=None) -> None:
        """Post the queued messages to ``log`` (default casalog), once."""
        if log is None:
            from .logsink import casalog as log
        messages, self.messages = self.messages, []
        for priority, text in messages:
            log.post(text, priority)


#: variables whose default is a directory under cachedir
_CACHEDIR_DEFAULTS = {"telemetry_log_directory": "telemetry",
                      "crashreporter_directory": "crashreports"}


def _abspath(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path)) if path else path


def _describe_type(trait) -> str:
    if isinstance(trait, Bool):
        return "True or False"
    if isinstance(trait, Int):
        low = getattr(trait, "min", None)
        return "an integer" if low is None else f"an integer >= {low}"
    if isinstance(trait, Enum):
        return "one of " + ", ".join(repr(v) for v in trait.values)
    if isinstance(trait, List):
        return "a list of strings"
    return "a string"


def _set(cfg: CasaConfig, name: str, value, source: str) -> bool:
    """Set one variable, queueing a WARN (and returning False) if the value
    does not fit its type."""
    trait = cfg.traits()[name]
    if isinstance(trait, List) and isinstance(value, str):
        value = [v for v in value.split(":") if v]
    if isinstance(trait, List) and isinstance(value, tuple):
        value = list(value)
    if isinstance(trait, Int) and isinstance(value, bool):
        value = "bad"  # True is an int to Python, not to us
    if name in NONEMPTY_PATHS and isinstance(value, str) and not value.strip():
        cfg.messages.append(("WARN", f"{source}: {name} = {value!r} is not valid "
                             f"(expected a path); using {getattr(cfg, name)!r}"))
        return False
    try:
        setattr(cfg, name, value)
    except TraitError:
        cfg.messages.append(("WARN", f"{source}: {name} = {value!r} is not valid "
                             f"(expected {_describe_type(trait)}); using "
                             f"{getattr(cfg, name)!r}"))
        return False
    return True


def _finish_paths(cfg: CasaConfig) -> None:
    if not cfg.telemetry_log_directory:
        cfg.telemetry_log_directory = os.path.join(cfg.cachedir or "~/.casa", "telemetry")
    if not cfg.crashreporter_directory:
        cfg.crashreporter_directory = os.path.join(cfg.cachedir or "~/.casa", "crashreports")
    for name in PATH_VARIABLES:
        value = getattr(cfg, name)
        if value and value != os.devnull:
            setattr(cfg, name, _abspath(value))
    kept = []
    for entry in cfg.datapath:
        path = _abspath(entry)
        if os.path.isdir(path):
            kept.append(path)
        else:
            cfg.messages.append(("WARN", f"datapath entry {entry} is not a directory; "
                                 "it is left out"))
    cfg.datapath = kept


def _is_helper(value) -> bool:
    import types
    return isinstance(value, (types.ModuleType, types.FunctionType, type,
                              types.BuiltinFunctionType))


def _exec_file(cfg: CasaConfig, path: str, what: str = "configuration file",
               fallback: str = "the defaults are used") -> bool:
    """Execute a config file in a namespace holding the current values;
    copy its known variables into ``cfg``.  Returns False if the file
    raised (then ``cfg`` is unchanged and a SEVERE message is queued)."""
    names = cfg.variable_names()
    namespace = {name: _copy(getattr(cfg, name)) for name in names}
    namespace["__builtins__"] = __builtins__
    namespace["__file__"] = path
    namespace["__name__"] = "casaconfig"
    try:
        with open(path, "rb") as fh:
            source = fh.read()
        code = compile(source, path, "exec")
        exec(code, namespace)
    except BaseException as exc:  # noqa: BLE001 - also SystemExit, a config file must not stop us
        if isinstance(exc, KeyboardInterrupt):
            raise
        import traceback
        tb = exc.__traceback__
        # drop this function's own frame: show the user's file only
        if tb is not None and tb.tb_frame.f_code is _exec_file.__code__:
            tb = tb.tb_next
        text = "".join(traceback.format_exception(type(exc), exc, tb)).rstrip("\n")
        cfg.messages.append(("SEVERE", f"{what} {path} failed; it is "
                             f"ignored and {fallback}:\n{text}"))
        return False
    known = set(names)
    updates = {}
    for key, value in namespace.items():
        if key in known:
            if value is not getattr(cfg, key) and value != getattr(cfg, key):
                updates[key] = value
        elif not key.startswith("_") and not _is_helper(value):
            cfg.messages.append(("WARN", f"{what} {path}: unknown "
                                 f"variable {key!r} is ignored"))
    for key, value in updates.items():
        if _set(cfg, key, value, f"{what} {path}"):
            cfg.from_file.add(key)
    return True


def _copy(value):
    return list(value) if isinstance(value, list) else value


def load(configfile: str | None = None, noconfig: bool = False,
         overrides: dict | None = None, when: float | None = None,
         nositeconfig: bool = False, environ=None) -> CasaConfig:
    """Build the effective configuration.

    The site configuration file (see ``find_site_config``; skipped with
    ``nositeconfig``), then the user config file ``configfile`` (default
    ``~/.casa/config.py``; skipped with ``noconfig``), then ``overrides``
    (the command-line values).  A file that raises is ignored as a whole
    (the values stay what they were before it).  ``environ`` (default
    ``os.environ``) is where ``CASASITECONFIG`` is read.
    Never raises; problems are queued in ``cfg.messages``.
    """
    cfg = CasaConfig(when=when)
    if nositeconfig:
        cfg.siteconfig_status = "disabled"
    else:
        site, error = find_site_config(environ)
        if error:
            cfg.siteconfig_status = "invalid"
            cfg.messages.append(("SEVERE", error))
        elif site is None:
            cfg.siteconfig_status = "missing"
        else:
            cfg.siteconfig = site
            ok = _exec_file(cfg, site, "site configuration file")
            cfg.siteconfig_status = "loaded" if ok else "failed"
    if noconfig:
        cfg.config_status = "disabled"
        cfg.configfile = None
    else:
        path = _abspath(configfile) if configfile else default_configfile()
        cfg.configfile = path
        if os.path.isfile(path):
            ok = _exec_file(cfg, path, fallback=(
                "the site configuration values are used"
                if cfg.siteconfig_status == "loaded" else "the defaults are used"))
            cfg.config_status = "loaded" if ok else "failed"
        elif configfile:
            cfg.config_status = "missing"
            cfg.messages.append(("WARN", f"configuration file {path} {not_a_file(path)}; "
                                 "using " + ("the site configuration values"
                                             if cfg.siteconfig_status == "loaded"
                                             else "the defaults")))
        else:
            cfg.config_status = "missing"
    for key, value in (overrides or {}).items():
        if _set(cfg, key, value, "command line"):
            cfg.from_command_line.add(key)
    apply_implications(cfg)
    _finish_paths(cfg)
    return cfg


def apply_implications(cfg: CasaConfig) -> None:
    """Variables that switch others on (as CASA does)."""
    if cfg.nogui:
        cfg.nologger = True
        cfg.agg = True
    if cfg.nologfile:
        cfg.logfile = os.devnull


_current: CasaConfig | None = None


def set_current(cfg: CasaConfig) -> None:
    global _current
    _current = cfg


def current() -> CasaConfig:
    """The configuration of this process (evaluated once; never raises)."""
    global _current
    if _current is None:
        try:
            cfg = load()
        except Exception as exc:  # pragma: no cover - load() itself never raises
            cfg = CasaConfig()
            cfg.messages.append(("SEVERE", f"configuration could not be read: {exc}"))
        _current = cfg
        try:
            cfg.post_messages()
        except Exception:  # pragma: no cover
            pass
    return _current


__all__ = ["CasaConfig", "COLOR_SCHEMES", "load", "current", "set_current",
           "default_configfile", "apply_implications", "find_site_config",
           "SITE_CONFIG_PATHS"]

if __name__ == "__main__":  # pragma: no cover
    for k, v in current().as_dict().items():
        sys.stdout.write(f"{k} = {v!r}\n")
