"""Snapshot recipes: what a dataset snapshot selects and how it shapes the rows.

A recipe is plain JSON (stored on the snapshot, read from a file by `build_snapshot`):

    {
      "kind": "sft" | "preference" | "prompts",
      "projects": [ids],                 # default: the snapshot's project
      "task_types": ["qa", ...],         # default: every task type
      "submitted_after": ISO datetime,   # annotations (prompts: collected/created) in range
      "submitted_before": ISO datetime,
      "accepted_only": false,            # only annotations a reviewer accepted
      "include_evaluation_tasks": false, # human-evaluation tasks (held-out eval questions)
      "min_agreement": null | 0..1,      # tasks whose annotators agree at least this much
      "exclude_flags": [] | ["harmful", ...] | true,   # answers flagged so are left out
      "min_gold_accuracy": null | 0..1,  # annotators under this gold accuracy are left out
      "validation_fraction": 0.1, "seed": 0,
      # sft
      "sft_sources": ["demonstrations", "gold", "ranking_best"], "sft_format": "messages" |
      "prompt_completion",
      # preference
      "preference_sources": ["rankings", "pairwise", "edits"],
      "tie_policy": "drop" | "keep", "both_bad_policy": "drop" | "tie",
      "aggregation": "all" | "majority" | "bradley_terry"
    }

`recipe_parse` validates and returns the normal form (every key present), which is what is
stored and hashed, so two spellings of one recipe give one hash.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from flywheel.errors import DomainError
from labeling.models import Flag, SnapshotKind

ERROR_NOT_A_DICT = "A recipe must be a JSON object."
ERROR_UNKNOWN_KEYS = "Unknown recipe keys: {keys}. Known keys: {known}."
ERROR_KIND = "`kind` must be one of sft, preference or prompts."
ERROR_LIST_OF = "`{key}` must be a list of {what}."
ERROR_CHOICE = "`{key}` must be one of {choices}; got {value!r}."
ERROR_SOURCES_EMPTY = "`{key}` must name at least one source."
ERROR_FRACTION = "`{key}` must be a number from 0 to 1; got {value!r}."
ERROR_VALIDATION_FRACTION = "`validation_fraction` must be at least 0 and below 1; got {value!r}."
ERROR_DATETIME = "`{key}` must be an ISO date-time such as 2026-01-31T00:00:00Z; got {value!r}."
ERROR_DATE_ORDER = "`submitted_after` must be before `submitted_before`."
ERROR_SEED = "`seed` must be a whole number."
ERROR_BOOL = "`{key}` must be true or false."
ERROR_FLAGS = "`exclude_flags` must be true, false or a list of flags from {flags}."
ERROR_JSON = "The recipe file is not valid JSON: {error}"

SFT_SOURCES = ("demonstrations", "gold", "ranking_best")
PREFERENCE_SOURCES = ("rankings", "pairwise", "edits")
SFT_FORMATS = ("messages", "prompt_completion")
TIE_POLICIES = ("drop", "keep")
BOTH_BAD_POLICIES = ("drop", "tie")
AGGREGATIONS = ("all", "majority", "bradley_terry")


class RecipeError(DomainError):
    pass


@dataclass(frozen=True)
class Recipe:
    kind: str
    projects: list[int] = field(default_factory=list)
    task_types: list[str] = field(default_factory=list)
    submitted_after: str | None = None
    submitted_before: str | None = None
    accepted_only: bool = False
    include_evaluation_tasks: bool = False
    min_agreement: float | None = None
    exclude_flags: list[str] = field(default_factory=list)
    min_gold_accuracy: float | None = None
    validation_fraction: float = 0.1
    seed: int = 0
    sft_sources: list[str] = field(default_factory=lambda: ["demonstrations"])
    sft_format: str = "messages"
    preference_sources: list[str] = field(default_factory=lambda: list(PREFERENCE_SOURCES))
    tie_policy: str = "drop"
    both_bad_policy: str = "drop"
    aggregation: str = "all"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def after(self) -> datetime | None:
        return parse_datetime(self.submitted_after) if self.submitted_after else None

    @property
    def before(self) -> datetime | None:
        return parse_datetime(self.submitted_before) if self.submitted_before else None


_KNOWN = tuple(Recipe.__dataclass_fields__)


def _choice(data: Mapping, key: str, choices: tuple[str, ...], default: str) -> str:
    value = data.get(key, default)
    if value not in choices:
        raise RecipeError(ERROR_CHOICE.format(key=key, choices=", ".join(choices), value=value))
    return value


def _sources(data: Mapping, key: str, choices: tuple[str, ...], default: list[str]) -> list[str]:
    value = data.get(key, default)
    if not isinstance(value, list) or any(v not in choices for v in value):
        raise RecipeError(ERROR_LIST_OF.format(key=key, what=", ".join(choices)))
    if not value:
        raise RecipeError(ERROR_SOURCES_EMPTY.format(key=key))
    return [c for c in choices if c in value]  # canonical order


def _fraction(data: Mapping, key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise RecipeError(ERROR_FRACTION.format(key=key, value=value))
    return float(value)


def _datetime(data: Mapping, key: str) -> str | None:
    value = data.get(key)
    if value in (None, ""):
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None or parsed.tzinfo is None:
        raise RecipeError(ERROR_DATETIME.format(key=key, value=value))
    return parsed.isoformat()


def _bool(data: Mapping, key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise RecipeError(ERROR_BOOL.format(key=key))
    return value


def recipe_parse(data: Any, *, project_id: int | None = None) -> Recipe:
    """Validate a recipe and return its normal form; `project_id` is the snapshot's own
    project, always first in `projects`."""
    if not isinstance(data, Mapping):
        raise RecipeError(ERROR_NOT_A_DICT)
    unknown = sorted(set(data) - set(_KNOWN) - {"name"})
    if unknown:
        raise RecipeError(
            ERROR_UNKNOWN_KEYS.format(keys=", ".join(unknown), known=", ".join(_KNOWN))
        )
    kind = data.get("kind")
    if kind not in SnapshotKind.values:
        raise RecipeError(ERROR_KIND)
    projects = data.get("projects") or []
    if not isinstance(projects, list) or any(
        isinstance(p, bool) or not isinstance(p, int) for p in projects
    ):
        raise RecipeError(ERROR_LIST_OF.format(key="projects", what="project ids"))
    if project_id is not None:
        projects = [project_id, *[p for p in projects if p != project_id]]
    task_types = data.get("task_types") or []
    if not isinstance(task_types, list) or any(not isinstance(t, str) for t in task_types):
        raise RecipeError(ERROR_LIST_OF.format(key="task_types", what="task type names"))
    flags = data.get("exclude_flags", [])
    if flags is True:
        flags = list(Flag.values)
    elif flags is False or flags is None:
        flags = []
    if not isinstance(flags, list) or any(f not in Flag.values for f in flags):
        raise RecipeError(ERROR_FLAGS.format(flags=", ".join(Flag.values)))
    fraction = data.get("validation_fraction", 0.1)
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 <= fraction < 1:
        raise RecipeError(ERROR_VALIDATION_FRACTION.format(value=fraction))
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise RecipeError(ERROR_SEED)
    after, before = _datetime(data, "submitted_after"), _datetime(data, "submitted_before")
    if after and before and parse_datetime(after) >= parse_datetime(before):
        raise RecipeError(ERROR_DATE_ORDER)
    return Recipe(
        kind=kind,
        projects=projects,
        task_types=sorted(set(task_types)),
        submitted_after=after,
        submitted_before=before,
        accepted_only=_bool(data, "accepted_only"),
        include_evaluation_tasks=_bool(data, "include_evaluation_tasks"),
        min_agreement=_fraction(data, "min_agreement"),
        exclude_flags=sorted(set(flags)),
        min_gold_accuracy=_fraction(data, "min_gold_accuracy"),
        validation_fraction=float(fraction),
        seed=seed,
        sft_sources=_sources(data, "sft_sources", SFT_SOURCES, ["demonstrations"]),
        sft_format=_choice(data, "sft_format", SFT_FORMATS, "messages"),
        preference_sources=_sources(
            data, "preference_sources", PREFERENCE_SOURCES, list(PREFERENCE_SOURCES)
        ),
        tie_policy=_choice(data, "tie_policy", TIE_POLICIES, "drop"),
        both_bad_policy=_choice(data, "both_bad_policy", BOTH_BAD_POLICIES, "drop"),
        aggregation=_choice(data, "aggregation", AGGREGATIONS, "all"),
    )


def recipe_load(text: str, *, project_id: int | None = None) -> Recipe:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise RecipeError(ERROR_JSON.format(error=error)) from None
    return recipe_parse(data, project_id=project_id)
