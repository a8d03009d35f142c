"""Tasks (units of labeling work) and assignments (leases that hand them out)."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class TaskKind(models.TextChoices):
    DEMONSTRATION = "demonstration", "Demonstration"
    RANKING = "ranking", "Ranking"
    PAIRWISE = "pairwise", "Pairwise"
    RUBRIC = "rubric", "Rubric"


class TaskStatus(models.TextChoices):
    # open: a slot is free; full: every slot is leased or submitted; complete: every slot is
    # submitted. Kept by the assignment services in the same UPDATE as the counters.
    OPEN = "open", "Open"
    FULL = "full", "All slots taken"
    COMPLETE = "complete", "Complete"
    ARCHIVED = "archived", "Archived"


class Task(models.Model):
    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="tasks")
    prompt = models.ForeignKey("labeling.Prompt", on_delete=models.CASCADE, related_name="tasks")
    kind = models.CharField(max_length=20, choices=TaskKind.choices, db_index=True)
    status = models.CharField(
        max_length=20, choices=TaskStatus.choices, default=TaskStatus.OPEN, db_index=True
    )
    completions = models.ManyToManyField(
        "labeling.Completion", through="TaskCompletion", related_name="tasks"
    )
    required_annotations = models.PositiveSmallIntegerField(default=1)
    submitted_count = models.PositiveSmallIntegerField(default=0)
    active_leases = models.PositiveSmallIntegerField(default=0)
    is_gold = models.BooleanField(default=False)
    # The known answer of a gold task, in the payload shape of its kind (see
    # labeling.services.payloads); for rubric tasks, `reference` is the gold reference answer.
    gold_answer = models.JSONField(null=True, blank=True)
    reference = models.TextField(blank=True, help_text="A gold reference answer to score against.")
    # A rubric task's own rubric {"criteria", "scale": [lo, hi], "anchors"} (see
    # labeling.services.rubric); empty means the project's. Tasks from an eval run carry the
    # judge's criteria and scale here so that humans and the judge grade alike.
    rubric = models.JSONField(default=dict, blank=True)
    # Generic link back to whatever made the task (an evaluation run, a training job);
    # labeling never imports those apps, so the link is plain data.
    source = models.JSONField(default=dict, blank=True)
    meta = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # The overlap invariant: no concurrency can hand out more slots than the task has.
            models.CheckConstraint(
                condition=Q(submitted_count__lte=F("required_annotations") - F("active_leases")),
                name="task_never_over_assigned",
            ),
            models.CheckConstraint(
                condition=Q(required_annotations__gte=1), name="task_needs_an_annotation"
            ),
        ]
        indexes = [
            # assignment_claim: open tasks of a project, gold or not, fullest first, then oldest.
            models.Index(
                F("project"),
                F("is_gold"),
                (F("submitted_count") + F("active_leases")).desc(),
                F("id"),
                condition=Q(status="open"),
                name="task_claim_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"

    @property
    def free_slots(self) -> int:
        return self.required_annotations - self.submitted_count - self.active_leases


class TaskCompletion(models.Model):
    """The ordered answers of a task; `position` 0 is answer A of a pairwise task."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="task_completions")
    completion = models.ForeignKey(
        "labeling.Completion", on_delete=models.CASCADE, related_name="task_links"
    )
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["task", "position"]
        constraints = [
            models.UniqueConstraint(fields=["task", "position"], name="task_completion_position"),
            models.UniqueConstraint(fields=["task", "completion"], name="task_completion_once"),
        ]

    def __str__(self) -> str:
        return f"task {self.task_id} #{self.position}: completion {self.completion_id}"


class AssignmentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUBMITTED = "submitted", "Submitted"
    SKIPPED = "skipped", "Skipped"
    EXPIRED = "expired", "Expired"


class Assignment(models.Model):
    """A lease: one labeler holds one slot of a task until it expires or is turned in."""

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="+")
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="assignments")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    status = models.CharField(
        max_length=20,
        choices=AssignmentStatus.choices,
        default=AssignmentStatus.ACTIVE,
        db_index=True,
    )
    # Completion ids in the order this labeler is shown them (shuffled per labeler).
    display_order = models.JSONField(default=list)
    claimed_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "user"],
                condition=Q(status="active"),
                name="assignment_one_active_per_task_user",
            ),
            models.UniqueConstraint(
                fields=["project", "user"],
                condition=Q(status="active"),
                name="assignment_one_active_per_project_user",
            ),
        ]
        indexes = [
            # lease_expire_due: active leases of a project past their expiry.
            models.Index(
                fields=["project", "expires_at"],
                condition=Q(status="active"),
                name="assignment_expiry",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · task {self.task_id} · {self.status}"
