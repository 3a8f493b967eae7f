"""``lognotify watch``: report, from outside the pods, failed Jobs and pods that never start.

``run_watch(options, report)`` lists and watches Jobs and their pods through the Kubernetes API
and calls ``report(incident)`` once for each ``Incident``; the record of what was reported is
kept in the API itself (the ConfigMap ``lognotify-watch-state`` in the watcher's namespace).
The ``kubernetes`` client (``pip install 'lognotify[watch]'``) is imported only when a watch
starts.
"""

from __future__ import annotations

from lognotify.kubernetes.watch.model import Incident, PodAttempt, WatchOptions
from lognotify.kubernetes.watch.run import run_watch

__all__ = ["Incident", "PodAttempt", "WatchOptions", "run_watch"]
