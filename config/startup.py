# Example casashell startup file.
#
# Copy it to ~/.casa/startup.py (or pass it with `casa --startupfile FILE`).
# It runs in the shell's own namespace after the configuration is read and
# before the first prompt (and before the code of `casa -c`), so what it
# defines is available at the prompt.  `casa --nostartupfile` skips it.
#
# The tasks, inp/go/default/tget/tput/saveinputs, execfile and casalog are
# already defined here.  If this file raises an exception, the traceback is
# printed and logged as SEVERE and the session starts anyway; sys.exit(N)
# here ends casa with status N.

import os

# Log a line so the log shows which startup file ran.
casalog.post(f"startup file {__file__} running in {os.getcwd()}")

# Show INFO1 and INFO2 messages in the log as well.
# casalog.filter("INFO2")

# Your own helpers become shell commands (autocall: `mslist` or `mslist '/data'`).
def mslist(directory="."):
    """Print the MeasurementSets in a directory."""
    for name in sorted(os.listdir(directory)):
        if name.endswith(".ms") and os.path.isdir(os.path.join(directory, name)):
            print(name)
