"""Dataset snapshots: immutable, content-hashed datasets that training reads.

On disk a ready snapshot is a folder under FLYWHEEL_ARTIFACT_DIR/snapshots/<hash>/ with
`train.jsonl`, `validation.jsonl` (when the split has one), `hf/` (a `datasets.DatasetDict`
written by `save_to_disk`) and a `README.md` dataset card. Rows use TRL's formats, plus a
`task_type` column that training uses for loss per channel:

- sft:        {"messages": [{"role", "content"}, ...], "task_type": str}
- preference: {"prompt": [messages], "chosen": [assistant message], "rejected": [assistant
               message], "margin": float, "task_type": str}
- prompts:    {"prompt": [messages], "task_type": str}
"""

from django.conf import settings
from django.db import models


class SnapshotKind(models.TextChoices):
    SFT = "sft", "SFT (messages)"
    PREFERENCE = "preference", "Preference (prompt, chosen, rejected)"
    PROMPTS = "prompts", "Prompts only"


class SnapshotStatus(models.TextChoices):
    BUILDING = "building", "Building"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class DatasetSnapshot(models.Model):
    project = models.ForeignKey(
        "labeling.Project", on_delete=models.PROTECT, related_name="snapshots"
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=SnapshotKind.choices, db_index=True)
    status = models.CharField(
        max_length=20,
        choices=SnapshotStatus.choices,
        default=SnapshotStatus.BUILDING,
        db_index=True,
    )
    recipe = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64, blank=True, db_index=True)
    path = models.CharField(max_length=500, blank=True)
    row_counts = models.JSONField(default=dict, blank=True, help_text="Rows per split.")
    task_type_counts = models.JSONField(default=dict, blank=True, help_text="Rows per task type.")
    rows_done = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}, {self.content_hash[:8] or self.status})"
