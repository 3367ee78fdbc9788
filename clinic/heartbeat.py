"""A thread that stamps a row's `heartbeat_at` while a long task runs, so a dead worker is detectable.

A worker killed with kill -9 or by the OOM killer runs no cleanup; its rows would claim to be running
for good. The heartbeat stops with the process, and whoever reads the row compares `heartbeat_at`
with a threshold (generation jobs: 120 s, training runs: 300 s) to call it stale.
"""

from __future__ import annotations

import logging
import threading

from django.db import connection, models
from django.utils import timezone

log = logging.getLogger(__name__)


class Heartbeat(threading.Thread):
    """Stamps `model(pk).heartbeat_at` every `every` seconds until `stopped` is set; dies with the worker."""

    def __init__(self, model: type[models.Model], pk: int, every: float) -> None:
        super().__init__(name=f"heartbeat-{model._meta.model_name}-{pk}", daemon=True)
        self.model, self.pk, self.every, self.stopped = model, pk, every, threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.every):
                self.model._default_manager.filter(pk=self.pk).update(heartbeat_at=timezone.now())
        except Exception:  # a heartbeat must never take the work down with it
            log.exception("heartbeat for %s %s failed", self.model._meta.model_name, self.pk)
        finally:
            connection.close()
