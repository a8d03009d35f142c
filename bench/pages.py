"""Server time and query count of the labeler pages with 1,000,000 tasks in PostgreSQL.

Measures, through Django's test client (the whole request: middleware, view, services,
template; no network), p50 / p95 of:

- the queue page (GET /queue/),
- a ranking task page (GET /tasks/<id>/, full page),
- "submit and next" (htmx POST /tasks/<id>/submit/: saves the ranking, claims the next task
  and renders its work area),

the web process's own CPU time per request (time.process_time: load on a shared machine
inflates wall time, not this), and the number of SQL queries each makes, at a small
project (baseline) and at the big one. Another labeler answers the tasks first (overlap 2,
every third ranking reversed), so the measured labeler's queue page computes their agreement
with others over a full window of their latest answers.
Prints two ratios: p95 against the 50 ms target, and queries at the big size against the
small one (should be 1.0: a constant number of queries).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/flywheel_bench_pages \
        .venv/bin/python bench/pages.py --size 1000000 --requests 200 --fresh

Tasks are loaded with COPY by bench/claim.py's loader. Only public tools: time.perf_counter.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flywheel.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

TARGET_MS = 50.0
SMALL = 1_000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def measure(project_id: int, requests: int, tag: str) -> dict[str, dict]:
    from django.contrib.auth import get_user_model
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from labeling.models import Assignment, AssignmentStatus, Project, Role
    from labeling.selectors.queue import queue_rows
    from labeling.services import annotation_submit, assignment_claim, membership_set

    project = Project.objects.get(pk=project_id)
    peer = get_user_model().objects.create(username=f"{tag}-peer")
    membership_set(project=project, user=peer, role=Role.LABELER)
    for i in range(requests + 10):
        lease = assignment_claim(project=project, user=peer)
        order = sorted(lease.display_order)
        ranking = order[::-1] if i % 3 == 0 else order
        annotation_submit(task=lease.task, user=peer, data={"ranking": ranking})
    user = get_user_model().objects.create(username=f"{tag}-labeler")
    membership_set(project=project, user=user, role=Role.LABELER)
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    client.post(reverse("labeling:start", args=[project.pk]), HTTP_HX_REQUEST="true")
    times: dict[str, list[float]] = {"queue": [], "task page": [], "submit and next": []}
    cpu: dict[str, list[float]] = {name: [] for name in times}
    queries: dict[str, set[int]] = {name: set() for name in times}

    def timed(name, call):
        # DEBUG keeps the last 9,000 queries only; a full log makes the capture count 0.
        reset_queries()
        with CaptureQueriesContext(connection) as captured:
            started, started_cpu = time.perf_counter(), time.process_time()
            response = call()
            times[name].append((time.perf_counter() - started) * 1000)
            cpu[name].append((time.process_time() - started_cpu) * 1000)
        assert response.status_code == 200, (name, response.status_code)
        queries[name].add(len(captured))
        return response

    for _ in range(requests):
        lease = Assignment.objects.get(user=user, project=project, status=AssignmentStatus.ACTIVE)
        timed("queue", lambda: client.get(reverse("labeling:queue")))
        task_url = reverse("labeling:task", args=[lease.task_id])
        submit_url = reverse("labeling:submit", args=[lease.task_id])
        answer = json.dumps({"ranking": lease.display_order, "time_spent_ms": 1000})
        timed("task page", lambda url=task_url: client.get(url))
        timed(
            "submit and next",
            lambda url=submit_url, body=answer: client.post(
                url, {"answer": body}, HTTP_HX_REQUEST="true"
            ),
        )
    (row,) = [r for r in queue_rows(user=user) if r["project"].pk == project.pk]
    print(
        f"{tag}: queue agreement {row['agreement_pct']}% over {row['agreement_n']} comparisons "
        f"on {row['agreement_tasks']} tasks"
    )
    return {
        name: {
            "p50": statistics.median(values[5:] or values),  # first few warm caches
            "p95": percentile(values[5:] or values, 0.95),
            "cpu": statistics.median(cpu[name][5:] or cpu[name]),
            "queries": sorted(queries[name]),
        }
        for name, values in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="tasks in the big project")
    parser.add_argument("--requests", type=int, default=200, help="rounds of the three requests")
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the database")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database (it is filled with bench data).")
    from claim import load, recreate_database

    if args.fresh:
        recreate_database(url)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    run_id = f"p{int(time.time())}"
    results = {}
    for size in (SMALL, args.size):
        project_id = load(size)
        results[size] = measure(project_id, args.requests, f"{run_id}-{size}")
    print(f"\n{'page':<18}{'tasks':>11}{'p50 ms':>9}{'p95 ms':>9}{'CPU p50':>9}{'queries':>10}")
    for size, rows in results.items():
        for name, row in rows.items():
            q = ",".join(map(str, row["queries"]))
            print(
                f"{name:<18}{size:>11,}{row['p50']:>9.1f}{row['p95']:>9.1f}{row['cpu']:>9.1f}{q:>10}"
            )
    big, small = results[args.size], results[SMALL]
    print(
        f"\nratios at {args.size:,} tasks (p95 / {TARGET_MS:.0f} ms target; "
        f"max queries / max queries at {SMALL:,} tasks):"
    )
    for name in big:
        print(
            f"  {name:<18} p95/target {big[name]['p95'] / TARGET_MS:5.2f}   "
            f"queries {max(big[name]['queries']) / max(small[name]['queries']):4.2f}"
        )


if __name__ == "__main__":
    main()
