"""``python -m lognotify``: the same program as the ``lognotify`` command."""

import sys

from lognotify.cli import main

if __name__ == "__main__":
    sys.exit(main())
