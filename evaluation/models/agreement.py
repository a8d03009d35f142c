"""Judgments imported from elsewhere (MT-Bench / Chatbot Arena files) and stored agreement
reports. Imported rows live apart from `Judgment`: they have no run, eval set or judge config,
only the (question_id, model pair, turn) address the agreement computation matches on."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class JudgmentSet(models.Model):
    """One imported file of pairwise votes and/or single-answer scores, addressed by name."""

    project = models.ForeignKey(
        "labeling.Project",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="judgment_sets",
        help_text="Who may read it on the pages and the API; empty: command line only.",
    )
    name = models.CharField(max_length=200, unique=True)
    source = models.CharField(max_length=500, blank=True, help_text="The imported file.")
    format = models.CharField(max_length=20, default="mtbench")
    vote_count = models.PositiveIntegerField(default=0)
    score_count = models.PositiveIntegerField(default=0)
    # {group: row count}, so pages can offer the groups without scanning the rows.
    groups = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class ImportedJudgment(models.Model):
    """One row of an imported file: a pairwise vote (winner) or a score (score)."""

    judgment_set = models.ForeignKey(JudgmentSet, on_delete=models.CASCADE, related_name="rows")
    line = models.PositiveIntegerField(help_text="Line of the imported file.")
    question_id = models.CharField(max_length=100)
    category = models.CharField(max_length=100, blank=True)
    model_a = models.CharField(max_length=200)
    model_b = models.CharField(max_length=200, blank=True)
    turn = models.PositiveSmallIntegerField(default=1)
    rater = models.CharField(max_length=200)
    rater_group = models.CharField(max_length=200)
    winner = models.CharField(max_length=30, blank=True)
    score = models.FloatField(null=True, blank=True)
    trial = models.IntegerField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(score__isnull=True) & ~Q(winner="") & ~Q(model_b=""))
                | (Q(score__isnull=False) & Q(winner="") & Q(model_b="")),
                name="imported_judgment_vote_or_score",
            ),
            models.CheckConstraint(
                condition=Q(
                    winner__in=[
                        "",
                        "model_a",
                        "model_b",
                        "tie",
                        "tie (bothbad)",
                        "tie (inconsistent)",
                    ]
                ),
                name="imported_judgment_winner",
            ),
        ]
        indexes = [
            # agreement_report_build: a set's rows of the two groups asked for.
            models.Index(fields=["judgment_set", "rater_group"], name="imported_by_group"),
        ]

    def __str__(self) -> str:
        return f"{self.rater} line {self.line}"


class AgreementReport(models.Model):
    """A computed report, kept so that a page view does not redo the bootstrap. `fingerprint`
    changes when the judgments behind it change (new human votes), which makes a new row."""

    judgment_set = models.ForeignKey(
        JudgmentSet, null=True, blank=True, on_delete=models.CASCADE, related_name="reports"
    )
    run = models.ForeignKey(
        "evaluation.EvalRun",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="agreement_reports",
    )
    group_a = models.CharField(max_length=200)
    group_b = models.CharField(max_length=200)
    turn = models.PositiveSmallIntegerField(null=True, blank=True)
    category = models.CharField(max_length=100, blank=True)
    n_resamples = models.PositiveIntegerField()
    fingerprint = models.CharField(max_length=100)
    result = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(judgment_set__isnull=True) ^ Q(run__isnull=True),
                name="agreement_report_one_source",
            ),
        ]
        indexes = [
            # agreement_report_build: look up a stored report by its parameters.
            models.Index(
                fields=["judgment_set", "run", "group_a", "group_b", "turn", "category"],
                name="agreement_report_lookup",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group_a} vs {self.group_b}"
