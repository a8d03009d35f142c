"""What an agreement report means, in plain words: a verdict on whether the judge can stand in
for people (or, for two groups of people, how well they agree), the reasons behind it, and an
explanation of each number. Part of the report itself, so that the page, the API and
``agreement_report --json`` say the same thing.

A verdict is ``{"verdict": str, "reasons": [str], "tone": "ok" | "warn" | "bad" | ""}``; the
tone is UI.md's green / amber / red for agreement.
"""

from __future__ import annotations

from typing import Any

# Pairwise: agreement when both pick a winner, and Cohen's kappa.
GOOD_DECISIVE, WEAK_DECISIVE = 0.80, 0.65
GOOD_KAPPA, WEAK_KAPPA = 0.60, 0.40
# Scores: Spearman between the two groups' scores of the same answers.
GOOD_RHO, WEAK_RHO = 0.70, 0.40
# Models ranked alike when Kendall's tau between the two leaderboards is at least this.
GOOD_RANKING = 0.60
# A mean offset of this share of the scale is worth saying (a judge that scores higher).
OFFSET_SHARE = 0.10
SMALL_N = 30
SMALL_CATEGORY_N = 10

PAIRWISE_EXPLAIN = {
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

SCORE_EXPLAIN = {
    "pairing": (
        "Each rater of group a is compared with each rater of group b on the same answer "
        "(question, model, turn); within one group, every two different raters of an answer. "
        "A rater's repeated trials on an answer are averaged first."
    ),
    "spearman": (
        "Do the two groups put the answers in the same order? 1 is the same order, 0 no "
        "relation, below 0 the reverse order. Above 0.7 is good."
    ),
    "kendall_tau_b": (
        "For two answers, how much more often the groups agree than disagree on which is "
        "better. Lower than Spearman on the same scores."
    ),
    "pearson": (
        "How closely one group's scores follow the other's on a straight line. Unlike "
        "Spearman it is pulled around by a few large differences."
    ),
    "mean_absolute_difference": (
        "How far apart the two groups' scores of the same answer are on average, in points "
        "of the scale; 0 is identical scores. A judge can order answers well and still score "
        "every answer higher than people do."
    ),
    "difference": (
        "Judge-vs-people minus people-vs-people on the same questions. Near zero or above: the "
        "judge follows a person about as closely as two people follow each other. Clearly "
        "below zero: a person would be a better stand-in."
    ),
    "difference_mad": (
        "The judge's distance from people minus people's distance from each other. Near zero "
        "or below: the judge is no further from a person than another person is. Clearly "
        "above zero: it is further."
    ),
    "leaderboards": (
        "Each group's mean score per model over the compared answers. The rank correlation "
        "says whether the two groups put the models in the same order, even where their "
        "scores of single answers differ."
    ),
}


def _pct(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f}%"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def nothing_compared(a: str, b: str, did: str) -> str:
    """The verdict where the two groups share no item (in this turn or category): no tone,
    and what to do about it."""
    if a == b:
        return (
            f"No item has two different raters of {a} yet, so {a} cannot be compared with "
            "itself: it needs an overlap of two or more raters (or judge trials) per item."
        )
    return (
        f"There are no items that both {a} and {b} {did} yet (in this turn and category). "
        "Send the items to human raters and collect their answers, import judgments made "
        "elsewhere, or pick another turn or category."
    )


def pairwise_trust(result: dict[str, Any], *, judge: bool = True) -> dict[str, Any]:
    """The verdict on a pairwise report. Without a judge group (`judge` False) it is about two
    groups of people agreeing, and names no judge."""
    reasons: list[str] = []
    a, b = result["group_a"], result["group_b"]
    decisive = result["without_ties"]["agreement"]
    kappa = result["cohen_kappa"]
    difference = result.get("difference") or {}
    gap = (difference.get("without_ties") or {}).get("ci") or [None, None]
    n = result["with_ties"]["n"]
    if not n:
        return {"verdict": nothing_compared(a, b, "voted on"), "reasons": [], "tone": ""}
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
        if value is None or block["without_ties"]["n"] < SMALL_CATEGORY_N:
            continue
        if value < WEAK_DECISIVE:
            reasons.append(
                f"In {name} the groups pick the same winner only {_pct(value)} of the time "
                f"(n={block['without_ties']['n']}): "
                + (
                    "do not rely on the judge there."
                    if judge
                    else "people are split there, so no judge can be checked against them."
                )
            )
        elif value < GOOD_DECISIVE:
            reasons.append(
                f"In {name} they pick the same winner {_pct(value)} of the time "
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
            f"When both choose a winner, {a} and {b} pick the same one {_pct(decisive)} of "
            "the time. "
            + (
                "The judge can stand in for people on these kinds of questions"
                if judge
                else "These two groups of people agree well on these kinds of questions"
            )
            + ("; spot-check the cases listed below." if reasons else ".")
        )
        return {"verdict": verdict, "reasons": reasons, "tone": "ok"}
    if (decisive or 0) >= WEAK_DECISIVE:
        verdict = f"{a} and {b} agree on the winner {_pct(decisive)} of the time when both " + (
            "choose one: useful for ranking models, not for deciding single cases without a "
            "person looking."
            if judge
            else "choose one: people disagree on a good share of these questions, and no rater "
            "can be held to agree with them more often than that."
        )
        return {"verdict": verdict, "reasons": reasons, "tone": "warn"}
    verdict = f"{a} and {b} agree on the winner only {_pct(decisive)} of the time when " + (
        "both choose one: do not use the judge without people checking its verdicts."
        if judge
        else "both choose one: these questions are hard to call even for people; look at the "
        "disagreements before trusting any single verdict."
    )
    return {"verdict": verdict, "reasons": reasons, "tone": "bad"}


def _points(value: float) -> str:
    return f"{value:.1f} point" + ("" if round(value, 1) == 1 else "s")


def _scale_words(scale: list | None) -> str:
    if not scale or scale[0] is None:
        return ""
    lo, hi = (int(v) if float(v).is_integer() else v for v in scale)
    return f" on the {lo}-{hi} scale"


def _rho_band(value: float) -> int:
    """2 good, 1 moderate, 0 poor; on the value as shown (two decimals)."""
    shown = round(value, 2)
    return 2 if shown >= GOOD_RHO else 1 if shown >= WEAK_RHO else 0


def score_trust(report: dict[str, Any], *, judge: bool = True) -> dict[str, Any]:
    """The verdict on a score report (see ``score_agreement_report``), in the pairwise
    verdict's voice: Spearman decides the tone, the baseline of people against people, the
    categories, a systematic offset and the model ranking give the reasons."""
    a, b = report["group_a"], report["group_b"]
    who = "The judge" if judge else a
    n, rho = report["n"], report["spearman"]
    if not n:
        return {"verdict": nothing_compared(a, b, "scored"), "reasons": [], "tone": ""}
    if rho is None:
        return {
            "verdict": f"The answers that both {a} and {b} scored have no spread in the scores "
            "yet, so no correlation can be computed.",
            "reasons": [],
            "tone": "",
        }
    reasons: list[str] = []
    scale = report.get("scale")
    on_scale = _scale_words(scale)
    if n < SMALL_N:
        reasons.append(
            f"Only {n} compared scores: the intervals are wide and the numbers can move a lot "
            "with a few more ratings. Collect more before deciding."
        )
    difference = report.get("difference") or {}
    rho_gap = (difference.get("spearman") or {}).get("ci") or [None, None]
    mad_gap = difference.get("mean_absolute_difference") or {}
    below = rho_gap[1] is not None and rho_gap[1] < 0
    if below:
        reasons.append(
            f"{who} orders the answers less like {b} than {b} order them like each other, and "
            "the interval of the difference lies below zero."
        )
    mad_low = (mad_gap.get("ci") or [None, None])[0]
    if mad_low is not None and mad_low > 0:
        reasons.append(
            f"{who}'s scores are further from {b}'s than {b}'s are from each other, by "
            f"{_points(mad_gap['value'])} on average, and the interval lies above zero."
        )
    offset = report.get("mean_difference")
    spread = scale[1] - scale[0] if scale else 0
    if offset is not None and spread > 0 and abs(offset) >= OFFSET_SHARE * spread:
        reasons.append(
            f"{a} scores {_points(abs(offset))} {'higher' if offset > 0 else 'lower'} than "
            f"{b} on average{on_scale}: "
            + (
                "compare the judge's scores with each other, not with scores people gave."
                if judge
                else "the two groups use the scale differently."
            )
        )
    band = _rho_band(rho)
    for name, block in (report.get("per_category") or {}).items():
        value = block["spearman"]
        # Only the categories that fall in a worse band than the whole: the rest say nothing new.
        if value is None or block["n"] < SMALL_CATEGORY_N or _rho_band(value) >= band:
            continue
        if _rho_band(value) == 0:
            reasons.append(
                f"In {name} the two groups' scores hardly follow each other (Spearman "
                f"{_num(value)}, n={block['n']}): "
                + (
                    "do not rely on the judge there."
                    if judge
                    else "people grade those answers differently, so no judge can be checked "
                    "against them."
                )
            )
        else:
            reasons.append(
                f"In {name} they order the answers only moderately alike (Spearman "
                f"{_num(value)}, n={block['n']}): "
                + (
                    "check the judge's scores there by hand."
                    if judge
                    else "people find those answers harder to grade alike."
                )
            )
    rank = report.get("rank_correlation") or {}
    ranked_alike = None
    if rank.get("n_models", 0) >= 3 and rank.get("kendall_tau_b") is not None:
        ranked_alike = rank["kendall_tau_b"] >= GOOD_RANKING
        if not ranked_alike:
            reasons.append(
                f"The two leaderboards order the {rank['n_models']} models differently "
                f"(Kendall {_num(rank['kendall_tau_b'])}): "
                + (
                    "do not pick a model by the judge's scores alone."
                    if judge
                    else "the groups would pick different models."
                )
            )
    reference = difference.get("reference") or {}
    if judge and rho_gap[0] is not None and not below and band < 2:
        if rho_gap[0] > 0:
            reasons.append(
                f"Raters within {b} agree with each other less well still (Spearman "
                f"{_num(reference.get('spearman'))} between two of them; the interval of the "
                "difference lies above zero): these answers are hard to grade alike, and the "
                "judge follows a person more closely than another person does."
            )
        else:
            reasons.append(
                f"Raters within {b} do not agree much better among themselves (Spearman "
                f"{_num(reference.get('spearman'))} between two of them, and the interval of "
                "the difference reaches zero): the judge is about as good a stand-in as another "
                "person, and these answers are hard to grade alike."
            )
    mad = report["mean_absolute_difference"]
    if band == 2 and n >= SMALL_N and not below:
        verdict = (
            f"{a} and {b} put the answers in much the same order (Spearman {_num(rho)}) and "
            f"are {_points(mad)} apart on average{on_scale}. "
            + (
                "The judge can stand in for people in grading these kinds of answers"
                if judge
                else "These two groups of people grade these kinds of answers alike"
            )
            + ("; spot-check the cases listed below." if reasons else ".")
        )
        return {"verdict": verdict, "reasons": reasons, "tone": "ok"}
    if band >= 1:
        ranking = " (their leaderboards agree)" if ranked_alike else ""
        verdict = (
            f"{a} and {b} order the answers only moderately alike (Spearman {_num(rho)}) and "
            f"are {_points(mad)} apart on average{on_scale}: "
            + (
                f"useful for comparing models over many answers{ranking}, not for grading a "
                "single answer without a person looking."
                if judge
                else "people grade a good share of these answers differently, and no rater can "
                "be held to follow them more closely than that."
            )
        )
        return {"verdict": verdict, "reasons": reasons, "tone": "warn"}
    verdict = (
        f"{a} and {b} hardly order the answers alike (Spearman {_num(rho)}) and are "
        f"{_points(mad)} apart on average{on_scale}: "
        + (
            "do not use the judge's scores without people checking them."
            if judge
            else "these answers are hard to grade alike even for people; look at the largest "
            "differences before trusting any single score."
        )
    )
    return {"verdict": verdict, "reasons": reasons, "tone": "bad"}
