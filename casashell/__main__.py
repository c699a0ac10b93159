"""``python -m casashell``: the same as the ``casa`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
