"""Dataset snapshots: immutable, content-hashed datasets that training reads.

On disk a ready snapshot is a folder under FLYWHEEL_ARTIFACT_DIR/snapshots/<hash>/ with
`train.jsonl`, `validation.jsonl` (when the split has one), `hf/` (a `datasets.DatasetDict`
written by `save_to_disk`) and a `README.md` dataset card. Rows use TRL's formats, plus a
`task_type` column that training uses for loss per channel:

- sft:        {"messages": [{"role", "content"}, ...], "task_type": str}
- preference: {"prompt": [messages], "chosen": [assistant message], "rejected": [assistant
               message], "margin": float, "task_type": str}
- prompts:    {"prompt": [messages], "task_type": str, "id": str}

Snapshots built by labeling.exports extend the rows compatibly with provenance columns
(`source`, `task_id`, `prompt_id`, `annotator_ids`, `display_orders`, `submitted_at`) and, on
preference rows, `tie` (kept ties have margin 0), `chosen_id` and `rejected_id`. The folder
may also hold `routed_out.jsonl`: annotations routed out of the dataset ("none acceptable").
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
    # Progress of a build in prompts (the unit the builder streams and splits by).
    prompts_total = models.PositiveIntegerField(default=0)
    prompts_done = models.PositiveIntegerField(default=0)
    # What the build saw: counts before and after each filter, rows routed out, pairs dropped.
    stats = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # A ready snapshot is named by its content: training records the hash it read.
            models.CheckConstraint(
                condition=~models.Q(status="ready") | ~models.Q(content_hash=""),
                name="snapshot_ready_has_hash",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}, {self.content_hash[:8] or self.status})"
