"""Print the agreement between two rater groups of a judgment set (or an eval run)."""

import json

from django.core.management.base import BaseCommand, CommandError

from evaluation.agreement import STATISTICS
from evaluation.models import EvalRun, JudgmentSet
from evaluation.reports import (
    DEFAULT_RESAMPLES,
    agreement_choices,
    agreement_default_groups,
    agreement_report_build,
)
from flywheel.errors import DomainError


def _pct(block: dict) -> str:
    value = block.get("agreement")
    return "n/a" if value is None else f"{100 * value:.1f}% ({block['agree']}/{block['n']})"


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _signed(value) -> str:
    return "n/a" if value is None else f"{value:+.3f}"


def _ci(ci) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f"  [95% {ci[0]:.3f} to {ci[1]:.3f}]"


def _ci_pct(ci) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f"  [95% {100 * ci[0]:.1f}% to {100 * ci[1]:.1f}%]"


def _points(block: dict) -> str:
    """An agreement difference in percentage points, with its interval."""
    value, ci = block.get("value"), block.get("ci")
    if value is None:
        return "n/a"
    text = f"{100 * value:+.1f} points"
    if ci and ci[0] is not None and ci[1] is not None:
        text += f"  [95% {100 * ci[0]:+.1f} to {100 * ci[1]:+.1f}]"
    return text


def _range_pct(ci) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f" [{100 * ci[0]:.1f} to {100 * ci[1]:.1f}]"


def _headline(block: dict) -> str:
    """One line of a breakdown: both agreements with n and interval, and kappa."""
    with_ties, without_ties = block["with_ties"], block["without_ties"]
    return (
        f"{_pct(with_ties)}{_range_pct(with_ties.get('ci'))} with ties, "
        f"{_pct(without_ties)}{_range_pct(without_ties.get('ci'))} without, "
        f"kappa {_num(block['cohen_kappa'])}"
    )


