"""Prompts (multi-turn conversations to answer) and completions (candidate answers)."""

from django.conf import settings
from django.db import models


class PromptStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    FILTERED = "filtered", "Filtered out"
    ARCHIVED = "archived", "Archived"


class Prompt(models.Model):
    """A conversation ending in a user turn: `messages` is a list of {role, content}; the
    system message, when there is one, is kept apart in `system`."""

    project = models.ForeignKey(
        "labeling.Project", on_delete=models.CASCADE, related_name="prompts"
    )
    messages = models.JSONField()
    system = models.TextField(blank=True)
    task_type = models.CharField(max_length=50, blank=True, db_index=True)
    source = models.CharField(max_length=200, blank=True, help_text="Where it came from.")
    collected_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=20, choices=PromptStatus.choices, default=PromptStatus.ACTIVE, db_index=True
    )
    filter_reasons = models.JSONField(default=list, blank=True)
    content_hash = models.CharField(max_length=64)
    meta = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # Importing the same conversation twice gives back the first prompt.
            models.UniqueConstraint(
                fields=["project", "content_hash"], name="prompt_unique_content_per_project"
            )
        ]

    def __str__(self) -> str:
        last = self.messages[-1]["content"] if self.messages else ""
        return last[:60]


class Completion(models.Model):
    """A candidate assistant answer to a prompt, written by a model or a person."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="completions")
    text = models.TextField()
    model_name = models.CharField(max_length=200, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    params = models.JSONField(default=dict, blank=True, help_text="Generation parameters.")
    meta = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.model_name or self.author or '?'}: {self.text[:50]}"
