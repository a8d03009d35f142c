"""What the agreement report page shows: the stored report's numbers formatted for people
(percent, intervals, bar positions, item links). The verdicts and explanations themselves
come with the report (``evaluation.agreement.verdicts``), so the API says the same."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evaluation.agreement.verdicts import (
    GOOD_DECISIVE,
    GOOD_KAPPA,
    GOOD_RHO,
    WEAK_DECISIVE,
    WEAK_KAPPA,
    WEAK_RHO,
)

MAX_DISAGREEMENTS = 200
LABEL_WORDS = {"model_a": "first model", "model_b": "second model", "tie": "tie"}


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


def _rank(rank: dict | None) -> dict | None:
    """The rank correlation of the two groups' leaderboards, for the page."""
    if not rank:
        return None
    return {
        "n": rank["n_models"],
        "kendall": _num(rank["kendall_tau_b"]),
        "spearman": _num(rank["spearman"]),
    }


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


def present(result: dict, *, item_url: Callable[[dict], str]) -> dict[str, Any]:
    """What the report template shows, formatted here so the template only lays it out."""
    scores = result.get("scores")
    main = result if result["kind"] == "pairwise" else scores
    out: dict[str, Any] = {"kind": result["kind"], "groups": [main["group_a"], main["group_b"]]}
    # Two groups of people (expert vs author) is a comparison of people, not a judge's test.
    out["judge"] = main["judge"]
    if result["kind"] == "pairwise":
        explain = result["explain"]
        judge = out["judge"]
        out["trust"] = result["trust"]
        difference = result.get("difference")
        out["headline"] = [
            {
                "label": "Agreement with ties",
                "value": _pct(result["with_ties"]["agreement"]),
                "detail": f"{result['with_ties']['agree']} of {result['with_ties']['n']} votes",
                "ci": _ci(result["with_ties"]["ci"]),
                "explain": explain["with_ties"],
                "tone": "",
            },
            {
                "label": "Agreement without ties",
                "value": _pct(result["without_ties"]["agreement"]),
                "detail": (
                    f"{result['without_ties']['agree']} of {result['without_ties']['n']} votes"
                ),
                "ci": _ci(result["without_ties"]["ci"]),
                "explain": explain["without_ties"],
                "tone": _tone(result["without_ties"]["agreement"], GOOD_DECISIVE, WEAK_DECISIVE),
            },
            {
                "label": "Cohen's kappa",
                "value": _num(result["cohen_kappa"]),
                "detail": "labels: first model / second model / tie",
                "ci": _ci(result["cohen_kappa_ci"], percent=False),
                "explain": explain["cohen_kappa"]
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
                "explain": explain["krippendorff_alpha"],
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
                    "explain": explain["difference"],
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
        out["rank"] = _rank(result.get("rank_correlation"))
    if scores:
        out["scores"] = present_scores(scores, item_url=item_url)
    return out


def _said(winner: str, row: dict) -> str:
    if winner == "model_a":
        return row["model_a"]
    if winner == "model_b":
        return row["model_b"]
    return winner


# --- single-answer scores -------------------------------------------------------------------


def _score(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}".rstrip("0")


def _signed_num(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2f}"


def _ci_signed(ci: list | None) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f"{ci[0]:+.2f} to {ci[1]:+.2f}"


def _clip(value: float) -> float:
    return max(0.0, min(1.0, value))


def _rho_bar(block: dict) -> dict:
    """Percent positions of a correlation and its interval on a 0-1 track (below 0 sits at
    the left end; the number says how far below)."""
    value = block.get("spearman")
    low, high = block.get("spearman_ci") or [None, None]
    return {
        "value": _num(value),
        "width": 0 if value is None else round(100 * _clip(value), 1),
        "low": 0 if low is None else round(100 * _clip(low), 1),
        "span": 0 if low is None or high is None else round(100 * (_clip(high) - _clip(low)), 1),
        "ci": _ci(block.get("spearman_ci"), percent=False),
        "n": block.get("n", 0),
    }


def _numbers(block: dict) -> dict:
    """One breakdown row: the four statistics and the difference to people-people."""
    difference = (block.get("difference") or {}).get("spearman") or {}
    return {
        "spearman": _rho_bar(block),
        "tone": _tone(block.get("spearman"), GOOD_RHO, WEAK_RHO),
        "kendall": _num(block.get("kendall_tau_b")),
        "pearson": _num(block.get("pearson")),
        "mad": _num(block.get("mean_absolute_difference")),
        "mad_ci": _ci(block.get("mean_absolute_difference_ci"), percent=False),
        "means": f"{_num(block.get('mean_a'))} / {_num(block.get('mean_b'))}",
        "n": block.get("n", 0),
        "difference": _signed_num(difference.get("value")),
        "difference_ci": _ci_signed(difference.get("ci")),
    }


def _rater_scores(rows: list[dict]) -> list[dict]:
    return [{"score": _score(r["score"]), "rater": r["rater"]} for r in rows]


def present_scores(report: dict, *, item_url: Callable[[dict], str]) -> dict[str, Any]:
    """The score report (``score_agreement_report``) as the page shows it."""
    a, b = report["group_a"], report["group_b"]
    explain = report["explain"]
    judge = report["judge"]
    scale = report.get("scale")
    out: dict[str, Any] = {
        "trust": report["trust"],
        "judge": judge,
        "same_group": a == b,
        "n": report["n"],
        "n_items": report["n_items"],
        "scale": f"{_score(scale[0])}-{_score(scale[1])}" if scale else "",
        "pairing": explain["pairing"],
        "explain_leaderboards": explain["leaderboards"],
    }
    headline = [
        {
            "label": "Spearman",
            "value": _num(report["spearman"]),
            "detail": f"{report['n']} pairs of scores on {report['n_items']} answers",
            "ci": _ci(report["spearman_ci"], percent=False),
            "explain": explain["spearman"],
            "tone": _tone(report["spearman"], GOOD_RHO, WEAK_RHO),
        },
        {
            "label": "Kendall tau-b",
            "value": _num(report["kendall_tau_b"]),
            "detail": f"over {report['n_questions']} questions",
            "ci": _ci(report["kendall_tau_b_ci"], percent=False),
            "explain": explain["kendall_tau_b"],
            "tone": "",
        },
        {
            "label": "Pearson",
            "value": _num(report["pearson"]),
            "detail": "scores on a straight line",
            "ci": _ci(report["pearson_ci"], percent=False),
            "explain": explain["pearson"],
            "tone": "",
        },
        {
            "label": "Mean absolute difference",
            "value": _num(report["mean_absolute_difference"]),
            "detail": (
                f"points{' on ' + out['scale'] if scale else ''}; means: {a} "
                f"{_num(report['mean_a'])}, {b} {_num(report['mean_b'])}"
            ),
            "ci": _ci(report["mean_absolute_difference_ci"], percent=False),
            "explain": explain["mean_absolute_difference"],
            "tone": "",
        },
    ]
    difference = report.get("difference")
    if difference:
        reference = difference["reference"]
        group = difference["reference_group"]
        label = "Judge minus people-people" if judge else f"{a}-{b} minus within {group}"
        rho, mad = difference["spearman"], difference["mean_absolute_difference"]
        headline += [
            {
                "label": f"{label}: Spearman",
                "value": _signed_num(rho["value"]),
                "detail": (
                    f"{group} among themselves: Spearman {_num(reference['spearman'])} over "
                    f"{reference['n']} pairs of raters"
                ),
                "ci": _ci_signed(rho["ci"]),
                "explain": explain["difference"],
                "tone": "bad" if rho["ci"][1] is not None and rho["ci"][1] < 0 else "",
            },
            {
                "label": f"{label}: mean absolute difference",
                "value": _signed_num(mad["value"]),
                "detail": (
                    f"{group} among themselves are "
                    f"{_num(reference['mean_absolute_difference'])} points apart"
                ),
                "ci": _ci_signed(mad["ci"]),
                "explain": explain["difference_mad"],
                "tone": "bad" if mad["ci"][0] is not None and mad["ci"][0] > 0 else "",
            },
        ]
    out["headline"] = headline
    out["baseline_missing"] = a != b and not difference
    out["categories"] = [
        {"name": name, **_numbers(block)} for name, block in report.get("per_category", {}).items()
    ]
    out["turns"] = [
        {"turn": turn, **_numbers(block)} for turn, block in (report.get("per_turn") or {}).items()
    ]
    out["leaderboards"] = [
        {"group": group, "rows": [{**r, "mean_score": _num(r["mean_score"])} for r in board]}
        for group, board in (report.get("leaderboards") or {}).items()
    ]
    out["rank"] = _rank(report.get("rank_correlation"))
    rows = report.get("disagreements") or []
    out["disagreement_count"] = report.get("disagreement_count", len(rows))
    out["disagreement_threshold"] = _score(report.get("disagreement_threshold"))
    out["disagreements"] = [
        {
            **row,
            "said_a": _rater_scores(row["scores_a"]),
            "said_b": _rater_scores(row["scores_b"]),
            "difference": _signed_num(row["difference"]) if a != b else _num(row["difference"]),
            "url": item_url(
                {
                    "question_id": row["question_id"],
                    "model_a": row["model"],
                    "model_b": "",
                    "turn": row["turn"],
                }
            ),
        }
        for row in rows[:MAX_DISAGREEMENTS]
    ]
    return out
