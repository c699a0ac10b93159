"""The ``casa`` launcher: command line, startup, ``-c`` runs.

``main(argv)`` parses the options, builds the configuration (built-in
defaults < config file < command line), sets up the log, runs the startup
file and then either runs the ``-c`` code or starts the interactive IPython
shell (``casashell.shell``).

``-c`` code runs without IPython (which keeps ``casa -c ...`` fast); the
namespace is the same as the shell's: the tasks, the task commands and
``casalog``.  Exit statuses of ``casa -c``:

* 0 when the code finishes, or calls ``sys.exit()`` / ``sys.exit(0)`` /
  ``exit()``;
* N for ``sys.exit(N)``;
* 1 after an uncaught exception (traceback on stderr, SEVERE lines in the
  log) or ``sys.exit('message')`` (message on stderr);
* 130 after Ctrl-C (SIGINT);
* 2 for a command-line error, 1 for an obsolete fatal option.

Only the standard library, traitlets and the cheap parts of casashell are
imported here; numpy, casacore, IPython and Qt are not.
"""

from __future__ import annotations

import os
import sys

#: options that take a value (the next argument, unless given as --opt=value)
_VALUE_OPTIONS = {"--logfile", "--colors", "--cachedir", "--configfile",
                  "--startupfile", "--datapath", "--dask-scheduler", "--cores"}

#: options CASA had and we only warn about
_UNAVAILABLE = {
    "--trace": "--trace is not available; it is ignored",
    "--pipeline": "--pipeline is not available (casashell has no pipeline); it is ignored",
    "--maclogger": "--maclogger is not available; the default logger is used",
}

#: obsolete options that stop the launcher, with their replacement
_FATAL = {
    "--rcdir": "--rcdir is no longer supported: use --cachedir DIR for the working "
               "files and --configfile FILE for the configuration",
    "--norc": "--norc is no longer supported: use --noconfig to skip the "
              "configuration file (and --nostartupfile to skip startup.py)",
}


class _UsageError(Exception):
    pass


