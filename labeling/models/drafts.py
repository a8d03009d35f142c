"""Drafts: the server's copy of a labeler's unsent work on a task.

The task page autosaves to the browser (localStorage) as the labeler works and sends the same
state here every few seconds, so that the work survives another browser or device, cleared
storage or a crash. `state` is what task.js snapshots, opaque to the server:
{"kind": {...the kind's snapshot...}, "rationale": str, "spent": ms, "at": ms since epoch}.
"""

from django.conf import settings
from django.db import models


class Draft(models.Model):
    task = models.ForeignKey("labeling.Task", on_delete=models.CASCADE, related_name="drafts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    state = models.JSONField()
    size = models.PositiveIntegerField(help_text="Bytes of the state as stored.")
    saved_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [
            # Last write wins: one draft per labeler and task, overwritten in place.
            models.UniqueConstraint(fields=["task", "user"], name="draft_one_per_task_user"),
        ]

    def __str__(self) -> str:
        return f"draft of {self.user} on task {self.task_id}"