class Command(BaseCommand):
    help = "Agreement between rater groups --a and --b (judge vs human, human vs human, …)."

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--name", help="An imported judgment set.")
        source.add_argument("--run", type=int, help="An eval run id.")
        parser.add_argument(
            "--a",
            dest="group_a",
            help="A rater group (default: the LLM judge group, as the report page opens on).",
        )
        parser.add_argument(
            "--b",
            dest="group_b",
            help="Another group, or the same one for rater against "
            "rater (default: the people's group).",
        )
        parser.add_argument("--turn", type=int, default=None)
        parser.add_argument("--category", default=None)
        parser.add_argument(
            "--resamples",
            type=int,
            default=None,
            help=f"Bootstrap resamples (default {DEFAULT_RESAMPLES}).",
        )
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args, name, run, group_a, group_b, turn, category, resamples, as_json, **o):
        source: dict = {}
        if name is not None:
            source["judgment_set"] = JudgmentSet.objects.filter(name=name).first()
            if source["judgment_set"] is None:
                raise CommandError(f"No judgment set named {name!r}.")
        else:
            source["run"] = EvalRun.objects.filter(pk=run).first()
            if source["run"] is None:
                raise CommandError(f"No eval run {run}.")
        if not group_a or not group_b:
            default_a, default_b = agreement_default_groups(agreement_choices(**source).groups)
            group_a, group_b = group_a or default_a, group_b or default_b
        try:
            report = agreement_report_build(
                **source,
                group_a=group_a,
                group_b=group_b,
                turn=turn,
                category=category,
                n_resamples=resamples,
            )
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        result = report.result
        if as_json:
            self.stdout.write(json.dumps(result, indent=2, ensure_ascii=False))
            return
        where = f"turn {turn}" if turn else "all turns"
        if category:
            where += f", category {category}"
        self.stdout.write(f"{group_a} vs {group_b}, {where}")
        if result["kind"] == "pairwise":
            self._pairwise(result)
        scores = result.get("scores")
        if scores:
            self._scores(scores)

    def _pairwise(self, result: dict) -> None:
        write = self.stdout.write
        with_ties, without_ties = result["with_ties"], result["without_ties"]
        write(f"  agreement with ties:    {_pct(with_ties)}{_ci_pct(with_ties.get('ci'))}")
        write(f"  agreement without ties: {_pct(without_ties)}{_ci_pct(without_ties.get('ci'))}")
        write(
            f"  Cohen's kappa:          {_num(result['cohen_kappa'])}"
            f"{_ci(result.get('cohen_kappa_ci'))}"
        )
        write(
            f"  Krippendorff's alpha:   {_num(result['krippendorff_alpha'])}"
            f"{_ci(result.get('krippendorff_alpha_ci'))}"
        )
        write(f"  on {result['n_items']} items, {result['n_questions']} questions")
        difference = result.get("difference")
        if difference:
            ref = difference["reference"]
            write(
                f"  {difference['reference_group']} vs itself: "
                f"{_pct(ref['with_ties'])} with ties, {_pct(ref['without_ties'])} without"
            )
            write(f"  difference with ties:    {_points(difference['with_ties'])}")
            write(f"  difference without ties: {_points(difference['without_ties'])}")
        for turn, block in (result.get("per_turn") or {}).items():
            write(f"  turn {turn:<12} {_headline(block)}")
        for cat, block in (result.get("per_category") or {}).items():
            gap = (block.get("difference") or {}).get("without_ties") or {}
            vs = f"; vs itself {_points(gap)} without ties" if gap else ""
            write(f"  category {cat:<12} {_headline(block)}{vs}")
        matrix = result.get("confusion_matrix")
        if matrix:
            labels = matrix["labels"]
            width = max(len(label) for label in labels)
            write(f"  confusion matrix ({matrix['rows']} rows, {matrix['columns']} columns):")
            write("    " + " " * width + "".join(f" {label:>{width}}" for label in labels))
            for label, counts in zip(labels, matrix["counts"], strict=True):
                write(f"    {label:<{width}}" + "".join(f" {n:>{width}}" for n in counts))
        for group, board in (result.get("leaderboards") or {}).items():
            ranked = ", ".join(f"{row['model']} {100 * row['win_rate']:.1f}%" for row in board)
            write(f"  leaderboard {group} (win rate, ties half): {ranked}")
        rank = result.get("rank_correlation")
        if rank:
            write(
                f"  rank correlation over {rank['n_models']} models: "
                f"kendall {_num(rank['kendall_tau_b'])}, spearman {_num(rank['spearman'])}"
            )
        write(f"  {len(result.get('disagreements') or [])} disagreements (--json lists them)")
        self._trust(result["trust"])

    def _trust(self, trust: dict) -> None:
        self.stdout.write(f"  verdict: {trust['verdict']}")
        for reason in trust["reasons"]:
            self.stdout.write(f"    - {reason}")

    def _scores(self, scores: dict) -> None:
        scale = scores.get("scale")
        on = f" (scale {scale[0]:g}-{scale[1]:g})" if scale else ""
        self.stdout.write(
            f"  scores: {scores['n']} pairs on {scores['n_items']} answers, "
            f"{scores['n_questions']} questions{on}"
        )
        for key in STATISTICS:
            self.stdout.write(f"    {key:<25} {_num(scores[key])}{_ci(scores[f'{key}_ci'])}")
        difference = scores.get("difference")
        if difference:
            ref = difference["reference"]
            self.stdout.write(
                f"    {difference['reference_group']} vs itself ({ref['n']} pairs): "
                f"spearman {_num(ref['spearman'])}, "
                f"mean_absolute_difference {_num(ref['mean_absolute_difference'])}"
            )
            for key in STATISTICS:
                block = difference[key]
                self.stdout.write(
                    f"    difference {key:<14} {_signed(block['value'])}{_ci(block['ci'])}"
                )
        for label, breakdown in (("turn", "per_turn"), ("category", "per_category")):
            for name, block in (scores.get(breakdown) or {}).items():
                gap = ((block.get("difference") or {}).get("spearman") or {}).get("value")
                self.stdout.write(
                    f"    {label} {name:<12} spearman {_num(block['spearman'])}"
                    f"{_ci(block['spearman_ci'])}, mad {_num(block['mean_absolute_difference'])}"
                    f", n={block['n']}" + (f", vs itself {_signed(gap)}" if gap is not None else "")
                )
        for group, board in (scores.get("leaderboards") or {}).items():
            ranked = ", ".join(f"{row['model']} {row['mean_score']:.2f}" for row in board)
            self.stdout.write(f"    leaderboard {group}: {ranked}")
        rank = scores.get("rank_correlation")
        if rank:
            self.stdout.write(
                f"    rank correlation over {rank['n_models']} models: "
                f"kendall {_num(rank['kendall_tau_b'])}, spearman {_num(rank['spearman'])}"
            )
        self.stdout.write(
            f"    {scores['disagreement_count']} answers differ by "
            f"{scores['disagreement_threshold']:g} points or more"
        )
        self._trust(scores["trust"])
