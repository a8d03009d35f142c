"""Preference snapshot build: pairs per second and peak memory, streaming vs naive.

Loads N rankings of K=4 answers into PostgreSQL with COPY (one prompt, one task and one
ranking annotation each: N * 6 pairs), then runs, each in its own child process so that peak
RSS is its own:

- stream: the real build (`snapshot_create` + `snapshot_build`): chunks of prompts, JSONL
  written and hashed as it goes, then the `datasets` copy (save_to_disk) and the card;
- naive: the baseline the issue names: materialize the queryset (annotations, answers,
  texts, prompts) in memory, expand every ranking to pairs in one list, then write JSONL.
  It does less work (no hash, no `datasets` copy, no card), so its speed is flattering.

Prints pairs/s and peak RSS of each and the ratios (naive / stream memory, stream / naive
speed). Target: the stream's peak under 300 MB whatever N.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/flywheel_bench_snapshot \
        .venv/bin/python bench/snapshot.py --rankings 1000000 --fresh

Only public tools: time.perf_counter, resource.getrusage (ru_maxrss).
"""

from __future__ import annotations

import argparse
import io
import json
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
# DEBUG off as on a worker: with DEBUG on, Django keeps the last 9,000 SQL strings in memory,
# which would be counted against the build's peak.
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")
os.environ.setdefault("ALLOWED_HOSTS", "localhost")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flywheel.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

K = 4
TARGET_MB = 300


def recreate_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def load(n: int) -> int:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from labeling.models import Project
    from labeling.services import project_create

    slug = f"bench-snap-{n}"
    existing = Project.objects.filter(slug=slug).first()
    if existing is not None:
        print(f"reusing the {n:,}-ranking project loaded before (--fresh reloads)")
        return existing.pk
    project = project_create(name=f"bench snapshot {n}", slug=slug)
    user = get_user_model().objects.create(username=f"bench-labeler-{n}")
    rng = random.Random(0)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        ids = {}
        for table in ("prompt", "completion", "task", "annotation"):
            cursor.execute(f"SELECT coalesce(max(id), 0) FROM labeling_{table}")
            ids[table] = cursor.fetchone()[0] + 1
        raw = cursor.connection
        cursor.execute("SET session_replication_role = replica")

        def copy(table: str, columns: str, rows) -> None:
            with raw.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as pipe:
                buffer = io.StringIO()
                for count, row in enumerate(rows, 1):
                    buffer.write("\t".join(row) + "\n")
                    if count % 50_000 == 0:
                        pipe.write(buffer.getvalue())
                        buffer = io.StringIO()
                pipe.write(buffer.getvalue())

        now = "2026-01-01 00:00:00+00"
        types = ("qa", "code", "math", "creative")
        p0, c0, t0, a0 = ids["prompt"], ids["completion"], ids["task"], ids["annotation"]
        copy(
            "labeling_prompt",
            "id, project_id, messages, system, task_type, source, status, filter_reasons, "
            "content_hash, meta, created_at",
            (
                (
                    str(p0 + i),
                    str(project.pk),
                    json.dumps([{"role": "user", "content": f"bench question {i}: explain it"}]),
                    "",
                    types[i % 4],
                    "bench",
                    "active",
                    "[]",
                    f"{n}-{i}",
                    "{}",
                    now,
                )
                for i in range(n)
            ),
        )
        copy(
            "labeling_completion",
            "id, prompt_id, text, model_name, params, meta, created_at",
            (
                (
                    str(c0 + i * K + a),
                    str(p0 + i),
                    f"answer {a} to question {i}, a sentence or two long as answers are.",
                    f"model-{a}",
                    "{}",
                    "{}",
                    now,
                )
                for i in range(n)
                for a in range(K)
            ),
        )
        copy(
            "labeling_task",
            "id, project_id, prompt_id, kind, status, required_annotations, submitted_count, "
            "active_leases, is_gold, reference, source, meta, created_at",
            (
                (
                    str(t0 + i),
                    str(project.pk),
                    str(p0 + i),
                    "ranking",
                    "complete",
                    "1",
                    "1",
                    "0",
                    "f",
                    "",
                    "{}",
                    "{}",
                    now,
                )
                for i in range(n)
            ),
        )
        copy(
            "labeling_taskcompletion",
            "task_id, completion_id, position",
            ((str(t0 + i), str(c0 + i * K + a), str(a)) for i in range(n) for a in range(K)),
        )

        def annotation(i: int) -> tuple:
            order = [c0 + i * K + a for a in range(K)]
            rng.shuffle(order)
            return (
                str(a0 + i),
                str(project.pk),
                str(t0 + i),
                str(user.pk),
                "ranking",
                "submitted",
                json.dumps({"ranking": [[c] for c in order]}),
                json.dumps(order),
                "30000",
                "{}",
                "{}",
                "f",
                "",
                now,
                now,
            )

        copy(
            "labeling_annotation",
            "id, project_id, task_id, annotator_id, kind, status, payload, display_order, "
            "time_spent_ms, flags, ratings, none_acceptable, skip_reason, submitted_at, "
            "updated_at",
            (annotation(i) for i in range(n)),
        )
        for table in ("prompt", "completion", "task", "taskcompletion", "annotation"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('labeling_{table}', 'id'), "
                f"(SELECT max(id) FROM labeling_{table}))"
            )
        cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute("ANALYZE")
    print(f"loaded {n:,} rankings in {time.perf_counter() - started:.1f} s", flush=True)
    return project.pk


