"""Starting the casalogger window beside the shell.  Placeholder: filled in with
the logger issue."""


def maybe_start_logger(cfg) -> None:
    return None
