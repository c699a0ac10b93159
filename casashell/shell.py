"""The interactive CASA shell: IPython's terminal shell, set up as CASA's.

* full autocall (``listobs 'x.ms'``, ``abs -3``, ``inp listobs``, a bare
  ``tasklist``), without IPython's ``------>`` echo of the rewritten line;
* prompt ``CASA <N>: ``; a banner naming the versions and the log file;
* IPython directory ``cachedir/ipython``, history
  ``cachedir/ipython/history.sqlite``;
* the colour scheme of ``colors`` / ``--colors``;
* the user namespace holds the tasks, the task commands and ``casalog``;
  ``startupfile`` runs in it before the first prompt.

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


def create_shell(cfg, user_ns: dict):
    """A TerminalInteractiveShell on ``user_ns`` (not yet running)."""
    from IPython.terminal.interactiveshell import TerminalInteractiveShell

    from .logsink import casalog

    ipdir, histfile, warning = _ipython_dir(cfg)
    if warning:
        casalog.post(warning, "WARN")
    config = make_config(cfg, ipdir, histfile)
    shell = TerminalInteractiveShell.instance(config=config, user_ns=user_ns,
                                              ipython_dir=ipdir)
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
            casalog.post("casashell session ended")
            return status
    try:
        shell.mainloop()
    finally:
        casalog.post("casashell session ended")
    return 0


__all__ = ["run", "create_shell", "make_config", "banner", "AUTOCALL_EXCLUDE"]