RECIPE = {"kind": "preference", "preference_sources": ["rankings"], "validation_fraction": 0.05}


def run_stream(project_id: int) -> dict:
    from labeling.exports import snapshot_build, snapshot_create
    from labeling.models import Project

    project = Project.objects.get(pk=project_id)
    started = time.perf_counter()
    snap = snapshot_create(project=project, name="bench", recipe=RECIPE, enqueue=False)
    snap = snapshot_build(snapshot=snap)
    seconds = time.perf_counter() - started
    assert snap.status == "ready", snap.error
    size = sum(f.stat().st_size for f in Path(snap.path).rglob("*") if f.is_file())
    return {"pairs": snap.rows_done, "seconds": seconds, "bytes": size, "hash": snap.content_hash}


def run_naive(project_id: int) -> dict:
    """Everything in memory first: the queryset, the answers, the texts, every pair."""
    from labeling.exports.pairs import ranking_votes, votes_aggregate
    from labeling.models import Annotation, Completion, Prompt, TaskCompletion

    started = time.perf_counter()
    annotations = list(
        Annotation.objects.filter(project_id=project_id, kind="ranking").select_related("task")
    )
    prompts = {p.pk: p for p in Prompt.objects.filter(project_id=project_id)}
    texts = dict(Completion.objects.filter(prompt__project_id=project_id).values_list("pk", "text"))
    answers: dict[int, list[int]] = {}
    for task_id, completion_id in TaskCompletion.objects.filter(
        task__project_id=project_id
    ).values_list("task_id", "completion_id"):
        answers.setdefault(task_id, []).append(completion_id)
    rows = []
    for ann in annotations:
        prompt = prompts[ann.task.prompt_id]
        conversation = list(prompt.messages)
        votes = ranking_votes(ann.payload["ranking"], ratings=ann.ratings, annotation=ann.pk)
        for pair in votes_aggregate(votes, aggregation="all", tie_policy="drop"):
            rows.append(
                {
                    "prompt": conversation,
                    "chosen": [{"role": "assistant", "content": texts[pair.chosen]}],
                    "rejected": [{"role": "assistant", "content": texts[pair.rejected]}],
                    "margin": pair.margin,
                    "task_type": prompt.task_type,
                    "task_id": ann.task_id,
                }
            )
    with tempfile.TemporaryDirectory() as folder, open(Path(folder) / "train.jsonl", "w") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")
    return {"pairs": len(rows), "seconds": time.perf_counter() - started}


def child(mode: str, project_id: int) -> None:
    import django

    django.setup()
    result = (run_stream if mode == "stream" else run_naive)(project_id)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result), flush=True)


def measure(mode: str, project_id: int, artifacts: str) -> dict:
    env = {**os.environ, "FLYWHEEL_ARTIFACT_DIR": artifacts}
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--project", str(project_id)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"{mode} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rankings", type=int, default=1_000_000)
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the database")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--child", choices=["stream", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--project", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.project)
        return
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database (it is dropped with --fresh).")
    if args.fresh:
        recreate_database(url)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    project_id = load(args.rankings)
    with tempfile.TemporaryDirectory() as artifacts:
        stream = measure("stream", project_id, artifacts)
    naive = None
    if not args.skip_naive:
        with tempfile.TemporaryDirectory() as artifacts:
            naive = measure("naive", project_id, artifacts)

    def rate(result: dict) -> float:
        return result["pairs"] / result["seconds"]

    print(f"\nrankings: {args.rankings:,} of K={K} -> pairs: {stream['pairs']:,}")
    print(
        f"stream build: {stream['seconds']:8.1f} s {rate(stream):10,.0f} pairs/s "
        f"peak RSS {stream['peak_rss_mb']:7.1f} MB (output {stream['bytes'] / 1e6:,.0f} MB: "
        "JSONL + datasets copy + card)"
    )
    verdict = "met" if stream["peak_rss_mb"] < TARGET_MB else "NOT met"
    print(f"target: peak under {TARGET_MB} MB: {verdict}")
    if naive:
        print(
            f"naive build:  {naive['seconds']:8.1f} s {rate(naive):10,.0f} pairs/s "
            f"peak RSS {naive['peak_rss_mb']:7.1f} MB (JSONL only)"
        )
        print(
            f"ratio: peak memory naive/stream {naive['peak_rss_mb'] / stream['peak_rss_mb']:.2f}x, "
            f"speed stream/naive {rate(stream) / rate(naive):.2f}x"
        )


if __name__ == "__main__":
    main()
