"""Print the agreement between two rater groups of a judgment set (or an eval run)."""

import json

from django.core.management.base import BaseCommand, CommandError

from evaluation.agreement import STATISTICS
from evaluation.models import EvalRun, JudgmentSet
from evaluation.reports import DEFAULT_RESAMPLES, agreement_report_build
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


class Command(BaseCommand):
    help = "Agreement between rater groups --a and --b (judge vs human, human vs human, …)."

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--name", help="An imported judgment set.")
        source.add_argument("--run", type=int, help="An eval run id.")
        parser.add_argument("--a", required=True, dest="group_a")
        parser.add_argument("--b", required=True, dest="group_b")
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
            self.stdout.write(f"  agreement with ties:    {_pct(result['with_ties'])}")
            self.stdout.write(f"  agreement without ties: {_pct(result['without_ties'])}")
            self.stdout.write(f"  Cohen's kappa:          {_num(result['cohen_kappa'])}")
            self.stdout.write(f"  Krippendorff's alpha:   {_num(result['krippendorff_alpha'])}")
            difference = result.get("difference")
            if difference:
                ref = difference["reference"]
                self.stdout.write(
                    f"  {difference['reference_group']} vs itself: "
                    f"{_pct(ref['with_ties'])} with ties, {_pct(ref['without_ties'])} without"
                )
            for cat, block in (result.get("per_category") or {}).items():
                self.stdout.write(
                    f"  {cat:<12} {_pct(block['with_ties'])} / {_pct(block['without_ties'])}"
                )
            self._trust(result["trust"])
        scores = result.get("scores")
        if scores:
            self._scores(scores)

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
