"""Rubrics: criteria, a scale of whole numbers, and a written anchor for the scale's points.

A project has one (`Project.rubric`, `rubric_anchors`, `rubric_scale_min/max`). A task may
carry its own in `Task.rubric` (rubric tasks made from an eval run grade by the judge's
criteria and scale); an empty one means the project's. Anchors are shared by every criterion
(`anchors`) and a criterion may write its own for some points, which win over the shared ones.

The stored form is plain JSON: criteria `[{"name", "description", "anchors": {"1": text}}]`
and anchors `{"1": text, "5": text}`; a task's rubric is `{"criteria", "scale": [lo, hi],
"anchors"}`. `rubric_clean` checks what people send; reading stored rows never raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from flywheel.errors import DomainError
from labeling.models import Project, Task

DEFAULT_CRITERION = "overall"
MAX_POINTS = 11  # 0 to 10 at most: a row of radio buttons that still fits a phone
MAX_NAME = 100
MAX_DESCRIPTION = 1000
MAX_ANCHOR = 300

ERROR_CRITERIA_SHAPE = (
    "The rubric must be a list of criteria, each a name or an object "
    '{"name": ..., "description": ..., "anchors": {...}}.'
)
ERROR_CRITERION_NAME = "Criterion {index}: give a name of at most {max} characters, without '='."
ERROR_CRITERION_KEYS = "Criterion {name!r}: unknown key(s) {keys}; use name, description, anchors."
ERROR_CRITERION_DESCRIPTION = (
    "Criterion {name!r}: the description must be text of at most {max} characters."
)
ERROR_CRITERION_DUPLICATE = "Criterion {name!r} appears twice; names must differ."
ERROR_SCALE = (
    "The scale must run from a whole number to a higher one, with at most {max} points "
    "(for example 1 to 5); got {lo} to {hi}."
)
ERROR_ANCHORS_SHAPE = (
    '{where}: anchors map scale points to text, e.g. {{"1": "ignores the question", '
    '"5": "fully answers, no errors"}}.'
)
ERROR_ANCHOR_POINT = "{where}: {point!r} is not a point of the scale {lo} to {hi}."
ERROR_ANCHOR_TEXT = (
    "{where}: the anchor of point {point} must be non-empty text of at most {max} characters."
)
ERROR_TASK_RUBRIC_SHAPE = (
    'A task\'s rubric must be an object {"criteria": [...], "scale": [lo, hi], "anchors": {...}}.'
)
SHARED = "Scale anchors"


MAX_INSTRUCTIONS = 5000
ERROR_INSTRUCTIONS = "The rubric's instructions are text of at most {max} characters."


class RubricError(DomainError):
    """`part` names what to fix: "criteria", "anchors" (the shared ones) or "scale"."""

    def __init__(self, message: str, *, part: str = "criteria") -> None:
        super().__init__(message)
        self.part = part


@dataclass(frozen=True)
class Criterion:
    name: str
    description: str = ""
    anchors: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rubric:
    criteria: tuple[Criterion, ...]
    scale_min: int
    scale_max: int
    anchors: dict[int, str] = field(default_factory=dict)
    instructions: str = ""

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.criteria]

    @property
    def points(self) -> list[int]:
        return list(range(self.scale_min, self.scale_max + 1))

    def anchor(self, criterion: Criterion, point: int) -> str:
        """The written anchor of `point` for `criterion`: its own, else the shared one."""
        return criterion.anchors.get(point) or self.anchors.get(point, "")

    def as_json(self) -> dict[str, Any]:
        """The stored form (a task's `rubric`, the API's answer)."""
        return {
            "criteria": [
                {
                    "name": c.name,
                    "description": c.description,
                    "anchors": {str(p): t for p, t in sorted(c.anchors.items())},
                }
                for c in self.criteria
            ],
            "scale": [self.scale_min, self.scale_max],
            "anchors": {str(p): t for p, t in sorted(self.anchors.items())},
            "instructions": self.instructions,
        }


def _point(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _part(where: str) -> str:
    return "anchors" if where == SHARED else "criteria"


def _anchors(value: Any, *, where: str, lo: int, hi: int, strict: bool) -> dict[int, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, Mapping):
        if strict:
            raise RubricError(ERROR_ANCHORS_SHAPE.format(where=where), part=_part(where))
        return {}
    anchors: dict[int, str] = {}
    for key, text in value.items():
        point = _point(key)
        if point is None or not lo <= point <= hi:
            if strict:
                raise RubricError(
                    ERROR_ANCHOR_POINT.format(where=where, point=key, lo=lo, hi=hi),
                    part=_part(where),
                )
            continue
        if not isinstance(text, str) or not text.strip() or len(text.strip()) > MAX_ANCHOR:
            if strict:
                raise RubricError(
                    ERROR_ANCHOR_TEXT.format(where=where, point=point, max=MAX_ANCHOR),
                    part=_part(where),
                )
            continue
        anchors[point] = text.strip()
    return anchors


def _criteria(value: Any, *, lo: int, hi: int, strict: bool) -> tuple[Criterion, ...]:
    if value in (None, ""):
        return ()
    if not isinstance(value, list):
        if strict:
            raise RubricError(ERROR_CRITERIA_SHAPE)
        return ()
    criteria: list[Criterion] = []
    for index, entry in enumerate(value, start=1):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, Mapping):
            if strict:
                raise RubricError(ERROR_CRITERIA_SHAPE)
            continue
        name = entry.get("name")
        name = name.strip() if isinstance(name, str) else ""
        if not name or len(name) > MAX_NAME or "=" in name:
            if strict:
                raise RubricError(ERROR_CRITERION_NAME.format(index=index, max=MAX_NAME))
            continue
        unknown = sorted(set(entry) - {"name", "description", "anchors"})
        if unknown and strict:
            raise RubricError(ERROR_CRITERION_KEYS.format(name=name, keys=", ".join(unknown)))
        description = entry.get("description") or ""
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            if strict:
                raise RubricError(
                    ERROR_CRITERION_DESCRIPTION.format(name=name, max=MAX_DESCRIPTION)
                )
            description = ""
        if name in (c.name for c in criteria):
            if strict:
                raise RubricError(ERROR_CRITERION_DUPLICATE.format(name=name))
            continue
        anchors = _anchors(
            entry.get("anchors"), where=f"Criterion {name!r}", lo=lo, hi=hi, strict=strict
        )
        criteria.append(Criterion(name=name, description=description.strip(), anchors=anchors))
    return tuple(criteria)


def _instructions(value: Any) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or len(value) > MAX_INSTRUCTIONS:
        raise RubricError(ERROR_INSTRUCTIONS.format(max=MAX_INSTRUCTIONS), part="instructions")
    return value.strip()


def _build(
    *,
    criteria: Any,
    anchors: Any,
    scale_min: Any,
    scale_max: Any,
    strict: bool,
    instructions: Any = "",
):
    lo, hi = _point(scale_min), _point(scale_max)
    # Stored scales wider than MAX_POINTS (made before the limit) still read.
    if lo is None or hi is None or hi <= lo or (strict and hi - lo + 1 > MAX_POINTS):
        raise RubricError(
            ERROR_SCALE.format(max=MAX_POINTS, lo=scale_min, hi=scale_max), part="scale"
        )
    return Rubric(
        criteria=_criteria(criteria, lo=lo, hi=hi, strict=strict),
        scale_min=lo,
        scale_max=hi,
        anchors=_anchors(anchors, where=SHARED, lo=lo, hi=hi, strict=strict),
        instructions=_instructions(instructions),
    )


def rubric_clean(
    *, criteria: Any, anchors: Any, scale_min: Any, scale_max: Any, instructions: Any = ""
) -> Rubric:
    """Check a rubric as people write it; raise RubricError saying what to fix."""
    return _build(
        criteria=criteria,
        anchors=anchors,
        scale_min=scale_min,
        scale_max=scale_max,
        strict=True,
        instructions=instructions,
    )


def rubric_clean_task(value: Any) -> dict[str, Any]:
    """A task's own rubric in its stored form ({} for none: the project's applies)."""
    if value in (None, {}):
        return {}
    scale = value.get("scale") if isinstance(value, Mapping) else None
    if not isinstance(scale, list | tuple) or len(scale) != 2:
        raise RubricError(ERROR_TASK_RUBRIC_SHAPE)
    rubric = rubric_clean(
        criteria=value.get("criteria"),
        anchors=value.get("anchors"),
        scale_min=scale[0],
        scale_max=scale[1],
        instructions=value.get("instructions"),
    )
    return rubric.as_json()


def _with_default(rubric: Rubric) -> Rubric:
    if rubric.criteria:
        return rubric
    return Rubric(
        criteria=(Criterion(name=DEFAULT_CRITERION),),
        scale_min=rubric.scale_min,
        scale_max=rubric.scale_max,
        anchors=rubric.anchors,
        instructions=rubric.instructions,
    )


def rubric_of_project(project: Project) -> Rubric:
    """The project's rubric as stored (one criterion, "overall", when it names none)."""
    return _with_default(
        _build(
            criteria=project.rubric,
            anchors=project.rubric_anchors,
            scale_min=project.rubric_scale_min,
            scale_max=project.rubric_scale_max,
            strict=False,
            instructions=project.rubric_instructions,
        )
    )


