from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    LABELER = "labeler", "Labeler"
    REVIEWER = "reviewer", "Reviewer"
    RESEARCHER = "researcher", "Researcher"


class Project(models.Model):
    """A labeling project: its guidelines, task types and the rules of its work."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    guidelines = models.TextField(blank=True, help_text="Markdown shown to labelers.")
    task_types = models.JSONField(
        default=list,
        blank=True,
        help_text="Labels for prompts, e.g. qa, summarization, code, math, creative.",
    )
    # The rules of the work. Tasks copy `overlap` when they are created; the rest is read at
    # claim and submit time.
    k_outputs = models.PositiveSmallIntegerField(
        default=2, help_text="Candidate answers per prompt for ranking tasks."
    )
    overlap = models.PositiveSmallIntegerField(
        default=1, help_text="Annotations each new task needs (distinct labelers)."
    )
    claim_timeout_minutes = models.PositiveSmallIntegerField(
        default=15, help_text="A claim expires after this long unless a heartbeat renews it."
    )
    gold_rate = models.FloatField(
        default=0.0, help_text="Share of claims that hand out a gold task (0 to 1)."
    )
    allow_ties = models.BooleanField(default=True, help_text="Rankings may put answers level.")
    # Checked by labeling.services.rubric (the admin form, the API and project_rubric_set).
    rubric = models.JSONField(
        default=list,
        blank=True,
        help_text='Criteria for rubric tasks: [{"name": "correctness", "description": "...", '
        '"anchors": {"1": "..."}}]; a criterion\'s own anchors replace the shared ones.',
    )
    rubric_anchors = models.JSONField(
        default=dict,
        blank=True,
        help_text='A written anchor per scale point, shared by the criteria: {"1": "ignores '
        'the question", "3": "partly answers", "5": "fully answers, no errors"}.',
    )
    rubric_instructions = models.TextField(
        blank=True,
        help_text="How to use the rubric (markdown), shown to raters above it and given to the "
        "LLM judge with it.",
    )
    rubric_scale_min = models.SmallIntegerField(default=1)
    rubric_scale_max = models.SmallIntegerField(default=5)
    answer_rating_max = models.PositiveSmallIntegerField(
        default=0, help_text="Per-answer ratings from 1 to this on ranking tasks; 0 = not asked."
    )
    languages = models.JSONField(
        default=list,
        blank=True,
        help_text='ISO 639-1 codes the prompts must be in, e.g. ["en", "de"]: the pipeline\'s '
        "language filter uses them when a run names none. Empty: any language.",
    )
    llm_model = models.CharField(
        max_length=200,
        blank=True,
        help_text="The LLM of the pipeline's LLM steps (tagging, rewrites, drafts, candidates, "
        "self-instruct, structured synthesis) when a run names none. Empty: rules only.",
    )
    llm_base_url = models.URLField(
        blank=True,
        help_text="Its OpenAI-compatible server. Empty: the server in the settings.",
    )
    llm_price_prompt_per_mtok = models.FloatField(
        default=0.0, help_text="Its price, US dollars per million input tokens (for the cost)."
    )
    llm_price_completion_per_mtok = models.FloatField(
        default=0.0, help_text="Its price, US dollars per million output tokens."
    )
    show_quality_to_labelers = models.BooleanField(
        default=True,
        help_text="Labelers see their own gold accuracy and agreement with other labelers "
        "on their queue.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(gold_rate__gte=0) & models.Q(gold_rate__lte=1),
                name="project_gold_rate_0_1",
            ),
            models.CheckConstraint(condition=models.Q(overlap__gte=1), name="project_overlap_ge_1"),
            models.CheckConstraint(
                condition=models.Q(rubric_scale_max__gt=models.F("rubric_scale_min")),
                name="project_rubric_scale_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "user"], name="membership_one_role_per_project"
            )
        ]
        ordering = ["project", "user"]

    def __str__(self) -> str:
        return f"{self.user} · {self.role} · {self.project}"
