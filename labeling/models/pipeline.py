"""Pipeline runs: one row per stage run (import, filter, tag, synthesize, tasks), the source of
truth for its progress, counts, funnel, rejects, LLM usage and error."""

from django.conf import settings
from django.db import models


class PipelineStage(models.TextChoices):
    IMPORT = "import", "Import"
    FILTER = "filter", "Filter"
    TAG = "tag", "Tag"
    SYNTHESIZE = "synthesize", "Synthesize"
    STRUCTURED = "structured", "Structured synthesis"
    TASKS = "tasks", "Create tasks"


PROGRESS_UNITS = {
    PipelineStage.IMPORT: "rows",
    PipelineStage.SYNTHESIZE: "steps",
    PipelineStage.STRUCTURED: "LLM calls",
}


class PipelineStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


# The order a run's counts read in, stage by stage (import, filter, tag, synthesize,
# structured, tasks); names not listed follow alphabetically.
COUNT_ORDER = (
    "rows", "rejected", "too_old", "prompts", "completions", "duplicates",
    "duplicates_in_file", "duplicates_in_project", "completions_on_duplicates",
    "seen", "filtered", "kept",
    "rules", "llm", "disagreements", "llm_failures",
    "rewrites", "llm_rewrites", "llm_rewrite_failures", "drafts", "draft_failures",
    "candidates", "candidate_failures", "self_instruct", "self_instruct_dropped",
    "documents", "tools", "passages", "failures", "beyond_count",
    "tasks", "gold", "gold_wanted", "skipped_too_few_answers",
    "by_task_type",
)  # fmt: skip


# Labels that the plain "Name with spaces" rule gets wrong.
COUNT_LABELS = {
    "llm": "LLM tagged",
    "llm_failures": "LLM failures",
    "llm_rewrites": "LLM rewrites",
    "llm_rewrite_failures": "LLM rewrite failures",
    "self_instruct": "Self-instruct",
    "self_instruct_dropped": "Self-instruct dropped",
}


class PipelineRun(models.Model):
    project = models.ForeignKey(
        "labeling.Project", on_delete=models.CASCADE, related_name="pipeline_runs"
    )
    stage = models.CharField(max_length=20, choices=PipelineStage.choices, db_index=True)
    status = models.CharField(
        max_length=20,
        choices=PipelineStatus.choices,
        default=PipelineStatus.QUEUED,
        db_index=True,
    )
    params = models.JSONField(default=dict, blank=True, help_text="The stage's options.")
    input_name = models.CharField(max_length=300, blank=True, help_text="The file's name.")
    input_path = models.CharField(max_length=500, blank=True, help_text="Where it is stored.")
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    funnel = models.JSONField(default=dict, blank=True, help_text="FunnelReport.as_dict().")
    rejects = models.JSONField(default=list, blank=True, help_text="[{line, reason}]")
    disagreements = models.JSONField(default=list, blank=True)
    failures = models.JSONField(default=list, blank=True, help_text="[{key, reason}] per item")
    warnings = models.JSONField(
        default=list,
        blank=True,
        help_text="[{code, message}]: what the run could not do as asked (it still succeeded).",
    )
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    cost_usd = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The project's run list, newest first (pipeline page and API).
            models.Index(fields=["project", "-created_at"], name="pipelinerun_project_recent"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="failed") | ~models.Q(error=""),
                name="pipelinerun_failed_has_error",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_stage_display()} #{self.pk} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == PipelineStatus.SUCCEEDED:
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def eta_at(self):
        """When a running run should end, from its pace so far (None until it has one)."""
        from django.utils import timezone

        if self.finished or not self.started_at or not self.done or self.done >= self.total:
            return None
        elapsed = timezone.now() - self.started_at
        return timezone.now() + elapsed * ((self.total - self.done) / self.done)

    @property
    def ordered_counts(self) -> list[tuple[str, object]]:
        """The counts in the stage's reading order (PostgreSQL's jsonb keeps no key order):
        the known names in COUNT_ORDER, then any other name alphabetically."""
        rank = {name: i for i, name in enumerate(COUNT_ORDER)}
        return sorted(self.counts.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))

    @property
    def figures(self) -> list[tuple[str, object]]:
        """The counts as (label, value) for the run page; nested ones are shown apart."""
        return [
            (COUNT_LABELS.get(name) or name.replace("_", " ").capitalize(), value)
            for name, value in self.ordered_counts
            if not isinstance(value, dict)
        ]

    @property
    def progress_unit(self) -> str:
        """What `done` and `total` count: file rows, prompts, or synthesis steps (a prompt
        through one step: a rewrite, a draft, one candidate answer; or a task type's batch of
        self-instruct prompts)."""
        return PROGRESS_UNITS.get(self.stage, "prompts")

    @property
    def finished(self) -> bool:
        return self.status in (PipelineStatus.SUCCEEDED, PipelineStatus.FAILED)
