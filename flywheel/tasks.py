"""Background tasks that belong to no app."""

from __future__ import annotations

import os
import socket

from django.utils import timezone
from django_tasks import task


@task(queue_name="default")
def worker_ping(note: str = "") -> dict:
    """Proves a worker is listening: returns who ran it and when."""
    return {
        "note": note,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "ran_at": timezone.now().isoformat(),
    }
