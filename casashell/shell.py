"""The interactive CASA shell: IPython's terminal shell, set up as CASA's.

* full autocall (``listobs 'x.ms'``, ``abs -3``, ``inp listobs``, a bare
  ``tasklist``), without IPython's ``------>`` echo of the rewritten line;
* prompt ``CASA <N>: ``; a banner naming the versions and the log file;
* IPython directory ``cachedir/ipython``, history
  ``cachedir/ipython/history.sqlite``;
* the colour scheme of ``colors`` / ``--colors``;
* the user namespace holds the tasks, the task commands and ``casalog``;
  ``startupfile`` runs in it before the first prompt;
* ``exit``, ``quit``, ``exit(N)``, ``quit(N)`` and ``sys.exit(N)`` typed at
  the prompt end the session, and ``casa`` exits with status N (IPython
  would show ``SystemExit`` and go on; CASA does that too).

IPython is imported only here, so ``casa -c`` never pays for it.
"""

from __future__ import annotations

import os
import sys

#: CASA's scheme names -> IPython 9's theme names
IPYTHON_THEMES = {"Neutral": "neutral", "NoColor": "nocolor", "Linux": "linux",
                  "LightBG": "lightbg"}

#: A line ``callable REST`` is *not* auto-called when REST starts with this:
#: binary operators followed by a blank (``f - 3``), augmented assignments
#: (``f -= 3``), comparisons and keywords.  Unlike IPython's default, a minus
#: sign glued to its operand (``abs -3``) is an argument, so it is called.
AUTOCALL_EXCLUDE = (r"^(?:[,&^|*/%@<>=!+]|-(?=[\s=]|$))"
                    r"|^(?:is|not|in|and|or|if|else|for)\b")


def banner(cfg) -> str:
    import platform

    import IPython

    from . import CASA_COMPAT_VERSION, __version__
    from .logsink import casalog
    log = casalog.logfile()
    logtext = "No log file." if log == os.devnull else f"Log file: {log}"
    return (f"casashell {__version__} -- CASA {CASA_COMPAT_VERSION} compatible shell "
            f"(IPython {IPython.__version__}, Python {platform.python_version()})\n"
            f"{logtext}\nType tasklist for the tasks, inp <task> for a task's "
            f"parameters, exit or Ctrl-D to leave.\n")


