"""Agreement report pages: a project's judgment sets and runs, the report between two rater
groups (headline numbers, per-category bars with intervals, confusion matrix, disagreements),
one item's votes for review, and the buttons that send a run to human raters."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from evaluation.models import CandidateAnswer, EvalQuestion, EvalRun, JudgmentSet, RaterGroup
from evaluation.reports import (
    agreement_groups,
    agreement_item_votes,
    agreement_report_build,
    judgment_set_get_for_user,
)
from evaluation.selectors import READ_ROLES, WRITE_ROLES, eval_run_get_for_user, eval_run_list
from evaluation.services.human import human_judgments_collect, human_tasks_create
from evaluation.services.imports import DEFAULT_FORMAT, judgments_import_upload
from flywheel.errors import DomainError
from labeling.models import Task
from labeling.selectors import project_get_for_user

MAX_DISAGREEMENTS = 200
# Below these a verdict is weak or poor; UI.md's green / amber / red for agreement.
GOOD_DECISIVE, WEAK_DECISIVE = 0.80, 0.65
GOOD_KAPPA, WEAK_KAPPA = 0.60, 0.40
SMALL_N = 30
# Groups named after a model or a judging mode: MT-Bench's gpt4_pair / gpt4_single, a run's
# judge, an imported claude-3-judge.
JUDGE_GROUP = re.compile(
    r"judge|llm|^(gpt|claude|llama|gemini|mistral|mixtral|qwen|palm|deepseek|command)"
    r"|[_-](pair|single)$",
    re.IGNORECASE,
)
# Which group of people a judge is compared with first when there are several.
PEOPLE_FIRST = ("human", "expert", "author")
LABEL_WORDS = {"model_a": "first model", "model_b": "second model", "tie": "tie"}

EXPLAIN = {
    "with_ties": (
        "How often the two groups gave the same verdict on the same item, a tie counting as "
        "its own answer. Ties are common and hard to agree on, so this is the strict number."
    ),
    "without_ties": (
        "The same, counting only the votes where both sides picked a winner: when both are "
        "sure, do they pick the same model?"
    ),
    "cohen_kappa": (
        "Agreement beyond chance on the three labels (first model, second model, tie): 0 is "
        "what guessing with the same habits would give, 1 is perfect. Above 0.6 is good."
    ),
    "krippendorff_alpha": (
        "Like kappa, but treating both groups as one pool of raters; close to kappa when the "
        "groups use the labels equally often."
    ),
    "difference": (
        "Judge-vs-people agreement minus people-vs-people agreement on the same questions. "
        "Near zero or above: the judge agrees with people about as often as people agree "
        "with each other. Clearly below zero: a person would be a better stand-in."
    ),
}


class HtmxHttpRequest(HttpRequest):
    pass


def _tone(value: float | None, good: float, weak: float) -> str:
    if value is None:
        return ""
    return "ok" if value >= good else "warn" if value >= weak else "bad"


def _pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f}%"


def _ci(ci: list | None, *, percent: bool = True) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    if percent:
        return f"{100 * ci[0]:.1f} to {100 * ci[1]:.1f}%"
    return f"{ci[0]:.2f} to {ci[1]:.2f}"


def _ci_points(ci: list | None) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f"{100 * ci[0]:+.1f} to {100 * ci[1]:+.1f} points"


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _bar(block: dict) -> dict:
    """Percent positions of a value and its interval on a 0-100 track."""
    value = block.get("agreement")
    low, high = (block.get("ci") or [None, None])[:2]
    return {
        "value": _pct(value),
        "width": 0 if value is None else round(100 * value, 1),
        "low": 0 if low is None else round(100 * low, 1),
        "span": 0 if low is None or high is None else round(100 * (high - low), 1),
        "ci": _ci(block.get("ci")),
        "n": block.get("n", 0),
        "agree": block.get("agree", 0),
    }


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:+.1f} points"


def _trust(result: dict, *, judge: bool = True) -> tuple[str, list[str], str]:
    """A verdict in plain words, the reasons, and its tone. Without a judge group (`judge`
    False) the verdict is about two groups of people agreeing, and names no judge."""
    reasons: list[str] = []
    a, b = result["group_a"], result["group_b"]
    decisive = result["without_ties"]["agreement"]
    kappa = result["cohen_kappa"]
    difference = result.get("difference") or {}
    gap = (difference.get("without_ties") or {}).get("ci") or [None, None]
    n = result["with_ties"]["n"]
    if n < SMALL_N:
        reasons.append(
            f"Only {n} compared votes: the intervals are wide and the numbers can move a lot "
            "with a few more ratings. Collect more before deciding."
        )
    if gap[1] is not None and gap[1] < 0:
        reasons.append(
            f"{'The judge' if judge else a} agrees with {b} less often than {b} "
            "agree with each other, and the interval of the difference lies below zero."
        )
    for name, block in (result.get("per_category") or {}).items():
        value = block["without_ties"]["agreement"]
        if value is None or block["without_ties"]["n"] < 10:
            continue
        if value < WEAK_DECISIVE:
            reasons.append(
                f"In {name} the groups pick the same winner only {_pct(value, 0)} of the time "
                f"(n={block['without_ties']['n']}): "
                + (
                    "do not rely on the judge there."
                    if judge
                    else "people are split there, so no judge can be checked against them."
                )
            )
        elif value < GOOD_DECISIVE:
            reasons.append(
                f"In {name} they pick the same winner {_pct(value, 0)} of the time "
                f"(n={block['without_ties']['n']}), less than elsewhere: "
                + (
                    "check the judge's verdicts there by hand."
                    if judge
                    else "people find those questions harder to call."
                )
            )
    good = (decisive or 0) >= GOOD_DECISIVE and (kappa or 0) >= WEAK_KAPPA
    if good and n >= SMALL_N and not (gap[1] is not None and gap[1] < 0):
        verdict = (
            f"When both choose a winner, {a} and {b} pick the same one {_pct(decisive, 0)} of "
            "the time. "
            + (
                "The judge can stand in for people on these kinds of questions"
                if judge
                else "These two groups of people agree well on these kinds of questions"
            )
            + ("; spot-check the cases listed below." if reasons else ".")
        )
        return verdict, reasons, "ok"
    if (decisive or 0) >= WEAK_DECISIVE:
        verdict = f"{a} and {b} agree on the winner {_pct(decisive, 0)} of the time when both " + (
            "choose one: useful for ranking models, not for deciding single cases without a "
            "person looking."
            if judge
            else "choose one: people disagree on a good share of these questions, and no rater "
            "can be held to agree with them more often than that."
        )
        return verdict, reasons, "warn"
    verdict = f"{a} and {b} agree on the winner only {_pct(decisive, 0)} of the time when " + (
        "both choose one: do not use the judge without people checking its verdicts."
        if judge
        else "both choose one: these questions are hard to call even for people; look at the "
        "disagreements before trusting any single verdict."
    )
    return verdict, reasons, "bad"


def present(result: dict, *, item_url) -> dict[str, Any]:
    """What the report template shows, formatted here so the template only lays it out."""
    out: dict[str, Any] = {"kind": result["kind"], "groups": [result["group_a"], result["group_b"]]}
    # Two groups of people (expert vs author) is a comparison of people, not a judge's test.
    judge = looks_like_judge(result["group_a"]) or looks_like_judge(result["group_b"])
    out["judge"] = judge
    if result["kind"] == "pairwise":
        verdict, reasons, tone = _trust(result, judge=judge)
        out["trust"] = {"verdict": verdict, "reasons": reasons, "tone": tone}
        difference = result.get("difference")
        out["headline"] = [
            {
                "label": "Agreement with ties",
                "value": _pct(result["with_ties"]["agreement"]),
                "detail": f"{result['with_ties']['agree']} of {result['with_ties']['n']} votes",
                "ci": _ci(result["with_ties"]["ci"]),
                "explain": EXPLAIN["with_ties"],
                "tone": "",
            },
            {
                "label": "Agreement without ties",
                "value": _pct(result["without_ties"]["agreement"]),
                "detail": (
                    f"{result['without_ties']['agree']} of {result['without_ties']['n']} votes"
                ),
                "ci": _ci(result["without_ties"]["ci"]),
                "explain": EXPLAIN["without_ties"],
                "tone": _tone(result["without_ties"]["agreement"], GOOD_DECISIVE, WEAK_DECISIVE),
            },
            {
                "label": "Cohen's kappa",
                "value": _num(result["cohen_kappa"]),
                "detail": "labels: first model / second model / tie",
                "ci": _ci(result["cohen_kappa_ci"], percent=False),
                "explain": EXPLAIN["cohen_kappa"]
                + " Coding: "
                + result["cohen_kappa_coding"]
                + ".",
                "tone": _tone(result["cohen_kappa"], GOOD_KAPPA, WEAK_KAPPA),
            },
            {
                "label": "Krippendorff's alpha",
                "value": _num(result["krippendorff_alpha"]),
                "detail": "nominal, pairs of votes",
                "ci": _ci(result["krippendorff_alpha_ci"], percent=False),
                "explain": EXPLAIN["krippendorff_alpha"],
                "tone": _tone(result["krippendorff_alpha"], GOOD_KAPPA, WEAK_KAPPA),
            },
        ]
        if difference:
            ref = difference["reference"]
            out["headline"].append(
                {
                    "label": "Judge minus people-people"
                    if judge
                    else f"{result['group_a']}-{result['group_b']} minus within "
                    f"{difference['reference_group']}",
                    "value": _signed(difference["without_ties"]["value"]),
                    "detail": (
                        f"{difference['reference_group']} agree with each other "
                        f"{_pct(ref['without_ties']['agreement'])} without ties "
                        f"({ref['without_ties']['agree']}/{ref['without_ties']['n']}), "
                        f"{_pct(ref['with_ties']['agreement'])} with ties"
                    ),
                    "ci": _ci_points(difference["without_ties"]["ci"]),
                    "explain": EXPLAIN["difference"],
                    "tone": "bad"
                    if (difference["without_ties"]["ci"][1] or 0) < 0
                    and difference["without_ties"]["ci"][1] is not None
                    else "",
                }
            )
        out["categories"] = [
            {
                "name": name,
                "with_ties": _bar(block["with_ties"]),
                "without_ties": _bar(block["without_ties"]),
                "tone": _tone(block["without_ties"]["agreement"], GOOD_DECISIVE, WEAK_DECISIVE),
                "kappa": _num(block["cohen_kappa"]),
                "difference": _signed(
                    ((block.get("difference") or {}).get("without_ties") or {}).get("value")
                ),
            }
            for name, block in (result.get("per_category") or {}).items()
        ]
        out["turns"] = [
            {
                "turn": turn,
                "with_ties": _bar(b["with_ties"]),
                "without_ties": _bar(b["without_ties"]),
            }
            for turn, b in (result.get("per_turn") or {}).items()
        ]
        matrix = result["confusion_matrix"]
        out["confusion"] = {
            "rows": matrix["rows"],
            "columns": matrix["columns"],
            "labels": [LABEL_WORDS[label] for label in matrix["labels"]],
            "cells": [
                {
                    "label": LABEL_WORDS[label],
                    "counts": [
                        {"n": n, "diagonal": i == j} for j, n in enumerate(matrix["counts"][i])
                    ],
                }
                for i, label in enumerate(matrix["labels"])
            ],
        }
        rows = result.get("disagreements") or []
        out["disagreement_count"] = len(rows)
        out["disagreements"] = [
            {
                **row,
                "said_a": _said(row["winner_a"], row),
                "said_b": _said(row["winner_b"], row),
                "url": item_url(row),
            }
            for row in rows[:MAX_DISAGREEMENTS]
        ]
        out["leaderboards"] = [
            {"group": group, "rows": [{**r, "win_rate": _pct(r["win_rate"])} for r in board]}
            for group, board in (result.get("leaderboards") or {}).items()
        ]
        rank = result.get("rank_correlation")
        out["rank"] = (
            {
                "n": rank["n_models"],
                "kendall": _num(rank["kendall_tau_b"]),
                "spearman": _num(rank["spearman"]),
            }
            if rank
            else None
        )
    scores = result.get("scores")
    if scores:
        out["scores"] = [
            {
                "label": label,
                "value": _num(scores.get(key)),
                "ci": _ci(scores.get(f"{key}_ci"), percent=False),
                "explain": explain,
            }
            for key, label, explain in (
                (
                    "spearman",
                    "Spearman",
                    "Do the two groups order the answers the same way? 1 is identical order.",
                ),
                (
                    "kendall_tau_b",
                    "Kendall tau-b",
                    "The share of answer pairs both order alike, minus those ordered oppositely.",
                ),
                (
                    "pearson",
                    "Pearson",
                    "How well one group's scores follow the other's on a straight line.",
                ),
                (
                    "mean_absolute_difference",
                    "Mean absolute difference",
                    "How far apart the scores are on average, in points of the scale.",
                ),
            )
        ]
        out["scores_n"] = scores["n"]
    return out


def _said(winner: str, row: dict) -> str:
    if winner == "model_a":
        return row["model_a"]
    if winner == "model_b":
        return row["model_b"]
    return winner


def _query(request: HttpRequest, groups: list[str], defaults: tuple[str, str]) -> dict:
    a = request.GET.get("a") or defaults[0]
    b = request.GET.get("b") or defaults[1]
    turn = request.GET.get("turn", "")
    return {
        "a": a,
        "b": b,
        "turn": int(turn) if turn.isdigit() and int(turn) > 0 else None,
        "category": request.GET.get("category", "").strip(),
    }


def looks_like_judge(group: str) -> bool:
    """A group of LLM verdicts: a run's `judge`, or one named after a model (`gpt4_pair`,
    `gpt4_single`, `claude-judge`); everything else is taken for people."""
    return group == RaterGroup.JUDGE or bool(JUDGE_GROUP.search(group))


def _defaults(groups: list[str]) -> tuple[str, str]:
    """The pair a report opens on: an LLM judge group as a and a group of people as b (human
    first, then experts, then authors); two groups of people when there is no judge."""
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


def _report_page(request, *, source: dict, title: str, back: str, item_route: str, extra: dict):
    groups = agreement_groups(**source)
    query = _query(request, groups, _defaults(groups))
    context: dict[str, Any] = {
        "title": title,
        "back": back,
        "groups": groups,
        "judge_groups": [g for g in groups if looks_like_judge(g)],
        "query": query,
        **extra,
    }
    try:
        report = agreement_report_build(
            **source,
            group_a=query["a"],
            group_b=query["b"],
            turn=query["turn"],
            category=query["category"] or None,
        )
    except DomainError as exc:
        context["error"] = str(exc)
        return render(request, "evaluation/report.html", context)

    def item_url(row: dict) -> str:
        params = {
            "q": row["question_id"],
            "a": row["model_a"],
            "b": row["model_b"],
            "turn": row["turn"],
        }
        return f"{reverse(item_route, args=[extra['source_pk']])}?{urlencode(params)}"

    context["report"] = present(report.result, item_url=item_url)
    context["categories"] = sorted((report.result.get("per_category") or {}).keys())
    context["computed_at"] = report.created_at
    return render(request, "evaluation/report.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def project_agreement(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    """The project's judgment sets and runs with links to their reports; import a file."""
    write = request.method == "POST"
    project = project_get_for_user(
        user=request.user, project_id=project_id, roles=WRITE_ROLES if write else READ_ROLES
    )
    error = ""
    if write:
        upload = request.FILES.get("file")
        name = request.POST.get("name", "")
        if upload is None:
            error = "Choose a CSV or JSONL file to import."
        else:
            try:
                judgment_set = judgments_import_upload(
                    upload=upload,
                    name=name,
                    project=project,
                    format=request.POST.get("format") or DEFAULT_FORMAT,
                    created_by=request.user,
                )
            except DomainError as exc:
                error = str(exc)
            else:
                messages.success(
                    request,
                    f"Imported {judgment_set.vote_count + judgment_set.score_count} judgments.",
                )
                return redirect("evaluation:set_report", pk=judgment_set.pk)
    sets = list(JudgmentSet.objects.filter(project=project).order_by("-id")[:100])
    runs = list(eval_run_list(project=project)[:100])
    return render(
        request,
        "evaluation/report_index.html",
        {
            "project": project,
            "sets": sets,
            "runs": runs,
            "error": error,
            "name": request.POST.get("name", ""),
            "format": request.POST.get("format", ""),
        },
        status=400 if error else 200,
    )


