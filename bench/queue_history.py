"""The queue page's counts for a labeler with a long history, in PostgreSQL.

The queue shows each labeler's work per project (done today, in all, gold accuracy, sent
back). Those counts read every answer the labeler ever gave, so they grow with the history.
This bench gives one labeler HISTORY answers in a table of TOTAL (the rest by 50 others),
then times `queue_rows` (the queue page's one selector) with the covering index
`annotation_queue_stats` (an index-only scan) and without it (baseline: the foreign-key
index, then a read of each answer's row), and prints the plan of the counting query.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/flywheel_bench_history \
        .venv/bin/python bench/queue_history.py --history 100000 --total 500000

The database is dropped and recreated. Only public tools: time.perf_counter and EXPLAIN.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flywheel.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

INDEX = "annotation_queue_stats"
INDEX_SQL = (
    f"CREATE INDEX {INDEX} ON labeling_annotation (annotator_id, project_id) "
    "INCLUDE (id, status, submitted_at, gold_correct)"
)


def recreate_database() -> None:
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        sys.exit("DATABASE_URL must point at PostgreSQL: the bench measures its plans.")
    admin = {"host": db["HOST"], "port": db["PORT"] or 5432, "user": db["USER"]}
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db["NAME"]}"')
        conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


def load(history: int, total: int):
    """One project, one task per answer is not needed for counting: the answers point at one
    task and the (task, annotator) constraint is dropped in this scratch database."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from labeling.services import project_create, prompt_bulk_create, task_bulk_create

    call_command("migrate", verbosity=0)
    User = get_user_model()
    heavy = User.objects.create_user("heavy", password="x")
    others = [User.objects.create_user(f"labeler{i}", password="x") for i in range(50)]
    project = project_create(name="History", guidelines="", task_types=["qa"], created_by=heavy)
    project.show_quality_to_labelers = False  # agreement is bench/pages.py's subject
    project.save(update_fields=["show_quality_to_labelers"])
    (prompt,) = prompt_bulk_create(
        project=project,
        prompts=[{"messages": [{"role": "user", "content": "q"}], "task_type": "qa"}],
    )
    (task,) = task_bulk_create(
        project=project, tasks=[{"kind": "demonstration", "prompt": prompt.pk, "completions": []}]
    )
    every = max(1, total // history)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint "
            "WHERE conrelid = 'labeling_annotation'::regclass AND contype = 'u'"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'ALTER TABLE labeling_annotation DROP CONSTRAINT "{name}"')
        cursor.execute(
            """
            INSERT INTO labeling_annotation (task_id, annotator_id, project_id, payload,
                display_order, time_spent_ms, flags, ratings, none_acceptable, gold_correct,
                submitted_at, updated_at, kind, status, skip_reason)
            SELECT %s,
                CASE WHEN g %% %s = 0 THEN %s ELSE (%s::int[])[1 + (g %% 50)] END, %s,
                jsonb_build_object('text', repeat('x', 160)), '[]', 1000, '{}', '{}', false,
                CASE WHEN g %% 10 = 0 THEN (g %% 20 = 0) END,
                now() - (g || ' seconds')::interval, now(), 'demonstration',
                CASE WHEN g %% 17 = 0 THEN 'rejected' WHEN g %% 23 = 0 THEN 'skipped'
                     ELSE 'submitted' END, ''
            FROM generate_series(1, %s) g
            """,
            [task.pk, every, heavy.pk, [o.pk for o in others], project.pk, total],
        )
        cursor.execute("VACUUM ANALYZE labeling_annotation")
        cursor.execute(
            "SELECT count(*) FROM labeling_annotation WHERE annotator_id = %s", [heavy.pk]
        )
        (mine,) = cursor.fetchone()
    return heavy, mine


def timed(user, repeats: int) -> tuple[float, float, list[str]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from labeling.selectors.queue import queue_rows

    queue_rows(user=user)  # warm the cache
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        queue_rows(user=user)
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as ctx:
        queue_rows(user=user)
    plan = []
    for query in ctx.captured_queries:
        if "COUNT(" in query["sql"]:
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN ANALYZE " + query["sql"])
                plan = [row[0].strip() for row in cursor.fetchall()]
    ordered = sorted(times)
    return statistics.median(times), ordered[round(0.95 * (len(ordered) - 1))], plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=100_000, help="the labeler's answers")
    parser.add_argument("--total", type=int, default=500_000, help="answers in the table")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection

    recreate_database()
    connection.close()
    started = time.perf_counter()
    user, mine = load(args.history, args.total)
    print(
        f"loaded {args.total:,} answers ({mine:,} by the measured labeler) in "
        f"{time.perf_counter() - started:.1f} s"
    )

    results = {}
    for label, create in (("with the covering index", False), ("baseline: without it", True)):
        with connection.cursor() as cursor:
            if create:
                cursor.execute(f"DROP INDEX {INDEX}")
            cursor.execute("VACUUM ANALYZE labeling_annotation")
        p50, p95, plan = timed(user, args.repeats)
        results[label] = p50
        scan = next((line for line in plan if "Scan" in line), "?")
        total = next((line for line in plan if line.startswith("Execution Time")), "?")
        print(f"{label}: queue_rows p50 {p50:.1f} ms, p95 {p95:.1f} ms")
        print(f"    count query: {scan.split('  (')[0]}; {total}")
    with connection.cursor() as cursor:
        cursor.execute(INDEX_SQL)
    base, new = results["baseline: without it"], results["with the covering index"]
    print(f"ratio baseline / covering index (p50): {base / new:.2f}x")


if __name__ == "__main__":
    main()
