"""casashell: an independent re-implementation of the CASA shell, log and tasks.

Importing this package is cheap: it does not import numpy, casacore or Qt.
The log tool is ``casashell.casalog`` (created on first use).
"""

__version__ = "0.1.0"

# The CASA version whose behaviour we reproduce and compare against.
CASA_COMPAT_VERSION = "6.7.0"


def __getattr__(name):
    if name == "casalog":
        from .logsink import casalog
        return casalog
    raise AttributeError(f"module 'casashell' has no attribute {name!r}")
