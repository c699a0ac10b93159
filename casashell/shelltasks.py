"""Shell-style tasks and the task commands (inp, go, default, tget, tput,
saveinputs, execfile).  Placeholder: filled in with the task framework issue."""


def populate_namespace(user_ns: dict, colors: str = "Neutral") -> None:
    from .logsink import casalog
    user_ns.setdefault("casalog", casalog)
