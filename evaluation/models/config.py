"""Judge prompt templates and judge configurations."""

from django.conf import settings
from django.db import models


class TemplateKind(models.TextChoices):
    PAIRWISE = "pairwise", "Pairwise (A vs B)"
    SINGLE = "single", "Single-answer grading"


class TemplateParser(models.TextChoices):
    # Each parser is an explicit rule in evaluation/judging/parsing.py.
    VERDICT = "verdict", "[[A]] / [[B]] / [[C]] (tie)"
    RATING = "rating", "[[rating]] (a number in double brackets)"
    JSON = "json", 'JSON object with "overall" (and per-dimension scores)'


class JudgeTemplate(models.Model):
    """A versioned judge prompt. Immutable: a changed text is a new row with a new version.

    Built-in templates have no project; researchers add their own to a project. Variables are
    `{name}` placeholders filled by evaluation/judging/prompts.py (see VARIABLES there).
    """

    project = models.ForeignKey(
        "labeling.Project",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="judge_templates",
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=TemplateKind.choices, db_index=True)
    parser = models.CharField(max_length=20, choices=TemplateParser.choices)
    uses_reference = models.BooleanField(default=False)
    multi_turn = models.BooleanField(default=False)
    system_prompt = models.TextField(blank=True)
    prompt = models.TextField()
    # For the rule-calibrated multi-dimensional template: {category: [dimension, ...]}.
    dimensions = models.JSONField(default=dict, blank=True)
    # A rubric judge's criteria and anchors, filled into `{rubric}` and shown to human raters
    # of the run: {"criteria": [{"name", "description", "anchors"}], "anchors": {"1": ...}}
    # on the scale score_min..score_max (see labeling.services.rubric).
    rubric = models.JSONField(default=dict, blank=True)
    score_min = models.FloatField(default=1)
    score_max = models.FloatField(default=10)
    version = models.CharField(max_length=16, db_index=True, help_text="Hash of the text.")
    builtin = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name", "version"], name="judge_template_unique_version"
            ),
            models.UniqueConstraint(
                fields=["name", "version"],
                condition=models.Q(project__isnull=True),
                name="judge_template_builtin_unique_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} @{self.version}"


class JudgeConfig(models.Model):
    """Which judge model to call, how, and with which templates.

    The API key is never stored: `api_key_env` names the environment variable holding it.
    Turn 1 uses `template` (or `reference_template` when the question has a gold reference);
    later turns use the multi-turn variants when set.
    """

    project = models.ForeignKey(
        "labeling.Project", on_delete=models.CASCADE, related_name="judge_configs"
    )
    name = models.CharField(max_length=200)
    base_url = models.URLField(max_length=500)
    model = models.CharField(max_length=200)
    api_key_env = models.CharField(max_length=100, default="FLYWHEEL_LLM_API_KEY")
    temperature = models.FloatField(default=0.0)
    max_tokens = models.PositiveIntegerField(default=1024)
    trials = models.PositiveSmallIntegerField(default=1)
    both_orders = models.BooleanField(default=True)
    max_concurrency = models.PositiveSmallIntegerField(default=8)
    timeout_s = models.FloatField(default=60.0)
    max_retries = models.PositiveSmallIntegerField(default=5)
    # Dollars per million tokens, for the cost shown while a run goes.
    price_prompt_per_mtok = models.FloatField(default=0.0)
    price_completion_per_mtok = models.FloatField(default=0.0)
    template = models.ForeignKey(JudgeTemplate, on_delete=models.PROTECT, related_name="+")
    reference_template = models.ForeignKey(
        JudgeTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    multi_turn_template = models.ForeignKey(
        JudgeTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    multi_turn_reference_template = models.ForeignKey(
        JudgeTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(trials__gte=1), name="judge_config_trials"),
            models.CheckConstraint(
                condition=models.Q(max_concurrency__gte=1), name="judge_config_concurrency"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.model})"
