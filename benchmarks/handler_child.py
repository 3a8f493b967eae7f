"""Child of ``bench.py``'s handler figure: ``handler_child.py tee|stream COUNT``.

Logs COUNT records through a TeeHandler or a logging.StreamHandler (to /dev/null) and prints
the seconds it took on stderr.
"""

from __future__ import annotations

import logging
import os
import sys
import time

kind, count = sys.argv[1], int(sys.argv[2])
stream = open(os.devnull, "w")  # noqa: SIM115 - open for the life of this small process
if kind == "tee":
    from lognotify import TeeHandler

    handler: logging.Handler = TeeHandler(stream)
else:
    handler = logging.StreamHandler(stream)
handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
log = logging.getLogger("etl")
log.propagate = False
log.setLevel(logging.INFO)
log.addHandler(handler)
start = time.perf_counter()
for i in range(count):
    log.info("processed record %d of batch %d", i, 42)
print(time.perf_counter() - start, file=sys.stderr)
