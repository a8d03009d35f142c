"""Agreement report on the real MT-Bench judgments: time and memory.

Baseline: the same four statistics (agreement with and without ties, Cohen's kappa,
Krippendorff's alpha) with question-clustered bootstrap intervals computed the plain way, by
calling the generic ``flywheel.stats`` functions on lists of labels in every resample. The
measured path is ``evaluation.agreement.agreement_report`` (vectorised label codes).

    .venv/bin/python bench/agreement.py [--resamples 1000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluation.agreement import (  # noqa: E402
    agreement_report,
    pair_votes,
    read_judgments,
    select_votes,
    winner_label,
)
from flywheel.stats import bootstrap_ci, cohen_kappa, krippendorff_alpha  # noqa: E402

DATA = ROOT / "tests" / "data"


def _baseline(votes, resamples: int) -> dict[str, tuple[float, float, float]]:
    comparisons = pair_votes(
        select_votes(votes, groups=["gpt4_pair", "expert"], turn=1),
        group_a="gpt4_pair",
        group_b="expert",
    )
    pairs = [(winner_label(c.winner_a), winner_label(c.winner_b)) for c in comparisons]
    clusters = [c.question_id for c in comparisons]

    def with_ties(items):
        return sum(a == b for a, b in items) / len(items)

    def without_ties(items):
        kept = [(a, b) for a, b in items if a != "tie" and b != "tie"]
        return sum(a == b for a, b in kept) / len(kept)

    def kappa(items):
        return cohen_kappa([a for a, _ in items], [b for _, b in items])

    def alpha(items):
        return krippendorff_alpha([list(p) for p in items])

    return {
        fn.__name__: bootstrap_ci(pairs, fn, clusters=clusters, n_resamples=resamples)
        for fn in (with_ties, without_ties, kappa, alpha)
    }


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def _peak(fn) -> int:
    # Separate run: tracemalloc slows Python-level code several times over.
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()

    votes = (
        read_judgments(DATA / "mt_bench_human_judgments" / "human.csv").votes
        + read_judgments(DATA / "mt_bench_human_judgments" / "gpt4_pair.csv").votes
    )
    with open(DATA / "mt_bench" / "question.jsonl", encoding="utf-8") as handle:
        categories = {str(r["question_id"]): r["category"] for r in map(json.loads, handle)}

    def turn_1():
        return agreement_report(
            votes,
            group_a="gpt4_pair",
            group_b="expert",
            turn=1,
            breakdowns=False,
            n_resamples=args.resamples,
        )

    base, base_s = _timed(lambda: _baseline(votes, args.resamples))
    headline, head_s = _timed(turn_1)
    head_peak = _peak(turn_1)
    _, full_s = _timed(
        lambda: agreement_report(
            votes,
            group_a="gpt4_pair",
            group_b="expert",
            categories=categories,
            n_resamples=args.resamples,
        )
    )
    # Same resamples (same seed, same clusters): the two paths must give the same intervals.
    assert abs(base["kappa"][1] - headline["cohen_kappa_ci"][0]) < 1e-9
    assert abs(base["alpha"][2] - headline["krippendorff_alpha_ci"][1]) < 1e-9
    print(f"votes read: {len(votes)}; bootstrap resamples: {args.resamples}")
    print(f"baseline (generic stats per resample), turn 1, 4 CIs: {base_s:.2f} s")
    print(
        f"agreement_report turn 1, no breakdowns (4 CIs + difference): {head_s:.2f} s, "
        f"peak {head_peak / 2**20:.1f} MiB"
    )
    print(f"agreement_report both turns, per turn + 8 categories: {full_s:.2f} s")
    print(f"ratio baseline / agreement_report (turn 1 headline): {base_s / head_s:.1f}x")


if __name__ == "__main__":
    main()
