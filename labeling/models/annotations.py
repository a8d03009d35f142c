"""Annotations (one per task and annotator) and reviews of them.

Payload shapes, by task kind (completion ids are the task's Completion primary keys):

- demonstration: {"text": str, "draft_completion": id | None, "original": str | None,
                  "diff": str}  (original and diff only when a model draft was edited)
- ranking:       {"ranking": [[id, ...], [id], ...]}  tiers best to worst; ids in one tier
                  are tied
- pairwise:      {"choice": "a" | "b" | "tie" | "both_bad", "shown_choice": same labels,
                  "strength": 1 | 2 | 3 | None, "winner": id | None, "loser": id | None}
                  the labeler submits a/b as shown to them (their display_order); `choice`
                  is restated in the task's order (a = the answer at position 0) and
                  `shown_choice` keeps what they pressed
- rubric:        {"scores": {"<id>": {"<criterion>": int}}}

Any kind may also carry "rationale": str (why the labeler answered so), kept when not empty.

Alongside the payload: `display_order` (ids as this labeler saw them), `time_spent_ms`,
`flags` ({"<id>": ["harmful", ...]}), `ratings` ({"<id>": int}), `none_acceptable`.
"""

from django.conf import settings
from django.db import models


class AnnotationStatus(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    SKIPPED = "skipped", "Skipped"


class Flag(models.TextChoices):
    HARMFUL = "harmful", "Harmful"
    HALLUCINATION = "hallucination", "Hallucination"
    FAILS_INSTRUCTION = "fails_instruction", "Fails the instruction"
    REFUSAL = "refusal", "Refusal"
    OTHER = "other", "Other"


class Annotation(models.Model):
    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="+")
    task = models.ForeignKey("labeling.Task", on_delete=models.CASCADE, related_name="annotations")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotations"
    )
    kind = models.CharField(max_length=20, db_index=True)
    status = models.CharField(
        max_length=20,
        choices=AnnotationStatus.choices,
        default=AnnotationStatus.SUBMITTED,
        db_index=True,
    )
    payload = models.JSONField(default=dict, blank=True)
    display_order = models.JSONField(default=list, blank=True)
    time_spent_ms = models.PositiveIntegerField(default=0)
    flags = models.JSONField(default=dict, blank=True)
    ratings = models.JSONField(default=dict, blank=True)
    none_acceptable = models.BooleanField(default=False)
    skip_reason = models.TextField(blank=True)
    # Set at submit on gold tasks: did the answer match the known one?
    gold_correct = models.BooleanField(null=True, blank=True)
    submitted_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "annotator"], name="annotation_one_per_task_annotator"
            )
        ]
        indexes = [
            # annotation lists: a project's annotations by annotator, newest work by id.
            models.Index(fields=["project", "annotator", "id"], name="annotation_by_annotator"),
            # The queue's counts of one labeler's work (done today, in all, gold, rejected):
            # an index-only scan on PostgreSQL instead of reading each answer's row (a
            # labeler with 100,000 answers: ~115 ms -> ~21 ms; SQLite keeps the key alone).
            models.Index(
                fields=["annotator", "project"],
                include=["id", "status", "submitted_at", "gold_correct"],
                name="annotation_queue_stats",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} by {self.annotator} on task {self.task_id} ({self.status})"


class ReviewDecision(models.TextChoices):
    ACCEPT = "accept", "Accept"
    REJECT = "reject", "Reject"


class Review(models.Model):
    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviews"
    )
    decision = models.CharField(max_length=10, choices=ReviewDecision.choices, db_index=True)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.decision} by {self.reviewer} on annotation {self.annotation_id}"
