"""Evaluation sets: questions with categories and gold references, and candidate answers."""

from django.conf import settings
from django.db import models


class EvalSet(models.Model):
    project = models.ForeignKey(
        "labeling.Project", on_delete=models.CASCADE, related_name="eval_sets"
    )
    name = models.CharField(max_length=200)
    source = models.CharField(
        max_length=200, blank=True, help_text="Where the questions came from."
    )
    question_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class EvalQuestion(models.Model):
    """One question (user turns), addressable by its external id (MT-Bench's question_id)."""

    eval_set = models.ForeignKey(EvalSet, on_delete=models.CASCADE, related_name="questions")
    question_id = models.CharField(max_length=100)
    category = models.CharField(max_length=100, blank=True, db_index=True)
    turns = models.JSONField(help_text="User turns, in order.")
    # One gold answer per turn ("" where a turn has none); empty list: no reference.
    reference = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["eval_set", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["eval_set", "question_id"], name="eval_question_unique_id"
            )
        ]

    def __str__(self) -> str:
        return f"{self.question_id} ({self.category})"

    def reference_for(self, turn: int) -> str:
        return self.reference[turn - 1] if len(self.reference) >= turn else ""


class CandidateAnswer(models.Model):
    """One model's answer turns to one question."""

    question = models.ForeignKey(EvalQuestion, on_delete=models.CASCADE, related_name="answers")
    model = models.CharField(max_length=200, db_index=True)
    turns = models.JSONField(help_text="Assistant turns, in order.")
    source = models.CharField(max_length=50, default="import")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["question", "model"], name="candidate_unique_model")
        ]

    def __str__(self) -> str:
        return f"{self.model} on {self.question_id}"