def build_parser():
    import argparse

    from . import CASA_COMPAT_VERSION, __version__
    from .config import COLOR_SCHEMES

    p = argparse.ArgumentParser(
        prog="casa",
        usage="casa [options] [-c CODE_OR_FILE [ARGS ...]]",
        description=(f"casashell {__version__}: the CASA {CASA_COMPAT_VERSION} "
                     "interactive shell and its MeasurementSet tasks. Without -c, "
                     "start the interactive shell."),
        epilog=("Command-line options override the configuration files (the site "
                "file, then ~/.casa/config.py). Unknown options are ignored with a "
                "warning. See docs/shell.md for the configuration variables."),
    )
    g = p.add_argument_group("log")
    g.add_argument("--logfile", metavar="PATH",
                   help="log file (default: casa-YYYYMMDD-HHMMSS.log, UTC, in the "
                        "current directory); an existing file is appended to")
    g.add_argument("--log2term", action="store_true",
                   help="also print every log line to the terminal (stderr)")
    g.add_argument("--nologfile", action="store_true",
                   help="write no log file (wins over --logfile)")
    g.add_argument("--nologger", action="store_true",
                   help="do not start the casalogger window")
    g = p.add_argument_group("display")
    g.add_argument("--nogui", action="store_true",
                   help="no graphical windows: implies --nologger and --agg")
    g.add_argument("--agg", action="store_true",
                   help="use matplotlib's non-interactive agg backend")
    g.add_argument("--colors", choices=COLOR_SCHEMES,
                   help="IPython colour scheme (default Neutral)")
    g.add_argument("--iplog", action="store_true",
                   help="log typed input to the iplogfile of the configuration "
                        "(default ipython-YYYYMMDD-HHMMSS.log)")
    g = p.add_argument_group("files")
    g.add_argument("--cachedir", metavar="DIR",
                   help="working files, e.g. the command history "
                        "DIR/ipython/history.sqlite (default ~/.casa)")
    g.add_argument("--configfile", metavar="FILE",
                   help="user configuration file (default ~/.casa/config.py)")
    g.add_argument("--noconfig", action="store_true",
                   help="do not read the user configuration file")
    g.add_argument("--nositeconfig", action="store_true",
                   help="do not read the site configuration file ($CASASITECONFIG, "
                        "/opt/casa/casasiteconfig.py, /home/casa/casasiteconfig.py or "
                        "a casasiteconfig module on sys.path)")
    g.add_argument("--startupfile", metavar="FILE",
                   help="Python file run in the shell namespace at startup "
                        "(default ~/.casa/startup.py)")
    g.add_argument("--nostartupfile", action="store_true",
                   help="run no startup file")
    g.add_argument("--datapath", metavar="A:B",
                   help="colon-separated directories searched for data")
    g.add_argument("--user-site", action="store_true", dest="user_site",
                   help="keep the user site-packages (~/.local/lib/...) on sys.path")
    g = p.add_argument_group("parallel processing (Multi-MS)")
    g.add_argument("--dask-scheduler", metavar="ADDR", dest="dask_scheduler",
                   help="dask scheduler running Multi-MS tasks, e.g. tcp://host:8786 "
                        "(default: a local cluster started on first use)")
    g.add_argument("--cores", metavar="N", type=int,
                   help="worker processes of the local dask cluster (default: one per CPU)")
    g = p.add_argument_group("other")
    g.add_argument("--notelemetry", action="store_true",
                   help="disable telemetry (telemetry_enabled = False)")
    g.add_argument("--nocrashreport", action="store_true",
                   help="disable crash reports (crashreporter_enabled = False)")
    g.add_argument("-v", "--version", action="store_true",
                   help="print the version and exit")
    g.add_argument("-c", metavar="CODE_OR_FILE [ARGS ...]", dest="c_help",
                   help="run a script file with sys.argv = [FILE, ARGS...], or run "
                        "each argument as a Python statement, then exit. Takes ALL "
                        "the remaining arguments, so put the other options before it")
    # obsolete or unavailable CASA options (not shown)
    g.add_argument("--rcdir", nargs="?", const="", help=argparse.SUPPRESS)
    g.add_argument("--norc", nargs="?", const="", help=argparse.SUPPRESS)
    for opt in _UNAVAILABLE:
        g.add_argument(opt, action="store_true", help=argparse.SUPPRESS)
    # CASA options that have nothing to do here: accepted silently
    for opt in ("--no-auto-update", "--reference-testing"):
        g.add_argument(opt, action="store_true", help=argparse.SUPPRESS)
    return p