def _ipython_dir(cfg) -> tuple[str, str, str | None]:
    """(ipython_dir, history file, warning) under the cache directory.

    An unusable cache directory gives a temporary IPython directory, an
    in-memory history and a warning, never a failed start.
    """
    ipdir = os.path.join(cfg.cachedir, "ipython")
    try:
        os.makedirs(ipdir, exist_ok=True)
        if not os.access(ipdir, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied")
        return ipdir, os.path.join(ipdir, "history.sqlite"), None
    except OSError as exc:
        import tempfile
        tmp = tempfile.mkdtemp(prefix="casashell-ipython-")
        reason = exc.strerror or str(exc)
        return tmp, ":memory:", (f"cannot use the cache directory {cfg.cachedir} "
                                 f"({reason}): the command history is not saved")


def make_prompts_class():
    from IPython.terminal.prompts import Prompts
    from pygments.token import Token

    class CasaPrompts(Prompts):
        """``CASA <N>: `` instead of ``In [N]: ``."""

        def in_prompt_tokens(self):
            return [
                (Token.Prompt.Mode, self.vi_mode()),
                (Token.Prompt, "CASA <"),
                (Token.PromptNum, str(self.shell.execution_count)),
                (Token.Prompt, ">: "),
            ]

    return CasaPrompts


def make_config(cfg, ipdir: str, histfile: str):
    from traitlets.config import Config

    c = Config()
    c.InteractiveShell.autocall = 2
    c.InteractiveShell.show_rewritten_input = False
    c.InteractiveShell.colors = IPYTHON_THEMES.get(cfg.colors, "neutral")
    c.InteractiveShell.banner1 = banner(cfg)
    c.InteractiveShell.banner2 = ""
    c.InteractiveShell.enable_tip = False
    c.AutocallChecker.exclude_regexp = AUTOCALL_EXCLUDE
    c.HistoryManager.hist_file = histfile
    c.TerminalInteractiveShell.prompts_class = make_prompts_class()
    c.TerminalInteractiveShell.term_title = False
    c.Completer.use_jedi = False
    if cfg.iplog:
        c.InteractiveShell.logfile = cfg.iplogfile
    return c


_SHELL_CLASS = None


def shell_class():
    """IPython's terminal shell where SystemExit ends the session.

    ``exit``/``quit`` raise ``SystemExit`` (with the code given, if any), so
    they behave as ``sys.exit``: at the prompt, a ``SystemExit`` ends the
    session and its code becomes ``exit_status`` (instead of IPython's
    traceback and "To exit: use 'exit'..." warning); inside a startup file
    or a script run with ``execfile`` it ends them the same way.
    """
    global _SHELL_CLASS
    if _SHELL_CLASS is not None:
        return _SHELL_CLASS
    from IPython.core.autocall import ExitAutocall
    from IPython.terminal.interactiveshell import TerminalInteractiveShell
    from traitlets import default

    class CasaExit(ExitAutocall):
        """End the casa session: ``exit`` (status 0), ``exit(N)`` (status N),
        ``exit('message')`` (message on stderr, status 1)."""

        def __call__(self, code=None):
            raise SystemExit(code)

        def __repr__(self):
            return "Use exit or Ctrl-D to end the session, exit(N) to exit with status N"

    class CasaTerminalShell(TerminalInteractiveShell):
        #: the exit status the session ends with (set by SystemExit)
        exit_status = 0

        @default("exiter")
        def _casa_exiter(self):
            return CasaExit(self)

        def showtraceback(self, exc_tuple=None, filename=None, tb_offset=None,
                          exception_only=False, running_compiled_code=False):
            value = (exc_tuple if exc_tuple is not None else sys.exc_info())[1]
            from .casa6 import NotInCasashell
            if isinstance(value, NotInCasashell):
                # a CASA task/tool casashell lacks: one line, no traceback
                from .logsink import casalog
                casalog.post(str(value), "SEVERE")      # SEVERE always reaches the terminal
                return None
            if exception_only and isinstance(value, SystemExit):
                # IPython's handler of SystemExit in the executed code
                from .cli import exit_status
                self.exit_status = exit_status(value)
                self.ask_exit()
                return None
            return super().showtraceback(exc_tuple, filename, tb_offset, exception_only,
                                         running_compiled_code)

    _SHELL_CLASS = CasaTerminalShell
    return _SHELL_CLASS


def create_shell(cfg, user_ns: dict):
    """A CASA terminal shell on ``user_ns`` (not yet running)."""
    import warnings

    from .logsink import casalog

    ipdir, histfile, warning = _ipython_dir(cfg)
    if warning:
        casalog.post(warning, "WARN")
    config = make_config(cfg, ipdir, histfile)
    # shown by IPython after a SystemExit, which here ends the session
    warnings.filterwarnings("ignore", message=r"To exit: use 'exit', 'quit', or Ctrl-D",
                            category=UserWarning)
    shell = shell_class().instance(config=config, user_ns=user_ns, ipython_dir=ipdir)
    return shell


def run(cfg, startupfile: str | None = None) -> int:
    """Run the interactive shell until exit/Ctrl-D; returns the exit status."""
    from . import cli
    from .logsink import casalog

    user_ns = cli.make_namespace(cfg)
    if "" not in sys.path:
        sys.path.insert(0, "")       # modules in the current directory import
    shell = create_shell(cfg, user_ns)
    casalog.post(f"IPython shell: history in {shell.history_manager.hist_file}", "INFO1")
    shell.show_banner()
    if startupfile:
        status = cli.run_startup_file(startupfile, user_ns)
        if status is not None:
            _ended(status)
            return status
    status = 1
    try:
        shell.mainloop()
        status = shell.exit_status
    finally:
        _ended(status)
    return status


def _ended(status: int) -> None:
    from .logsink import casalog
    casalog.post("casashell session ended" + (f", exit status {status}" if status else ""))


__all__ = ["run", "create_shell", "shell_class", "make_config", "banner",
           "AUTOCALL_EXCLUDE"]

