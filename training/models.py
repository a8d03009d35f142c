"""Training jobs, the metrics they stream, and the adapters they leave behind."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class JobKind(models.TextChoices):
    SFT = "sft", "SFT"
    # The next issue adds the trainers for these on the same machinery.
    REWARD = "reward", "Reward model"
    PPO = "ppo", "PPO"
    DPO = "dpo", "DPO"
    GRPO = "grpo", "GRPO"
    RLOO = "rloo", "RLOO"
    # Samples candidates from adapters for labelers (training/generate_job.py): no training.
    GENERATE = "generate", "Generate"


class PeftMethod(models.TextChoices):
    LORA = "lora", "LoRA"
    QLORA = "qlora", "QLoRA (4-bit NF4)"
    DORA = "dora", "DoRA"
    PROMPT_TUNING = "prompt_tuning", "Prompt tuning"
    FULL = "full", "Full fine-tuning"


class JobStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
ENDED_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class TrainingJob(models.Model):
    project = models.ForeignKey(
        "labeling.Project", on_delete=models.PROTECT, related_name="training_jobs"
    )
    name = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=20, choices=JobKind.choices, db_index=True)
    base_model = models.CharField(
        max_length=500, help_text="A Hugging Face model name or a local path on the GPU hosts."
    )
    snapshot = models.ForeignKey(
        "labeling.DatasetSnapshot", on_delete=models.PROTECT, related_name="training_jobs"
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
        help_text="The job this one was cloned from.",
    )
    peft_method = models.CharField(max_length=20, choices=PeftMethod.choices, db_index=True)
    peft_config = models.JSONField(default=dict, blank=True)
    hyperparameters = models.JSONField(default=dict, blank=True)
    config = models.JSONField(
        default=dict, blank=True, help_text="The full resolved config the trainer ran with."
    )
    status = models.CharField(
        max_length=20, choices=JobStatus.choices, default=JobStatus.DRAFT, db_index=True
    )
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0)
    worker_host = models.CharField(max_length=200, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    eta_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    output_dir = models.CharField(max_length=500, blank=True)
    resumed_from_step = models.PositiveIntegerField(null=True, blank=True)
    # Filled by the run; read by the job page and the admin.
    data_report = models.JSONField(
        default=dict, blank=True, help_text="Rows, truncated and dropped per split and task type."
    )
    trainable_params = models.BigIntegerField(null=True, blank=True)
    total_params = models.BigIntegerField(null=True, blank=True)
    adapter_size_bytes = models.BigIntegerField(null=True, blank=True)
    full_model_size_bytes = models.BigIntegerField(null=True, blank=True)
    peak_memory_bytes = models.BigIntegerField(null=True, blank=True)
    hardware = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # job_reap_lost: running jobs by heartbeat age.
            models.Index(fields=["status", "heartbeat_at"], name="trainingjob_status_heartbeat"),
            # job_list_for_user: a project's jobs, newest first.
            models.Index(fields=["project", "-created_at"], name="trainingjob_project_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(step__lte=models.F("total_steps")) | Q(total_steps=0),
                name="trainingjob_step_within_total",
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.kind} job #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def progress_percent(self) -> int:
        return int(100 * self.step / self.total_steps) if self.total_steps else 0


class MetricPoint(models.Model):
    """One value of one metric at one step: `loss`, `loss/<task_type>`, `loss/special_tokens`,
    `lr`, `grad_norm`, `tokens_per_second`, `eval/loss`, `eval/loss/<task_type>`..."""

    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="metrics")
    step = models.PositiveIntegerField()
    name = models.CharField(max_length=120)
    value = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "name", "step"]
        constraints = [
            # A resumed run logs a step again: the later value replaces the earlier one.
            models.UniqueConstraint(
                fields=["job", "name", "step"], name="metricpoint_one_per_step"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job_id} {self.name}@{self.step}={self.value:.4g}"


class Adapter(models.Model):
    """A trained result: a PEFT adapter folder (or a full model for full fine-tuning)."""

    job = models.ForeignKey(TrainingJob, on_delete=models.PROTECT, related_name="adapters")
    name = models.CharField(max_length=200)
    path = models.CharField(max_length=500)
    size_bytes = models.BigIntegerField()
    base_model = models.CharField(max_length=500)
    method = models.CharField(max_length=20, choices=PeftMethod.choices, db_index=True)
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="adapters",
    )
    owner_project = models.ForeignKey(
        "labeling.Project",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="adapters",
    )
    merged_path = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(owner_user__isnull=False) & Q(owner_project__isnull=True))
                | (Q(owner_user__isnull=True) & Q(owner_project__isnull=False)),
                name="adapter_owned_by_user_or_project",
            ),
        ]

    def __str__(self) -> str:
        return self.name