def split_c(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """Split ``argv`` at ``-c``: everything after it belongs to ``-c``."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            return argv[:i], None
        if a in _VALUE_OPTIONS:
            i += 2
            continue
        if a == "-c":
            return argv[:i], argv[i + 1:]
        if a.startswith("-c") and not a.startswith("--"):
            return argv[:i], [a[2:]] + argv[i + 1:]
        i += 1
    return argv, None


def _suggest(option: str, parser) -> str:
    import difflib
    known = [s for a in parser._actions for s in a.option_strings
             if s.startswith("--") and a.help != "==SUPPRESS=="]
    close = difflib.get_close_matches(option.split("=")[0], known, n=1, cutoff=0.8)
    return f" (did you mean {close[0]}?)" if close else ""


def _overrides(ns) -> dict:
    """The configuration variables the command line sets."""
    out = {}
    if ns.logfile is not None:
        out["logfile"] = ns.logfile
    for flag in ("log2term", "nologfile", "nologger", "nogui", "agg", "iplog", "user_site"):
        if getattr(ns, flag):
            out[flag] = True
    if ns.colors:
        out["colors"] = ns.colors
    if ns.cachedir is not None:
        out["cachedir"] = ns.cachedir
    if ns.startupfile is not None:
        out["startupfile"] = ns.startupfile
    if ns.datapath is not None:
        out["datapath"] = [p for p in ns.datapath.split(":") if p]
    if ns.dask_scheduler is not None:
        out["dask_scheduler"] = ns.dask_scheduler or None
    if ns.cores is not None:
        out["cores"] = ns.cores
    if ns.notelemetry:
        out["telemetry_enabled"] = False
    if ns.nocrashreport:
        out["crashreporter_enabled"] = False
    return out


def _apply_user_site(cfg, messages) -> None:
    """Without user_site, the user's ~/.local site-packages is taken off
    sys.path (and PYTHONNOUSERSITE is set for child processes), so that a
    stray package there cannot shadow the ones casashell was installed with.
    With user_site, it is put on sys.path even if PYTHONNOUSERSITE was set."""
    import site
    try:
        user_site = site.getusersitepackages()
    except Exception:  # pragma: no cover
        return
    here = os.path.dirname(os.path.abspath(__file__))
    if cfg.user_site:
        if os.path.isdir(user_site) and user_site not in sys.path:
            site.addsitedir(user_site)
        os.environ.pop("PYTHONNOUSERSITE", None)
        return
    if here.startswith(user_site + os.sep):
        # casashell itself is installed there (pip install --user): keep it
        messages.append(("INFO", "casashell is installed in the user site-packages; "
                         "it stays on sys.path"))
        return
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != user_site]
    os.environ["PYTHONNOUSERSITE"] = "1"


def _log_startup(cfg, argv, code) -> None:
    import platform

    from . import CASA_COMPAT_VERSION, __version__
    from .logsink import casalog

    casalog.post(f"casashell {__version__} (compatible with CASA {CASA_COMPAT_VERSION}), "
                 f"Python {platform.python_version()}, process {os.getpid()}")
    casalog.post("command line: " + " ".join(["casa"] + [_quote(a) for a in argv]))
    from .config import SITE_CONFIG_PATHS
    casalog.post({
        "loaded": "site configuration file {}",
        "failed": "site configuration file {} failed; it is not used",
        "missing": "no site configuration file (looked for $CASASITECONFIG, "
                   + ", ".join(SITE_CONFIG_PATHS) + " and a casasiteconfig module on "
                   "sys.path)",
        "invalid": "no site configuration file ($CASASITECONFIG is not usable)",
        "disabled": "no site configuration file (--nositeconfig)",
    }[cfg.siteconfig_status].format(cfg.siteconfig))
    before = ("the site configuration values" if cfg.siteconfig_status == "loaded"
              else "the defaults")
    status = {
        "loaded": "configuration file {}",
        "missing": "configuration file {} not found; using " + before,
        "failed": "configuration file {} failed; using " + before,
        "disabled": "no configuration file (--noconfig)",
    }[cfg.config_status].format(cfg.configfile)
    casalog.post(status)
    changed = cfg.changed_items()
    if changed:
        casalog.post("configuration values different from the defaults:\n" + "\n".join(
            f"    {name} = {value!r}" for name, value in changed))


def _quote(arg: str) -> str:
    import shlex
    return shlex.quote(arg)


def _startup_file(cfg, ns) -> str | None:
    """The startup file to run (None: no file)."""
    if ns.nostartupfile:
        return None
    path = cfg.startupfile
    if path and os.path.isfile(path):
        return path
    if path and ("startupfile" in cfg.from_command_line or "startupfile" in cfg.from_file):
        from .logsink import casalog
        from .config import not_a_file
        casalog.post(f"startup file {path} {not_a_file(path)}; nothing is run at startup",
                     "WARN")
    return None


def _short_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` without the launcher's own frames."""
    import runpy
    import traceback
    ours = {os.path.abspath(__file__), os.path.abspath(runpy.__file__)}
    tb = exc.__traceback__
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) in ours:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def report_exception(exc: BaseException, what: str) -> None:
    """Print the traceback on stderr and log it (file only) as SEVERE."""
    from .logsink import casalog
    text = _short_traceback(exc)
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    casalog._post_file_only(f"{what} raised {type(exc).__name__}: {exc}\n"
                            + text.rstrip("\n"), "SEVERE")


