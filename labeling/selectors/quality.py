"""Quality statistics of a project's annotations: agreement, consensus, gold, bias.

Every figure comes with `n`, the number of items behind it, because an agreement of 100 %
over three comparisons means little. Undefined figures are None (shown as "n/a"). The
statistics themselves are `flywheel.stats` (shared with evaluation); this module only turns
annotations into the units those functions take.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q

from flywheel import stats
from labeling.models import (
    Annotation,
    AnnotationStatus,
    Flag,
    Project,
    Task,
    TaskCompletion,
    TaskKind,
)
from labeling.services.payloads import preferences, ranking_positions

COUNTED = (AnnotationStatus.SUBMITTED, AnnotationStatus.ACCEPTED)
BT_PRIOR = 0.5  # keeps strengths finite when one answer wins every comparison


@dataclass
class Row:
    """One annotation, as the statistics need it."""

    id: int
    task_id: int
    annotator_id: int
    kind: str
    status: str
    payload: dict
    display_order: list[int]
    flags: dict
    ratings: dict
    time_spent_ms: int
    gold_correct: bool | None


def _figure(value: float | None, n: int) -> dict[str, Any]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        value = None
    return {"value": None if value is None else round(float(value), 4), "n": n}


ROW_FIELDS = (
    "id",
    "task_id",
    "annotator_id",
    "kind",
    "status",
    "payload",
    "display_order",
    "flags",
    "ratings",
    "time_spent_ms",
    "gold_correct",
)


def _answers(task_ids: Iterable[int]) -> dict[int, list[int]]:
    """Each task's answer ids in task order."""
    answers: dict[int, list[int]] = defaultdict(list)
    for task_id, completion_id in (
        TaskCompletion.objects.filter(task_id__in=task_ids)
        .order_by("task_id", "position")
        .values_list("task_id", "completion_id")
    ):
        answers[task_id].append(completion_id)
    return answers


def _load(annotations) -> tuple[list[Row], dict[int, list[int]], dict[int, Task]]:
    rows = [Row(**values) for values in annotations.values(*ROW_FIELDS).order_by("id")]
    task_ids = {row.task_id for row in rows}
    tasks = {
        t.pk: t
        for t in Task.objects.filter(pk__in=task_ids).only("pk", "kind", "is_gold", "gold_answer")
    }
    return rows, _answers(task_ids), tasks


def _by_task(rows: Iterable[Row]) -> dict[int, list[Row]]:
    grouped: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        if row.status in COUNTED:
            grouped[row.task_id].append(row)
    return grouped


def _prefs(row: Row, ids: Sequence[int]) -> dict[tuple[int, int], float]:
    return preferences(row.kind, row.payload, ids)


def _agreement_with(row: Row, others: Iterable[Row], ids: Sequence[int]) -> tuple[int, int]:
    """(agreeing, compared) over the preference pairs this annotation shares with each of
    the others: a tie matches only a tie."""
    agree = compared = 0
    mine = _prefs(row, ids)
    for other in others:
        theirs = _prefs(other, ids)
        for pair in mine.keys() & theirs.keys():
            compared += 1
            agree += mine[pair] == theirs[pair]
    return agree, compared


def _add_units(units: dict[str, list[list]], kind: str, group: Sequence[Row], ids) -> None:
    """Krippendorff units of one task's annotations (one value per annotation in each)."""
    if kind == TaskKind.RANKING:
        positions = [ranking_positions(row.payload["ranking"]) for row in group]
        for answer in ids:
            units["ranking"].append([p[answer] for p in positions])
    if kind == TaskKind.PAIRWISE:
        units["pairwise"].append([row.payload.get("choice") for row in group])
    if kind == TaskKind.RUBRIC:
        for answer in ids:
            criteria = group[0].payload["scores"].get(str(answer), {})
            for criterion in criteria:
                units["rubric"].append(
                    [row.payload["scores"].get(str(answer), {}).get(criterion) for row in group]
                )
    for answer in ids:
        ratings = [row.ratings.get(str(answer)) for row in group]
        if sum(r is not None for r in ratings) >= 2:
            units["ratings"].append(ratings)
        for flag in Flag.values:
            units[f"flag:{flag}"].append(
                [int(flag in row.flags.get(str(answer), [])) for row in group]
            )


