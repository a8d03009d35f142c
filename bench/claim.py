"""Claim and claim+submit latency at 10k, 100k and 1M tasks, with 1, 4 and 16 labelers.

Loads the tasks into PostgreSQL with COPY (one project per size, all in one table, so the big
project's rows are present while the small ones are measured), then runs labelers as threads
that each claim a task and submit a ranking, over and over. Prints p50 / p95 of the claim and
of claim+submit, the throughput, the claim query's plan, and two ratios: p95 at the largest
size against the 10k baseline (cost should not grow with the table) and against the 10 ms
target.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/flywheel_bench_claim \
        .venv/bin/python bench/claim.py --sizes 10000,100000,1000000 --fresh

Only public tools: time.perf_counter for latency, resource for peak memory.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flywheel.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

TARGET_P95_MS = 10.0
ANSWERS = 3
TASKS_PER_PROMPT = 100


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def recreate_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def load(size: int) -> int:
    """A project with `size` open ranking tasks of 3 answers, overlap 2. Returns its id."""
    from django.db import connection

    from labeling.models import Project
    from labeling.services import project_create

    existing = Project.objects.filter(slug=f"bench-{size}").first()
    if existing is not None:
        print(f"reusing the {size:,}-task project loaded before (run with --fresh to reload)")
        return existing.pk
    project = project_create(name=f"bench {size}", slug=f"bench-{size}")
    project.overlap = 2
    project.save()
    prompts = max(1, size // TASKS_PER_PROMPT)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM labeling_prompt")
        first_prompt = cursor.fetchone()[0] + 1
        cursor.execute("SELECT coalesce(max(id), 0) FROM labeling_completion")
        first_completion = cursor.fetchone()[0] + 1
        cursor.execute("SELECT coalesce(max(id), 0) FROM labeling_task")
        first_task = cursor.fetchone()[0] + 1
        raw = cursor.connection  # the psycopg 3 connection, for COPY
        # Rows are generated consistent here; skip the per-row deferred FK triggers while
        # loading (needs a superuser, which a bench database has).
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
        copy(
            "labeling_prompt",
            "id, project_id, messages, system, task_type, source, status, filter_reasons, "
            "content_hash, meta, created_at",
            (
                (
                    str(first_prompt + p),
                    str(project.pk),
                    f'[{{"role": "user", "content": "bench question {p}"}}]',
                    "",
                    "qa",
                    "bench",
                    "active",
                    "[]",
                    f"{size}-{p}",
                    "{}",
                    now,
                )
                for p in range(prompts)
            ),
        )
        copy(
            "labeling_completion",
            "id, prompt_id, text, model_name, params, meta, created_at",
            (
                (
                    str(first_completion + p * ANSWERS + a),
                    str(first_prompt + p),
                    f"answer {a} to {p}",
                    f"model-{a}",
                    "{}",
                    "{}",
                    now,
                )
                for p in range(prompts)
                for a in range(ANSWERS)
            ),
        )
        copy(
            "labeling_task",
            "id, project_id, prompt_id, kind, status, required_annotations, submitted_count, "
            "active_leases, is_gold, reference, source, meta, created_at",
            (
                (
                    str(first_task + t),
                    str(project.pk),
                    str(first_prompt + t // TASKS_PER_PROMPT),
                    "ranking",
                    "open",
                    "2",
                    "0",
                    "0",
                    "f",
                    "",
                    "{}",
                    "{}",
                    now,
                )
                for t in range(size)
            ),
        )
        copy(
            "labeling_taskcompletion",
            "task_id, completion_id, position",
            (
                (
                    str(first_task + t),
                    str(first_completion + (t // TASKS_PER_PROMPT) * ANSWERS + a),
                    str(a),
                )
                for t in range(size)
                for a in range(ANSWERS)
            ),
        )
        for table in ("prompt", "completion", "task", "taskcompletion"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('labeling_{table}', 'id'), "
                f"(SELECT max(id) FROM labeling_{table}))"
            )
        cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute("ANALYZE")
    print(f"loaded {size:>9,} tasks in {time.perf_counter() - started:6.1f} s", flush=True)
    return project.pk


def run(project_id: int, labelers: int, cycles: int, tag: str) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from labeling.models import Project, Role, Task
    from labeling.services import annotation_submit, assignment_claim, membership_set

    project = Project.objects.get(pk=project_id)
    users = []
    for i in range(labelers):
        user = get_user_model().objects.create(username=f"{tag}-{i}")
        membership_set(project=project, user=user, role=Role.LABELER)
        users.append(user)
    claims: list[float] = []
    claim_cpu: list[float] = []
    cycles_ms: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(labelers)
    errors: list[BaseException] = []

    def work(user) -> None:
        mine_claims, mine_cpu, mine_cycles = [], [], []
        try:
            barrier.wait()
            for _ in range(cycles):
                c0 = time.thread_time()
                t0 = time.perf_counter()
                lease = assignment_claim(project=project, user=user)
                t1 = time.perf_counter()
                mine_cpu.append((time.thread_time() - c0) * 1000)
                task = Task.objects.select_related("project").get(pk=lease.task_id)
                annotation_submit(task=task, user=user, data={"ranking": lease.display_order})
                t2 = time.perf_counter()
                mine_claims.append((t1 - t0) * 1000)
                mine_cycles.append((t2 - t0) * 1000)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()
            with lock:
                claims.extend(mine_claims)
                claim_cpu.extend(mine_cpu)
                cycles_ms.extend(mine_cycles)

    threads = [threading.Thread(target=work, args=(u,)) for u in users]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    return {
        "claim_p50": statistics.median(claims),
        "claim_p95": percentile(claims, 0.95),
        "claim_cpu_p50": statistics.median(claim_cpu),
        "cycle_p50": statistics.median(cycles_ms),
        "cycle_p95": percentile(cycles_ms, 0.95),
        "throughput": len(cycles_ms) / wall,
        "n": len(cycles_ms),
    }


def explain(project_id: int) -> str:
    """EXPLAIN ANALYZE of the claim statement, rolled back (it takes a slot)."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from labeling.services.assignment import _TAKE_SQL

    user = get_user_model().objects.order_by("-pk").first()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN (ANALYZE, TIMING OFF) " + _TAKE_SQL,
            {"project": project_id, "gold": False, "user": user.pk},
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--labelers", default="1,4,16")
    parser.add_argument("--cycles", type=int, default=400, help="claims+submits per run")
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the database")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database (it is filled with bench data).")
    if args.fresh:
        recreate_database(url)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    sizes = [int(s) for s in args.sizes.split(",")]
    counts = [int(c) for c in args.labelers.split(",")]
    projects = {size: load(size) for size in sizes}
    from labeling.models import Task

    print(f"table holds {Task.objects.count():,} tasks", flush=True)
    results: dict[tuple[int, int], dict] = {}
    run_id = f"r{int(time.time())}"  # fresh labelers each run: no history from the last one
    print(
        f"{'tasks':>10} {'labelers':>8} {'claim p50':>10} {'claim p95':>10} "
        f"{'claim+submit p50':>17} {'p95':>8} {'cycles/s':>9} {'n':>5} {'claim CPU p50':>14}"
    )
    for size in sizes:
        for labelers in counts:
            per_labeler = max(5, args.cycles // labelers)
            result = run(projects[size], labelers, per_labeler, f"{run_id}-s{size}-l{labelers}")
            results[(size, labelers)] = result
            print(
                f"{size:>10,} {labelers:>8} {result['claim_p50']:>8.2f}ms "
                f"{result['claim_p95']:>8.2f}ms {result['cycle_p50']:>15.2f}ms "
                f"{result['cycle_p95']:>6.2f}ms {result['throughput']:>9.1f} {result['n']:>5} "
                f"{result['claim_cpu_p50']:>12.2f}ms",
                flush=True,
            )
    largest, smallest = max(sizes), min(sizes)
    print(f"\nclaim query plan at {largest:,} tasks:\n{explain(projects[largest])}\n")
    for labelers in counts:
        big, base = results[(largest, labelers)], results[(smallest, labelers)]
        print(
            f"{labelers:>2} labelers: claim p95 at {largest:,} / at {smallest:,} (baseline) = "
            f"{big['claim_p95'] / base['claim_p95']:.2f}x; "
            f"claim p95 / {TARGET_P95_MS:.0f} ms target = {big['claim_p95'] / TARGET_P95_MS:.2f}"
        )
    with open("/proc/loadavg") as loadavg:
        print(f"load average (1, 5, 15 min) at the end: {' '.join(loadavg.read().split()[:3])}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the benchmark process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