def exit_status(exc: SystemExit) -> int:
    """The process exit status Python gives for this SystemExit."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, bool):
        return int(code)
    if isinstance(code, int):
        return code & 0xFF if code >= 0 else code % 256
    try:
        sys.stderr.write(f"{code}\n")
    except (OSError, ValueError):
        pass
    return 1


def run_startup_file(path: str, user_ns: dict) -> int | None:
    """Run the startup file in the shell namespace.

    Returns None to go on, or an exit status if it called sys.exit().
    An exception is reported (stderr + SEVERE) and startup goes on.
    """
    from .logsink import casalog
    old_file = user_ns.get("__file__", _MISSING)
    user_ns["__file__"] = path
    try:
        with open(path, "rb") as fh:
            code = compile(fh.read(), path, "exec")
        exec(code, user_ns)
        casalog.post(f"startup file {path} done")
    except SystemExit as exc:
        status = exit_status(exc)
        casalog.post(f"startup file {path} called sys.exit: exit status {status}",
                     "WARN" if status else "INFO")
        return status
    except KeyboardInterrupt:
        casalog.post(f"startup file {path} interrupted", "WARN")
    except BaseException as exc:  # noqa: BLE001
        report_exception(exc, f"startup file {path}")
        try:
            sys.stderr.write("casa: the startup file failed (see above); "
                             "the session goes on\n")
        except (OSError, ValueError):
            pass
    finally:
        if old_file is _MISSING:
            user_ns.pop("__file__", None)
        else:
            user_ns["__file__"] = old_file
    return None


_MISSING = object()


def make_namespace(cfg) -> dict:
    """The shell's user namespace: tasks, task commands, casalog."""
    import builtins

    from . import shelltasks
    from .logsink import casalog
    ns = {"__name__": "__main__", "__builtins__": builtins, "__doc__": None,
          "__package__": None, "__spec__": None}
    shelltasks.populate_namespace(ns, colors=cfg.colors)
    ns.setdefault("casalog", casalog)
    # CASA's tasks and tools that casashell lacks fail with a clear line, and
    # CASA 6 scripts' "from casatasks import split" finds casashell's tasks
    from . import casa6
    for name, placeholder in casa6.missing_names(ns).items():
        ns.setdefault(name, placeholder)
    casa6.install_modules()
    # casa -c runs without IPython; code that asks for it (get_ipython() in a
    # startup file or script, e.g. to run a magic) gets one, created on demand
    # on this namespace.  The interactive shell replaces this with its own.
    ns["get_ipython"] = _lazy_ipython(cfg, ns)
    return ns


def _lazy_ipython(cfg, ns):
    def get_ipython():
        """The IPython shell of this session (created on first use under -c)."""
        from IPython.core.interactiveshell import InteractiveShell
        if not InteractiveShell.initialized():
            from traitlets.config import Config

            from .shell import _ipython_dir
            ipdir, _hist, _warning = _ipython_dir(cfg)
            c = Config()
            c.HistoryManager.enabled = False
            c.InteractiveShell.colors = "nocolor"
            shell = InteractiveShell.instance(config=c, user_ns=ns, ipython_dir=ipdir)
            # IPython put its exit/quit objects (which only stop a prompt loop
            # there is not) into the namespace: keep Python's, which end -c
            for name in ("exit", "quit"):
                if ns.get(name) is shell.exiter:
                    del ns[name]
        return InteractiveShell.instance()
    return get_ipython