def agreement_figures(
    rows: Sequence[Row], answers: dict[int, list[int]], *, focus: int | None = None
) -> dict[str, Any]:
    """Pairwise-preference agreement, mean Kendall tau-b and Krippendorff's alphas over the
    tasks that have two or more counted annotations.

    With `focus` (an annotator id), only that annotator against each other one: pairs of
    annotations with the focus on one side, and for the alphas one unit per such pair, so the
    figures say how far this annotator agrees with the rest, not how far the rest agree."""
    agree = compared = 0
    taus: list[float] = []
    units: dict[str, list[list]] = defaultdict(list)
    for task_id, group in _by_task(rows).items():
        if len(group) < 2:
            continue
        if focus is None:
            couples = list(itertools.combinations(group, 2))
            unit_groups = [group]
        else:
            mine = [row for row in group if row.annotator_id == focus][:1]
            couples = [(m, o) for m in mine for o in group if o.annotator_id != focus]
            unit_groups = [list(couple) for couple in couples]
        ids = answers[task_id]
        kind = group[0].kind
        for ra, rb in couples:
            pa, pb = _prefs(ra, ids), _prefs(rb, ids)
            for pair in pa.keys() & pb.keys():
                compared += 1
                agree += pa[pair] == pb[pair]
            if kind == TaskKind.RANKING:
                xa, xb = (ranking_positions(r.payload["ranking"]) for r in (ra, rb))
                tau = stats.kendall_tau_b([xa[i] for i in ids], [xb[i] for i in ids])
                if not math.isnan(tau):
                    taus.append(tau)
        for unit_rows in unit_groups:
            _add_units(units, kind, unit_rows, ids)
    flag_units = [u for key, u_list in units.items() if key.startswith("flag:") for u in u_list]

    def alpha(key_units: list[list], level: str) -> dict[str, Any]:
        pairable = [u for u in key_units if sum(v is not None for v in u) >= 2]
        if not pairable:
            return _figure(None, 0)
        return _figure(stats.krippendorff_alpha(pairable, level=level), len(pairable))

    return {
        "pairwise_agreement": _figure(agree / compared if compared else None, compared),
        "kendall_tau_b": _figure(statistics.fmean(taus) if taus else None, len(taus)),
        "alpha_ranking_ordinal": alpha(units["ranking"], "ordinal"),
        "alpha_ratings_ordinal": alpha(units["ratings"], "ordinal"),
        "alpha_flags_nominal": alpha(flag_units, "nominal"),
        "alpha_rubric_interval": alpha(units["rubric"], "interval"),
        "alpha_pairwise_nominal": alpha(units["pairwise"], "nominal"),
    }


def consensus(group: Sequence[Row], ids: Sequence[int]) -> dict[str, Any]:
    """Bradley-Terry over every preference the task's annotations state.

    `ranking` lists answer ids best first; `margin` is the log-strength gap between the first
    two, `p_first_beats_second` the same as a probability."""
    comparisons = [(a, b, outcome) for row in group for (a, b), outcome in _prefs(row, ids).items()]
    if not comparisons:
        return {
            "ranking": [],
            "strengths": {},
            "margin": None,
            "p_first_beats_second": None,
            "n": 0,
        }
    strengths = stats.bradley_terry(comparisons, prior=BT_PRIOR)
    order = sorted(strengths, key=lambda item: (-strengths[item], item))
    margin = strengths[order[0]] - strengths[order[1]] if len(order) > 1 else None
    return {
        "ranking": order,
        "strengths": {str(k): round(v, 4) for k, v in strengths.items()},
        "margin": None if margin is None else round(margin, 4),
        "p_first_beats_second": None
        if margin is None
        else round(stats.bt_win_probability(strengths[order[0]], strengths[order[1]]), 4),
        "n": len(comparisons),
    }


def _winner(row: Row) -> int | None:
    """The answer this annotation puts alone at the top, if any."""
    if row.kind == TaskKind.PAIRWISE:
        return row.payload.get("winner")
    if row.kind == TaskKind.RANKING:
        top = row.payload["ranking"][0]
        return top[0] if len(top) == 1 else None
    return None


def _gold_winner(task: Task) -> int | None:
    gold = task.gold_answer or {}
    if "winner" in gold:
        return gold["winner"]
    if "ranking" in gold and len(gold["ranking"][0]) == 1:
        return gold["ranking"][0][0]
    return None


def annotator_figures(
    rows: Sequence[Row], answers: dict[int, list[int]], tasks: dict[int, Task]
) -> dict[int, dict[str, Any]]:
    by_task = _by_task(rows)
    out: dict[int, dict[str, Any]] = {}
    for annotator_id in sorted({row.annotator_id for row in rows}):
        mine = [row for row in rows if row.annotator_id == annotator_id]
        counted = [row for row in mine if row.status in COUNTED]
        skipped = sum(row.status == AnnotationStatus.SKIPPED for row in mine)
        gold = [row.gold_correct for row in counted if row.gold_correct is not None]
        times = [row.time_spent_ms for row in counted if row.time_spent_ms]
        agree = compared = 0
        first_wins = decisive = 0
        gold_first = gold_n = 0
        others_first = others_n = 0
        for row in counted:
            ids = answers[row.task_id]
            others = [o for o in by_task[row.task_id] if o.annotator_id != annotator_id]
            row_agree, row_compared = _agreement_with(row, others, ids)
            agree += row_agree
            compared += row_compared
            winner = _winner(row)
            if winner is None or not row.display_order:
                continue
            first = row.display_order[0]
            decisive += 1
            first_wins += winner == first
            gold_winner = _gold_winner(tasks[row.task_id]) if tasks[row.task_id].is_gold else None
            if gold_winner is not None:
                gold_n += 1
                gold_first += gold_winner == first
            for other in others:
                other_winner = _winner(other)
                if other_winner is not None:
                    others_n += 1
                    others_first += other_winner == first
        out[annotator_id] = {
            "annotations": len(counted),
            "skipped": skipped,
            "skip_rate": _figure(skipped / len(mine) if mine else None, len(mine)),
            "gold_accuracy": _figure(sum(gold) / len(gold) if gold else None, len(gold)),
            "median_time_ms": _figure(statistics.median(times) if times else None, len(times)),
            "agreement_with_others": _figure(agree / compared if compared else None, compared),
            # Tau-b and the alphas of this annotator against each other one on shared tasks.
            "with_others": agreement_figures(rows, answers, focus=annotator_id),
            "position_bias": {
                # How often the answer this labeler saw first won, against how often the gold
                # answer and the other labelers' choices happened to be that same answer.
                "first_shown_wins": _figure(first_wins / decisive if decisive else None, decisive),
                "expected_from_gold": _figure(gold_first / gold_n if gold_n else None, gold_n),
                "expected_from_others": _figure(
                    others_first / others_n if others_n else None, others_n
                ),
            },
        }
    return out


