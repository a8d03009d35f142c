"""Agreement reports from stored rows: an eval run's judgments (judge, human, …) or an imported
judgment set, turned into ``evaluation.agreement`` records and computed there.

The bootstrap takes seconds on thousands of votes, so a computed report is stored and served
again while the judgments behind it are unchanged (``fingerprint`` hashes the records).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from evaluation.agreement import (
    Score,
    Vote,
    agreement_report,
    looks_like_judge,
    score_agreement_report,
)
from evaluation.errors import EvaluationError
from evaluation.models import (
    AgreementReport,
    EvalRun,
    ImportedJudgment,
    Judgment,
    JudgmentSet,
    JudgmentStatus,
    RaterGroup,
)
from evaluation.selectors import READ_ROLES, WRITE_ROLES
from labeling.selectors import project_get_for_user, project_list_for_user

ERROR_GROUP = "No judgments of group {group!r} here; the groups are: {groups}."
ERROR_NOTHING = "There are no judgments to compare yet."
ERROR_NO_SOURCE = "Name either a judgment set or an eval run."
DEFAULT_RESAMPLES = 1000
# Part of the fingerprint: a report stored by an older version (other keys, other pairing of
# scores; before 3 a scores-only report did not name its groups at the top) is computed again
# rather than served.
REPORT_VERSION = 3
INCONSISTENT = "tie (inconsistent)"


@dataclass
class Records:
    votes: list[Vote]
    scores: list[Score]
    # The agreement code groups raters by dropping a trailing _<number>; run raters are
    # renamed "<group>_<n>" for it and this maps the names back for people to read.
    names: dict[str, str]
    # The score range (the judge template's for a run); None: the lowest and highest seen.
    scale: tuple[float, float] | None = None

    def fingerprint(self) -> str:
        digest = hashlib.sha256(f"report v{REPORT_VERSION}\n".encode())
        for v in self.votes:
            digest.update(
                f"{v.question_id}|{v.model_a}|{v.model_b}|{v.turn}|{v.rater}|{v.winner}|{v.category}\n".encode()
            )
        for s in self.scores:
            digest.update(
                f"{s.question_id}|{s.model}|{s.turn}|{s.rater}|{s.score}|{s.trial}|{s.category}\n".encode()
            )
        return digest.hexdigest()[:40]

    @property
    def groups(self) -> list[str]:
        return sorted({v.group for v in self.votes} | {s.group for s in self.scores})


def set_records(*, judgment_set: JudgmentSet) -> Records:
    votes, scores = [], []
    rows = ImportedJudgment.objects.filter(judgment_set=judgment_set).values_list(
        "question_id", "category", "model_a", "model_b", "turn", "rater", "winner", "score", "trial"
    )
    for question_id, category, model_a, model_b, turn, rater, winner, score, trial in rows.iterator(
        chunk_size=5000
    ):
        if score is None:
            votes.append(Vote(question_id, model_a, model_b, winner, rater, turn, category or None))
        else:
            scores.append(Score(question_id, model_a, turn, rater, score, trial, category or None))
    return Records(votes=votes, scores=scores, names={})


def _vote_winner(winner: str, model_a: str, model_b: str) -> str:
    if winner == model_a:
        return "model_a"
    if winner == model_b:
        return "model_b"
    return "tie"


def run_records(*, run: EvalRun) -> Records:
    """The run's parsed judgments as records. The judge's two orders of one trial make one
    vote (FastChat's rule: a verdict that flips with the order is a tie, "inconsistent");
    every other rater's row is a vote of its own."""
    rows = (
        Judgment.objects.filter(run=run, status=JudgmentStatus.OK)
        .values_list(
            "item_id",
            "item__question__question_id",
            "item__question__category",
            "item__model_a",
            "item__model_b",
            "item__turn",
            "rater",
            "rater_group",
            "trial",
            "winner",
            "score",
        )
        .order_by("id")
    )
    names: dict[str, str] = {}
    keys: dict[tuple[str, str, int], str] = {}
    counters: dict[str, int] = defaultdict(int)

    def key_for(group: str, rater: str, trial: int) -> str:
        address = (group, rater, trial if group == RaterGroup.JUDGE else 0)
        if address not in keys:
            counters[group] += 1
            keys[address] = f"{group}_{counters[group]}"
            names[keys[address]] = (
                rater if group != RaterGroup.JUDGE else f"{rater} (trial {trial + 1})"
            )
        return keys[address]

    judge: dict[tuple, dict] = {}
    votes: list[Vote] = []
    scores: list[Score] = []
    for (
        item_id,
        qid,
        category,
        model_a,
        model_b,
        turn,
        rater,
        group,
        trial,
        winner,
        score,
    ) in rows:
        name = key_for(group, rater, trial)
        if not model_b:
            if score is not None:
                scores.append(
                    Score(qid, model_a, turn, name, score, trial, category or None, item_id)
                )
            continue
        if not winner:
            continue
        if group == RaterGroup.JUDGE:
            entry = judge.setdefault(
                (item_id, name), {"key": (qid, model_a, model_b, turn, category), "winners": []}
            )
            entry["winners"].append(_vote_winner(winner, model_a, model_b))
            continue
        votes.append(
            Vote(
                qid,
                model_a,
                model_b,
                _vote_winner(winner, model_a, model_b),
                name,
                turn,
                category or None,
                item_id,
            )
        )
    for (item_id, name), entry in judge.items():
        qid, model_a, model_b, turn, category = entry["key"]
        distinct = set(entry["winners"])
        winner = distinct.pop() if len(distinct) == 1 else INCONSISTENT
        votes.append(Vote(qid, model_a, model_b, winner, name, turn, category or None, item_id))
    return Records(votes=votes, scores=scores, names=names, scale=_run_scale(run))


def _run_scale(run: EvalRun) -> tuple[float, float] | None:
    template = run.judge_config.template if run.judge_config_id else None
    return None if template is None else (template.score_min, template.score_max)


def _records(*, judgment_set: JudgmentSet | None, run: EvalRun | None) -> Records:
    if (judgment_set is None) == (run is None):
        raise EvaluationError(ERROR_NO_SOURCE)
    return set_records(judgment_set=judgment_set) if judgment_set else run_records(run=run)


def _rename(report: dict[str, Any], names: dict[str, str]) -> None:
    if not names:
        return
    for row in report.get("disagreements") or []:
        if "rater_a" in row:
            row["rater_a"] = names.get(row["rater_a"], row["rater_a"])
            row["rater_b"] = names.get(row["rater_b"], row["rater_b"])
        for score in [*row.get("scores_a", []), *row.get("scores_b", [])]:
            score["rater"] = names.get(score["rater"], score["rater"])


def agreement_report_build(
    *,
    judgment_set: JudgmentSet | None = None,
    run: EvalRun | None = None,
    group_a: str,
    group_b: str,
    turn: int | None = None,
    category: str | None = None,
    n_resamples: int | None = None,
    seed: int = 0,
) -> AgreementReport:
    """The agreement report between two rater groups of a judgment set or an eval run: the
    stored one when the judgments have not changed since, else computed and stored.

    The result has the pairwise report's keys at the top (``with_ties``, ``without_ties``,
    ``cohen_kappa``, ``krippendorff_alpha``, ``per_category``, ``trust``, …; see
    ``evaluation.agreement.agreement_report``) when there are votes, and ``scores`` with the
    score agreement when there are scores (Spearman, Kendall, Pearson and mean absolute
    difference with intervals, per turn and category, the people-people baseline, the largest
    disagreements, leaderboards, ``trust``; see ``evaluation.agreement.score_agreement_report``).
    ``kind`` says which came first: "pairwise" or "scores"."""
    n_resamples = n_resamples or getattr(
        settings, "FLYWHEEL_EVAL_BOOTSTRAP_RESAMPLES", DEFAULT_RESAMPLES
    )
    records = _records(judgment_set=judgment_set, run=run)
    groups = records.groups
    if not groups:
        raise EvaluationError(ERROR_NOTHING)
    for group in (group_a, group_b):
        if group not in groups:
            raise EvaluationError(ERROR_GROUP.format(group=group, groups=", ".join(groups)))
    fingerprint = records.fingerprint()
    lookup = {
        "judgment_set": judgment_set,
        "run": run,
        "group_a": group_a,
        "group_b": group_b,
        "turn": turn,
        "category": category or "",
        "n_resamples": n_resamples,
        "fingerprint": fingerprint,
    }
    stored = AgreementReport.objects.filter(**lookup).first()
    if stored is not None:
        return stored
    options = {
        "group_a": group_a,
        "group_b": group_b,
        "turn": turn,
        "category": category or None,
        "n_resamples": n_resamples,
        "seed": seed,
    }
    result: dict[str, Any]
    if records.votes:
        result = {"kind": "pairwise", **agreement_report(records.votes, **options)}
        _rename(result, records.names)
    else:
        result = {"kind": "scores", "group_a": group_a, "group_b": group_b}
    if records.scores:
        result["scores"] = score_agreement_report(records.scores, scale=records.scale, **options)
        _rename(result["scores"], records.names)
    else:
        result["scores"] = None
    result["groups"] = groups
    result["rater_names"] = records.names
    # JSON round trip: the question ids of imported rows are strings, tuples become lists.
    result = json.loads(json.dumps(result))
    with transaction.atomic():
        return AgreementReport.objects.create(result=result, **lookup)


@dataclass(frozen=True)
class Choices:
    """What a report can be asked about: the rater groups, turns and categories present."""

    groups: list[str]
    turns: list[int]
    categories: list[str]


def agreement_choices(
    *, judgment_set: JudgmentSet | None = None, run: EvalRun | None = None
) -> Choices:
    """The groups, turns and categories of all the judgments (not only a filtered report's),
    for the pages' pickers."""
    if judgment_set is not None:
        groups = sorted(judgment_set.groups)
        facets = ImportedJudgment.objects.filter(judgment_set=judgment_set).values_list(
            "turn", "category"
        )
    else:
        rows = Judgment.objects.filter(run=run, status=JudgmentStatus.OK)
        groups = sorted(rows.order_by().values_list("rater_group", flat=True).distinct())
        facets = rows.values_list("item__turn", "item__question__category")
    pairs = set(facets.order_by().distinct())
    return Choices(
        groups=groups,
        turns=sorted({turn for turn, _ in pairs}),
        categories=sorted({category for _, category in pairs if category}),
    )


# Which group of people a judge is compared with first when there are several.
PEOPLE_FIRST = ("human", "expert", "author")


def agreement_default_groups(groups: list[str]) -> tuple[str, str]:
    """The pair a report opens on when none is asked for (the pages and the API): an LLM judge
    group as a and a group of people as b (human first, then experts, then authors); two
    groups of people when there is no judge; ("", "") when there are no judgments."""
    judges = sorted((g for g in groups if looks_like_judge(g)), key=lambda g: g != "judge")
    people = sorted(
        (g for g in groups if not looks_like_judge(g)),
        key=lambda g: (PEOPLE_FIRST.index(g) if g in PEOPLE_FIRST else len(PEOPLE_FIRST), g),
    )
    if judges and people:
        return judges[0], people[0]
    ordered = judges or people
    if len(ordered) >= 2:
        return ordered[0], ordered[1]
    return (ordered[0], ordered[0]) if ordered else ("", "")


def _human_note(raw_output: str) -> tuple[str, dict[str, Any]]:
    """A person's rationale and rubric scores from a collected judgment's JSON (see
    ``human_judgments_collect``); the judge's raw output is its reasoning as it stands."""
    if not raw_output.startswith("{"):
        return raw_output, {}
    try:
        data = json.loads(raw_output)
    except ValueError:
        return raw_output, {}
    if not isinstance(data, dict) or not ({"rationale", "scores"} & data.keys()):
        return raw_output, {}
    criteria = data.get("scores") if isinstance(data.get("scores"), dict) else {}
    return str(data.get("rationale") or ""), criteria


def agreement_item_votes(
    *,
    judgment_set: JudgmentSet | None = None,
    run: EvalRun | None = None,
    question_id: str,
    model_a: str,
    model_b: str,
    turn: int,
) -> list[dict[str, Any]]:
    """Every rater's verdict on one item (either model order), or every rater's score of one
    answer when ``model_b`` is empty, for reviewing a disagreement. Rows: rater, group,
    winner (a model, "tie", or the score), score, order, reasoning and rubric ``criteria``."""
    pair = {model_a, model_b}
    if judgment_set is not None:
        rows = ImportedJudgment.objects.filter(
            judgment_set=judgment_set,
            question_id=question_id,
            turn=turn,
            model_a__in=pair,
            model_b__in=pair,
        ).order_by("rater_group", "rater", "trial")
        return [
            {
                "rater": r.rater,
                "group": r.rater_group,
                "winner": {"model_a": r.model_a, "model_b": r.model_b}.get(r.winner, r.winner)
                or r.score,
                "score": r.score,
                "trial": r.trial,
                "order": "",
                "reasoning": "",
                "criteria": {},
            }
            for r in rows
        ]
    rows = Judgment.objects.filter(
        run=run,
        item__question__question_id=question_id,
        item__turn=turn,
        item__model_a__in=pair,
        item__model_b__in=pair,
    ).order_by("rater_group", "rater", "trial", "order")
    out = []
    for j in rows:
        reasoning, criteria = _human_note(j.raw_output)
        out.append(
            {
                "rater": j.rater,
                "group": j.rater_group,
                "winner": j.winner or (j.score if j.score is not None else j.status),
                "score": j.score,
                "order": j.order,
                "trial": j.trial,
                "reasoning": reasoning,
                "criteria": criteria,
            }
        )
    return out


# -- access ------------------------------------------------------------------------------------


def judgment_set_list_for_user(*, user) -> QuerySet[JudgmentSet]:
    """Sets of the user's projects (sets imported without a project are for the command line)."""
    projects = project_list_for_user(user=user, roles=READ_ROLES)
    return JudgmentSet.objects.filter(project__in=projects).order_by("id")


def judgment_set_get_for_user(*, user, set_id: int | str, write: bool = False) -> JudgmentSet:
    """The set if the user may read it (write: import into its project); 404 otherwise."""
    judgment_set = (
        JudgmentSet.objects.select_related("project")
        .filter(pk=int(set_id) if str(set_id).isdigit() else -1, project__isnull=False)
        .first()
    )
    project_get_for_user(
        user=user,
        project_id=judgment_set.project_id if judgment_set else -1,
        roles=WRITE_ROLES if write else READ_ROLES,
    )
    return judgment_set