def run_c(items: list[str], ns: dict) -> int:
    """Run ``casa -c`` items; returns the exit status."""
    import runpy

    from .logsink import casalog

    first = items[0] if items else ""
    if first and os.path.isfile(first):
        path = os.path.abspath(first)
        casalog.post(f"running script {first} with arguments {items[1:]!r}", "INFO1")
        old_argv = sys.argv
        sys.argv = list(items)
        script_dir = os.path.dirname(path)
        sys.path.insert(0, script_dir)
        what = f"script {first}"
        runner = lambda: runpy.run_path(first, init_globals=ns, run_name="__main__")  # noqa: E731
    else:
        if first.endswith(".py") and not any(c.isspace() or c in "()='\"" for c in first):
            sys.stderr.write(f"casa: error: -c: script file {first} does not exist\n")
            casalog._post_file_only(f"-c: script file {first} does not exist", "SEVERE")
            return 1
        old_argv, script_dir = sys.argv, None
        if "" not in sys.path:
            sys.path.insert(0, "")
        what = "-c code"

        def runner():
            for n, stmt in enumerate(items):
                code = compile(stmt, f"<casa -c #{n + 1}>" if len(items) > 1 else "<casa -c>",
                               "exec")
                exec(code, ns)
    try:
        runner()
        return 0
    except SystemExit as exc:
        status = exit_status(exc)
        if status:
            casalog.post(f"{what} exited with status {status}", "INFO")
        return status
    except KeyboardInterrupt as exc:
        try:
            sys.stderr.write(_short_traceback(exc))
        except (OSError, ValueError):
            pass
        casalog._post_file_only(f"{what} interrupted (KeyboardInterrupt): exit status 130",
                                "WARN")
        return 130
    except BaseException as exc:  # noqa: BLE001
        report_exception(exc, what)
        return 1
    finally:
        sys.argv = old_argv
        if script_dir is not None:
            try:
                sys.path.remove(script_dir)
            except ValueError:
                pass


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``casa`` command; returns the exit status."""
    if argv is None:
        argv = sys.argv[1:]
    argv = list(argv)
    before, code = split_c(argv)
    parser = build_parser()
    try:
        ns, unknown = parser.parse_known_args(before)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exit_status(exc)

    from . import CASA_COMPAT_VERSION, __version__
    if ns.version:
        print(f"casashell {__version__} (CASA {CASA_COMPAT_VERSION} compatible)")
        return 0
    for opt, message in _FATAL.items():
        if getattr(ns, opt[2:]) is not None:
            sys.stderr.write(f"casa: error: {message}\n")
            return 1
    if code is not None and not code:
        parser.print_usage(sys.stderr)
        sys.stderr.write("casa: error: -c needs a Python statement or a script file\n")
        return 2

    from . import config as _config
    messages: list[tuple[str, str]] = []
    for opt, message in _UNAVAILABLE.items():
        if getattr(ns, opt[2:]):
            messages.append(("WARN", message))
    for item in unknown:
        if item.startswith("-"):
            messages.append(("WARN", f"unknown option {item} is ignored"
                             + _suggest(item, parser)))
        else:
            messages.append(("WARN", f"argument {item!r} is ignored (to run a script, "
                             f"use: casa -c {item})"))
    if ns.nostartupfile and ns.startupfile is not None:
        messages.append(("WARN", "--nostartupfile and --startupfile are both given: "
                         "no startup file is run"))

    cfg = _config.load(configfile=ns.configfile, noconfig=ns.noconfig,
                       nositeconfig=ns.nositeconfig, overrides=_overrides(ns))
    _config.set_current(cfg)

    # The crash reporter may fork a supervising parent here: keep it early,
    # before the log file gets its first line.
    from . import crashreport
    try:
        crashreport.install(cfg)
    except Exception as exc:  # a broken hook must not stop the shell
        messages.append(("WARN", f"crash reporter not installed: {exc}"))

    from .logsink import casalog
    casalog.setlogfile(os.devnull if cfg.nologfile else cfg.logfile)
    casalog.showconsole(cfg.log2term)

    _log_startup(cfg, argv, code)
    cfg.post_messages(casalog)
    for priority, text in messages:
        casalog.post(text, priority)
    messages.clear()
    _apply_user_site(cfg, messages)
    for priority, text in messages:
        casalog.post(text, priority)
    if cfg.agg:
        os.environ["MPLBACKEND"] = "agg"

    if cfg.telemetry_enabled:
        try:
            from . import telemetry
            telemetry.startup(cfg)
        except ImportError:
            casalog.post("telemetry is not available in this installation", "WARN")

    from . import loggerlaunch
    try:
        loggerlaunch.maybe_start_logger(cfg)
    except Exception as exc:
        casalog.post(f"the casalogger window could not be started: {exc}", "WARN")

    startup = _startup_file(cfg, ns)
    if code is None:
        from . import shell
        status = shell.run(cfg, startupfile=startup)
    else:
        user_ns = make_namespace(cfg)
        status = None
        if startup:
            status = run_startup_file(startup, user_ns)
        if status is None:
            status = run_c(code, user_ns)
    _flush_std()
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
