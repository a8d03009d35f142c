"""Pipeline benchmark: import + all filters + dedup on generated prompts, near-duplicate
precision/recall on a planted set, and MinHash LSH dedup time against the exact all-pairs
baseline.

    .venv/bin/python bench/pipeline.py [--prompts 100000] [--pairs 10000] [--threshold 0.8]

Figures: prompts/second and peak RSS for the full funnel (read JSONL -> PII redaction ->
length, garbage, repetition, blocklist, language, exact dup, near dup); precision and recall of
the MinHash near-duplicate filter against the exact Jaccard truth from all-pairs (and against
the planted labels); the ratio all-pairs time / MinHash time on the same prompts.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

# The pipeline's pure parts need no Django set-up: run from the checkout as it is.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from labeling.pipeline.dedup import (
    all_pairs_near_duplicates,
    jaccard,
    near_duplicates,
    shingles,
)
from labeling.pipeline.filters import Funnel, default_filters
from labeling.pipeline.readers import read_prompts
from labeling.pipeline.records import ParsedPrompt

TEMPLATES = [
    "Explain to a beginner how {w} relates to {w} and why {w} matters.",
    "Write a short story about {w} who finds a {w} in the {w}.",
    "What is the difference between {w} and {w} when you {w}?",
    "Summarize the following notes about {w}: {w} {w} {w}.",
    "Give me five ideas for a {w} themed {w} party.",
    "How do I fix the {w} error in my {w} project?",
    "Translate this sentence about {w} into French: the {w} is {w}.",
    "Can you compare {w} with {w} for a {w} use case?",
]


def _vocabulary(rng: random.Random, size: int = 20_000) -> list[str]:
    syllables = ["ka", "lo", "mi", "ren", "to", "sha", "vi", "dor", "el", "an", "qu", "zu", "pe"]
    words = set()
    while len(words) < size:
        words.add("".join(rng.choices(syllables, k=rng.randint(2, 4))))
    return sorted(words)


def _prompt(rng: random.Random, vocab: list[str]) -> str:
    template = rng.choice(TEMPLATES)
    text = template.replace("{w}", "{}").format(*(rng.choice(vocab) for _ in range(9)))
    tail = " ".join(rng.choices(vocab, k=rng.randint(12, 30)))
    return f"{text} Context: {tail}."


def _near_copy(rng: random.Random, text: str, vocab: list[str]) -> str:
    words = text.split()
    for _ in range(rng.randint(1, 2)):
        position = rng.randrange(len(words))
        op = rng.random()
        if op < 0.5:
            words[position] = rng.choice(vocab)
        elif op < 0.8:
            words.insert(position, rng.choice(vocab))
        elif len(words) > 5:
            del words[position]
    return " ".join(words)


def generate(path: Path, count: int, rng: random.Random) -> dict[str, int]:
    """JSONL of `count` prompts: mostly clean, with planted dups, near dups, junk and PII."""
    vocab = _vocabulary(rng)
    recent: list[str] = []
    planted = dict.fromkeys(["exact", "near", "short", "repetitive", "garbage", "pii"], 0)
    with path.open("w") as handle:
        for i in range(count):
            roll = rng.random()
            if roll < 0.05 and recent:
                text, kind = rng.choice(recent), "exact"
            elif roll < 0.10 and recent:
                text, kind = _near_copy(rng, rng.choice(recent), vocab), "near"
            elif roll < 0.11:
                text, kind = "hi", "short"
            elif roll < 0.12:
                text, kind = "tell me a joke " * 8, "repetitive"
            elif roll < 0.13:
                text, kind = "Itâ€™s " + _prompt(rng, vocab), "garbage"
            elif roll < 0.15:
                text, kind = _prompt(rng, vocab) + " Mail me at a.b@example.com", "pii"
            else:
                text, kind = _prompt(rng, vocab), None
                recent.append(text)
                if len(recent) > 1000:
                    recent.pop(0)
            if kind:
                planted[kind] += 1
            record = {"messages": [{"role": "user", "content": text}], "id": i}
            handle.write(json.dumps(record) + "\n")
    return planted


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_funnel(path: Path, count: int) -> None:
    before = rss_mib()
    funnel = Funnel(default_filters(blocklist=["forbidden", "secret plan"], languages=["en"]))
    started = time.perf_counter()
    prompts = (p for p in read_prompts(path) if isinstance(p, ParsedPrompt))
    kept = sum(1 for verdict in funnel.run(prompts) if verdict.kept)
    elapsed = time.perf_counter() - started
    report = funnel.report
    print(f"funnel: {count:,} prompts in {elapsed:.1f} s = {count / elapsed:,.0f} prompts/s")
    print(f"  peak RSS {rss_mib():.0f} MiB (before the run {before:.0f} MiB)")
    print(
        f"  kept {kept:,}; PII redacted in {report.prompts_with_pii:,} prompts {dict(report.pii)}"
    )
    for stage in report.stages:
        print(f"  {stage.name:16} removed {stage.removed:7,}  {dict(stage.reasons)}")


def bench_dedup(count: int, threshold: float, rng: random.Random) -> None:
    vocab = _vocabulary(rng)
    texts: list[tuple[str, str]] = []
    planted: set[str] = set()
    originals: list[str] = []
    for i in range(count):
        if originals and rng.random() < 0.1:
            texts.append((f"p{i}", _near_copy(rng, rng.choice(originals), vocab)))
            planted.add(f"p{i}")
        else:
            text = _prompt(rng, vocab)
            originals.append(text)
            texts.append((f"p{i}", text))

    started = time.perf_counter()
    found = near_duplicates(texts, threshold=threshold)
    minhash_s = time.perf_counter() - started

    started = time.perf_counter()
    truth = all_pairs_near_duplicates(texts, threshold=threshold)
    all_pairs_s = time.perf_counter() - started

    hits = set(found) & set(truth)
    precision = len(hits) / len(found) if found else 1.0
    recall = len(hits) / len(truth) if truth else 1.0
    planted_hits = len(set(found) & planted)
    by_key = dict(texts)
    # Planted copies whose true Jaccard with their source is at the threshold or above.
    reachable = sum(1 for key in planted if key in truth)
    print(f"dedup on {count:,} prompts (threshold Jaccard {threshold}, 128 permutations):")
    print(f"  MinHash LSH {minhash_s:.2f} s; all-pairs exact {all_pairs_s:.1f} s")
    print(f"  ratio all-pairs / MinHash = {all_pairs_s / minhash_s:.1f}x")
    print(
        f"  vs exact truth: precision {precision:.3f}, recall {recall:.3f} "
        f"({len(found)} flagged, {len(truth)} true)"
    )
    print(
        f"  planted near copies: {len(planted)}, {reachable} at or above the threshold; "
        f"MinHash caught {planted_hits} "
        f"(recall on reachable {planted_hits / max(reachable, 1):.3f})"
    )
    false = [k for k in found if k not in truth][:1]
    for key in false:
        other = found[key].key
        exact = jaccard(shingles(by_key[key]), shingles(by_key[other]))
        print(f"  a false positive: estimate {found[key].similarity}, exact {exact:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--threshold", type=float, default=0.8)
    args = parser.parse_args()
    rng = random.Random(2026)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "prompts.jsonl"
        started = time.perf_counter()
        planted = generate(path, args.prompts, rng)
        size = path.stat().st_size / 2**20
        print(
            f"generated {args.prompts:,} prompts ({size:.0f} MiB) "
            f"in {time.perf_counter() - started:.1f} s; planted {planted}"
        )
        bench_funnel(path, args.prompts)
    bench_dedup(args.pairs, args.threshold, rng)


if __name__ == "__main__":
    main()
