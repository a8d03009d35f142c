"""Stored import benchmark: the whole import service (read -> PII -> filters -> dedup -> rule
tags -> prompts stored in batches, filtered ones with reasons) against the pure funnel on the
same generated file (the baseline: no tagging, no database).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/flywheel_bench_pipewire \
        .venv/bin/python bench/pipeline_import.py [--prompts 20000]

Each phase runs in its own child process so that its peak RSS is its own. Prints prompts/s and
peak RSS of each and the ratio stored / funnel time (the price of tagging and storing).
Only public tools: time.perf_counter, resource.getrusage (ru_maxrss).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DEBUG", "0")  # Django keeps SQL strings in memory with DEBUG on
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")
os.environ.setdefault("ALLOWED_HOSTS", "localhost")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flywheel.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def _generator():
    spec = importlib.util.spec_from_file_location("bench_pipeline", ROOT / "bench" / "pipeline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_funnel(path: Path) -> None:
    from labeling.pipeline.filters import Funnel, default_filters
    from labeling.pipeline.readers import read_prompts
    from labeling.pipeline.records import ParsedPrompt

    started = time.perf_counter()
    funnel = Funnel(default_filters())
    kept = sum(
        1
        for verdict in funnel.run(p for p in read_prompts(path) if isinstance(p, ParsedPrompt))
        if verdict.kept
    )
    elapsed = time.perf_counter() - started
    print(f"RESULT funnel {elapsed:.3f} {rss_mib():.0f} kept={kept}")


def phase_stored(path: Path) -> None:
    import django

    django.setup()
    from labeling.models import Project, Prompt
    from labeling.services.pipeline import import_run_start, pipeline_run_execute

    project = Project.objects.create(
        name="bench", slug=f"bench-{os.getpid()}", task_types=["qa", "code", "creative"]
    )
    started = time.perf_counter()
    run = pipeline_run_execute(run=import_run_start(project=project, path=path, enqueue=False))
    elapsed = time.perf_counter() - started
    stored = Prompt.objects.filter(project=project).count()
    print(
        f"RESULT stored {elapsed:.3f} {rss_mib():.0f} status={run.status} stored={stored} "
        f"kept={run.counts['kept']} filtered={run.counts['filtered']} "
        f"duplicates={run.counts['duplicates']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=20_000)
    parser.add_argument("--phase", choices=["funnel", "stored"])
    parser.add_argument("--file")
    args = parser.parse_args()
    if args.phase == "funnel":
        return phase_funnel(Path(args.file))
    if args.phase == "stored":
        return phase_stored(Path(args.file))

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "prompts.jsonl"
        planted = _generator().generate(path, args.prompts, random.Random(7))
        print(
            f"generated {args.prompts:,} prompts ({path.stat().st_size / 2**20:.1f} MiB): {planted}"
        )
        results = {}
        for phase in ("funnel", "stored"):
            out = subprocess.run(
                [sys.executable, __file__, "--phase", phase, "--file", str(path)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            line = next(x for x in out.splitlines() if x.startswith("RESULT"))
            _, name, seconds, rss, *rest = line.split()
            results[name] = float(seconds)
            print(
                f"{name:7} {args.prompts:,} prompts in {float(seconds):.1f} s = "
                f"{args.prompts / float(seconds):,.0f} prompts/s, peak RSS {rss} MiB",
                " ".join(rest),
            )
        print(f"ratio stored / funnel time: {results['stored'] / results['funnel']:.2f}x")


if __name__ == "__main__":
    main()
