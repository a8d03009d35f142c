"""Print the agreement between two rater groups of a judgment set (or an eval run)."""

import json

from django.core.management.base import BaseCommand, CommandError

from evaluation.models import EvalRun, JudgmentSet
from evaluation.reports import DEFAULT_RESAMPLES, agreement_report_build
from flywheel.errors import DomainError


def _pct(block: dict) -> str:
    value = block.get("agreement")
    return "n/a" if value is None else f"{100 * value:.1f}% ({block['agree']}/{block['n']})"


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


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
        scores = result.get("scores")
        if scores:
            for key in ("spearman", "kendall_tau_b", "pearson", "mean_absolute_difference"):
                value = scores.get(key)
                value = value.get("value") if isinstance(value, dict) else value
                self.stdout.write(f"  {key}: {_num(value)}")
