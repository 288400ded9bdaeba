"""A background thread that calls a function every few seconds while some work runs: how a
worker renews the lease on the items it processes, and an upload the hold on its batch."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Heartbeat:
    """`with Heartbeat(renew, every=20):` calls `renew()` every `every` seconds until the block
    ends. A failing renewal is logged and tried again next beat (a lease outlives a few)."""

    def __init__(self, renew: Callable[[], object], every: float) -> None:
        self.renew, self.every = renew, max(0.05, float(every))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.renew()
            except Exception:
                log.warning("could not renew a lease", exc_info=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