@require_GET
@login_required
def set_report(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    judgment_set = judgment_set_get_for_user(user=request.user, set_id=pk)
    return _report_page(
        request,
        source={"judgment_set": judgment_set},
        title=judgment_set.name,
        back=reverse("evaluation:agreement", args=[judgment_set.project_id]),
        item_route="evaluation:set_item",
        extra={
            "source_pk": judgment_set.pk,
            "judgment_set": judgment_set,
            "project": judgment_set.project,
        },
    )


@require_GET
@login_required
def run_report(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    run = eval_run_get_for_user(user=request.user, run_id=pk)
    tasks = Task.objects.filter(project=run.project, source__app="evaluation", source__run=run.pk)
    return _report_page(
        request,
        source={"run": run},
        title=run.name,
        back=reverse("evaluation:run", args=[run.pk]),
        item_route="evaluation:run_item",
        extra={
            "source_pk": run.pk,
            "run": run,
            "project": run.project,
            "human_tasks": tasks.count(),
            "human_done": sum(tasks.values_list("submitted_count", flat=True)),
        },
    )


@require_POST
@login_required
def run_human_tasks(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    run = eval_run_get_for_user(user=request.user, run_id=pk, write=True)
    overlap = request.POST.get("overlap", "2")
    try:
        tasks = human_tasks_create(run=run, overlap=int(overlap) if overlap.isdigit() else 0)
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{len(tasks)} tasks are in the raters' queue.")
    return redirect("evaluation:run_report", pk=run.pk)


@require_POST
@login_required
def run_human_collect(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    run = eval_run_get_for_user(user=request.user, run_id=pk, write=True)
    collected = human_judgments_collect(run=run)
    removed = (
        f"; removed {collected.removed} no longer submitted or accepted"
        if collected.removed
        else ""
    )
    messages.success(request, f"Recorded {collected.recorded} human votes{removed}.")
    return redirect(f"{reverse('evaluation:run_report', args=[run.pk])}?a=judge&b=human")


def _item_query(request: HttpRequest) -> dict:
    turn = request.GET.get("turn", "1")
    return {
        "question_id": request.GET.get("q", ""),
        "model_a": request.GET.get("a", ""),
        "model_b": request.GET.get("b", ""),
        "turn": int(turn) if turn.isdigit() else 1,
    }


def _item_page(request, *, source: dict, project, eval_set_ids, back: str) -> HttpResponse:
    query = _item_query(request)
    votes = agreement_item_votes(**source, **query)
    question = (
        EvalQuestion.objects.filter(eval_set__in=eval_set_ids, question_id=query["question_id"])
        .order_by("-id")
        .first()
    )
    answers = []
    if question is not None:
        by_model = {a.model: a for a in CandidateAnswer.objects.filter(question=question)}
        for label, model in (("first", query["model_a"]), ("second", query["model_b"])):
            answer = by_model.get(model)
            turns = answer.turns if answer else []
            answers.append(
                {
                    "label": label,
                    "model": model,
                    "text": turns[query["turn"] - 1] if len(turns) >= query["turn"] else "",
                }
            )
    return render(
        request,
        "evaluation/report_item.html",
        {
            "project": project,
            "query": query,
            "question": question,
            "user_turn": question.turns[query["turn"] - 1]
            if question and len(question.turns) >= query["turn"]
            else "",
            "reference": question.reference_for(query["turn"]) if question else "",
            "answers": answers,
            "votes": votes,
            "back": back,
        },
    )


@require_GET
@login_required
def set_item(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    judgment_set = judgment_set_get_for_user(user=request.user, set_id=pk)
    project = judgment_set.project
    return _item_page(
        request,
        source={"judgment_set": judgment_set},
        project=project,
        eval_set_ids=project.eval_sets.values("id"),
        back=reverse("evaluation:set_report", args=[judgment_set.pk]),
    )


@require_GET
@login_required
def run_item(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    run: EvalRun = eval_run_get_for_user(user=request.user, run_id=pk)
    return _item_page(
        request,
        source={"run": run},
        project=run.project,
        eval_set_ids=[run.eval_set_id],
        back=reverse("evaluation:run_report", args=[run.pk]),
    )