def project_quality(*, project: Project) -> dict[str, Any]:
    rows, answers, _ = _load(Annotation.objects.filter(project=project))
    counted = [row for row in rows if row.status in COUNTED]
    gold = [row.gold_correct for row in counted if row.gold_correct is not None]
    times = [row.time_spent_ms for row in counted if row.time_spent_ms]
    skipped = sum(row.status == AnnotationStatus.SKIPPED for row in rows)
    return {
        "annotations": len(counted),
        "annotators": len({row.annotator_id for row in rows}),
        "tasks_with_overlap": sum(1 for g in _by_task(rows).values() if len(g) >= 2),
        **agreement_figures(rows, answers),
        "gold_accuracy": _figure(sum(gold) / len(gold) if gold else None, len(gold)),
        "skip_rate": _figure(skipped / len(rows) if rows else None, len(rows)),
        "median_time_ms": _figure(statistics.median(times) if times else None, len(times)),
    }


def annotator_quality(*, project: Project) -> list[dict[str, Any]]:
    rows, answers, tasks = _load(Annotation.objects.filter(project=project))
    figures = annotator_figures(rows, answers, tasks)
    names = dict(get_user_model().objects.filter(pk__in=figures).values_list("pk", "username"))
    return [
        {"annotator": pk, "username": names.get(pk, ""), **figure} for pk, figure in figures.items()
    ]


def task_quality(*, task: Task) -> dict[str, Any]:
    rows, answers, _ = _load(Annotation.objects.filter(task=task))
    group = _by_task(rows).get(task.pk, [])
    ids = answers.get(task.pk) or list(
        task.task_completions.order_by("position").values_list("completion_id", flat=True)
    )
    return {
        "task": task.pk,
        "kind": task.kind,
        "annotations": len(group),
        "required_annotations": task.required_annotations,
        **agreement_figures(rows, answers),
        "consensus": consensus(group, ids),
    }


def annotator_recent_agreement(
    *, annotator_id: int, windows: Mapping[int, int | None]
) -> dict[int, dict[str, Any]]:
    """The annotator's agreement with others (as in `annotator_figures`) per project, over a
    bounded window of their latest work: their counted annotations in each project of
    `windows` with an id at least the one given (None: all of them). Two queries whatever
    the project's size: the window's tasks with every counted annotation on them, and the
    answers of the tasks that others annotated too.

    Returns {project_id: {"value", "n" (preference pairs compared), "tasks"}}."""
    if not windows:
        return {}
    scope = Q()
    for project_id, first_id in windows.items():
        scope |= Q(project_id=project_id) & (Q(id__gte=first_id) if first_id else Q())
    mine = Annotation.objects.filter(scope, annotator_id=annotator_id, status__in=COUNTED)
    project_of: dict[int, int] = {}
    rows: list[Row] = []
    # Index annotation_by_annotator finds the window; the unique (task, annotator) index
    # finds the others' annotations on its tasks.
    for values in (
        Annotation.objects.filter(task_id__in=mine.values("task_id"), status__in=COUNTED)
        .values("project_id", *ROW_FIELDS)
        .order_by("id")
    ):
        project_of[values["task_id"]] = values.pop("project_id")
        rows.append(Row(**values))
    by_task = {
        task_id: group
        for task_id, group in _by_task(rows).items()
        if len(group) > 1 and any(row.annotator_id == annotator_id for row in group)
    }
    answers = _answers(by_task) if by_task else {}
    counts: dict[int, list[int]] = {project_id: [0, 0, 0] for project_id in windows}
    for task_id, group in by_task.items():
        (row,) = [row for row in group if row.annotator_id == annotator_id]
        others = [other for other in group if other.annotator_id != annotator_id]
        agree, compared = _agreement_with(row, others, answers[task_id])
        tally = counts[project_of[task_id]]
        tally[0] += agree
        tally[1] += compared
        tally[2] += compared > 0
    return {
        project_id: {**_figure(agree / compared if compared else None, compared), "tasks": tasks}
        for project_id, (agree, compared, tasks) in counts.items()
    }