def rubric_of_task(task: Task, *, project: Project | None = None) -> Rubric:
    """The rubric a rubric task is scored by: its own when it has one, else its project's
    (pass `project` when the caller has it loaded already)."""
    own = task.rubric
    if own and isinstance(own.get("scale"), list) and len(own["scale"]) == 2:
        return _with_default(
            _build(
                criteria=own.get("criteria"),
                anchors=own.get("anchors"),
                scale_min=own["scale"][0],
                scale_max=own["scale"][1],
                strict=False,
                instructions=own.get("instructions") or "",
            )
        )
    return rubric_of_project(project or task.project)


@transaction.atomic
def project_rubric_set(
    *,
    project: Project,
    criteria: Any,
    anchors: Any,
    scale_min: Any,
    scale_max: Any,
    instructions: Any = None,
) -> Project:
    """Replace the project's rubric (criteria, scale and anchors) after checking it.

    Tasks already answered keep their scores; a changed scale applies to new answers."""
    if instructions is None:  # left out: the project's stay
        instructions = project.rubric_instructions
    rubric = rubric_clean(
        criteria=criteria,
        anchors=anchors,
        scale_min=scale_min,
        scale_max=scale_max,
        instructions=instructions,
    )
    stored = rubric.as_json()
    project.rubric = stored["criteria"]
    project.rubric_anchors = stored["anchors"]
    project.rubric_scale_min = rubric.scale_min
    project.rubric_scale_max = rubric.scale_max
    project.rubric_instructions = rubric.instructions
    project.save(
        update_fields=[
            "rubric",
            "rubric_anchors",
            "rubric_scale_min",
            "rubric_scale_max",
            "rubric_instructions",
        ]
    )
    return project
