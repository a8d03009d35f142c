"""Eval runs, their items (question x model pair x turn) and judgments (one judge call each)."""

from django.conf import settings
from django.db import models


class RunMode(models.TextChoices):
    BASELINE = "baseline", "Pairwise against a baseline"
    ROUND_ROBIN = "round_robin", "Pairwise round robin"
    SINGLE = "single", "Single-answer grading"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Order(models.TextChoices):
    AB = "AB", "model_a shown first"
    BA = "BA", "model_b shown first"
    NONE = "", "single answer"


class JudgmentStatus(models.TextChoices):
    OK = "ok", "Parsed"
    PARSE_ERROR = "parse_error", "Unparseable reply"
    CALL_ERROR = "call_error", "Call failed"


class RaterGroup(models.TextChoices):
    JUDGE = "judge", "LLM judge"
    HUMAN = "human", "Human"
    EXPERT = "expert", "Expert"
    IMPORTED = "imported", "Imported"


class EvalRun(models.Model):
    project = models.ForeignKey(
        "labeling.Project", on_delete=models.CASCADE, related_name="eval_runs"
    )
    eval_set = models.ForeignKey(
        "evaluation.EvalSet", on_delete=models.PROTECT, related_name="runs"
    )
    judge_config = models.ForeignKey(
        "evaluation.JudgeConfig", on_delete=models.PROTECT, related_name="runs"
    )
    name = models.CharField(max_length=200)
    mode = models.CharField(max_length=20, choices=RunMode.choices, db_index=True)
    candidate_models = models.JSONField(help_text="Candidate model names.")
    baseline = models.CharField(max_length=200, blank=True)
    turns = models.JSONField(default=list, help_text="Turns to judge, e.g. [1, 2].")
    # The resolved judge settings at creation, so a later edit of the config cannot change
    # what this run means.
    config_snapshot = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True
    )
    items_total = models.PositiveIntegerField(default=0)
    calls_total = models.PositiveIntegerField(default=0)
    calls_done = models.PositiveIntegerField(default=0, help_text="Judgments recorded.")
    calls_made = models.PositiveIntegerField(default=0, help_text="Judge calls sent.")
    # calls_done when the current execution started: the ETA counts only this execution.
    calls_done_at_start = models.PositiveIntegerField(default=0)
    cached_count = models.PositiveIntegerField(default=0)
    parse_failures = models.PositiveIntegerField(default=0)
    call_errors = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    cost = models.FloatField(default=0.0)
    results = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(calls_done__lte=models.F("calls_total")),
                name="eval_run_done_le_total",
            ),
            models.CheckConstraint(
                condition=~models.Q(mode="baseline") | ~models.Q(baseline=""),
                name="eval_run_baseline_set",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status in (RunStatus.QUEUED, RunStatus.RUNNING)


class EvalItem(models.Model):
    """What is judged: (question, model pair, turn). model_b is empty for single grading."""

    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="items")
    question = models.ForeignKey(
        "evaluation.EvalQuestion", on_delete=models.CASCADE, related_name="+"
    )
    model_a = models.CharField(max_length=200)
    model_b = models.CharField(max_length=200, blank=True)
    turn = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "question", "model_a", "model_b", "turn"],
                name="eval_item_unique_address",
            )
        ]

    def __str__(self) -> str:
        pair = f"{self.model_a} vs {self.model_b}" if self.model_b else self.model_a
        return f"q{self.question_id} {pair} turn {self.turn}"


class Judgment(models.Model):
    """One verdict on an item: a judge call, a human rating or an imported judgment.

    `verdict` is what the rater said about positions (A / B / C for a tie) in the shown
    `order`; `winner` translates it to a model name ("tie" for a tie). All trials and both
    orders are kept; a parse failure is a row with the raw text and status parse_error.
    """

    item = models.ForeignKey(EvalItem, on_delete=models.CASCADE, related_name="judgments")
    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="judgments")
    rater = models.CharField(max_length=200, help_text="Judge model name or username.")
    rater_group = models.CharField(
        max_length=50, default=RaterGroup.JUDGE, db_index=True, help_text="judge, human, expert…"
    )
    order = models.CharField(max_length=2, choices=Order.choices, blank=True)
    trial = models.PositiveSmallIntegerField(default=0)
    template_version = models.CharField(max_length=16, blank=True)
    # Cache lookups by key across runs of a project (evaluation/runner.py).
    cache_key = models.CharField(max_length=64, blank=True, db_index=True)
    status = models.CharField(
        max_length=20, choices=JudgmentStatus.choices, default=JudgmentStatus.OK, db_index=True
    )
    raw_output = models.TextField(blank=True)
    verdict = models.CharField(max_length=1, blank=True)
    winner = models.CharField(max_length=200, blank=True)
    score = models.FloatField(null=True, blank=True)
    dimension_scores = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    latency_s = models.FloatField(default=0.0)
    cost = models.FloatField(default=0.0)
    cached = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "rater", "order", "trial"], name="judgment_unique_call"
            ),
            models.CheckConstraint(
                condition=models.Q(verdict__in=["", "A", "B", "C"]), name="judgment_verdict"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rater} on {self.item_id} {self.order} #{self.trial}: {self.status}"
