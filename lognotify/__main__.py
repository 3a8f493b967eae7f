"""``python -m lognotify``: the same program as the ``lognotify`` command."""

from lognotify.cli import run

if __name__ == "__main__":
    run()
