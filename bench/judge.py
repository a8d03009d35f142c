"""Judge run throughput: N judge calls through the real runner (thread pool bounded by the
client's limit, LLMClient, Judgment rows written in batches) against the local
OpenAI-compatible server answering after a fixed delay, then the cached re-run.

Baseline: the ideal wall time of the calls, calls x delay / concurrency. Efficiency =
ideal / measured; the target is >= 90%. The server runs in a child process so its threads
do not compete with the runner for this interpreter's lock.

    .venv/bin/python bench/judge.py --calls 2000 --delay 0.05 --concurrency 32

Wall time on a shared machine moves with whatever else runs there, so the bench also reports
CPU milliseconds per call (resource.getrusage user + sys) of this process and of the server
process, and the load average around the run: CPU per call is the figure to compare between
machines and commits; wall efficiency is the one users feel.

Runs with DEBUG off, as a worker does (DEBUG keeps a formatted copy of every SQL statement);
--debug runs with DEBUG on. Uses a fresh SQLite file unless DATABASE_URL is set. Only public
tools: time.perf_counter, resource for CPU time and peak memory, os.getloadavg.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVER = """
import resource, socketserver, sys
from flywheel.testing.openai_server import OpenAICompatServer, Reply
# The test server writes the headers and the body in two sends; without TCP_NODELAY, Nagle
# plus the client's delayed ACK hold the body ~40 ms, so every call would take ~90 ms.
socketserver.StreamRequestHandler.disable_nagle_algorithm = True
delay = float(sys.argv[1])
reply = Reply(text="Both fine; A slightly better. [[A]]", delay=delay)
server = OpenAICompatServer(lambda request: reply).start()
print(server.base_url, flush=True)
for _ in sys.stdin:  # each line asks for the CPU seconds spent so far
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(usage.ru_utime + usage.ru_stime, flush=True)
"""


def _environment(debug: bool) -> None:
    var = tempfile.mkdtemp(prefix="flywheel-bench-judge-")
    os.environ.setdefault("DEBUG", "1" if debug else "0")
    if not debug:
        os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flywheel.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{var}/bench.sqlite3")
    os.environ.setdefault("FLYWHEEL_VAR_DIR", var)


class Server:
    """The scripted server in a child process, so that its threads do not compete with the
    runner for this interpreter's lock."""

    def __init__(self, delay: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(delay)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.base_url = self.process.stdout.readline().strip()

    def cpu(self) -> float:
        self.process.stdin.write("cpu\n")
        self.process.stdin.flush()
        return float(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=10)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def bare_client(base_url: str, args: argparse.Namespace) -> tuple[float, float]:
    """The floor: the same number of calls through LLMClient from a plain thread pool."""
    from concurrent.futures import ThreadPoolExecutor

    from flywheel.llm import LLMClient, LLMConfig

    client = LLMClient(
        LLMConfig(base_url=base_url, model="bench-judge", max_concurrency=args.concurrency)
    )
    messages = [{"role": "user", "content": "Which answer is better? " * 20}]
    cpu0, started = _cpu(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        list(pool.map(lambda _: client.chat(messages), range(args.calls)))
    return time.perf_counter() - started, _cpu() - cpu0


def _bare_share(base_url: str, calls: int, concurrency: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from flywheel.llm import LLMClient, LLMConfig

    client = LLMClient(
        LLMConfig(base_url=base_url, model="bench-judge", max_concurrency=concurrency)
    )
    messages = [{"role": "user", "content": "Which answer is better? " * 20}]
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(lambda _: client.chat(messages), range(calls)))


def bare_split(base_url: str, args: argparse.Namespace, processes: int) -> float:
    """The same calls and total concurrency from `processes` forked processes: whether the
    one interpreter lock is what holds the client back."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    started = time.perf_counter()
    workers = [
        context.Process(
            target=_bare_share,
            args=(base_url, args.calls // processes, args.concurrency // processes),
        )
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000, help="judge calls (even: 2 orders)")
    parser.add_argument("--delay", type=float, default=0.05, help="server reply delay, seconds")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--debug", action="store_true", help="run with DEBUG on")
    parser.add_argument(
        "--split",
        default="",
        help="also run the bare client loop split over these process counts, e.g. 1,2,4",
    )
    args = parser.parse_args()
    _environment(args.debug)

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from evaluation.models import Judgment
    from evaluation.services import (
        candidates_import,
        eval_run_create,
        eval_run_execute,
        eval_set_create,
        eval_set_import_questions,
        judge_config_create,
    )
    from evaluation.services.results import eval_run_results_compute
    from labeling.services import project_create

    questions = args.calls // 2
    project = project_create(name=f"bench judge {time.time_ns()}")
    eval_set = eval_set_create(project=project, name="bench")
    eval_set_import_questions(
        eval_set=eval_set,
        lines=[
            json.dumps({"question_id": i, "category": f"c{i % 8}", "turns": [f"Question {i}?"]})
            for i in range(questions)
        ],
    )
    for model, text in (("m1", "A short answer."), ("m0", "A somewhat longer answer " * 3)):
        candidates_import(
            eval_set=eval_set,
            lines=[
                json.dumps({"question_id": i, "model": model, "turns": [f"{text} {i}"]})
                for i in range(questions)
            ],
        )

    server = Server(args.delay)
    try:
        base_url = server.base_url
        config = judge_config_create(
            project=project,
            name="bench judge",
            base_url=base_url,
            model="bench-judge",
            max_concurrency=args.concurrency,
            timeout_s=30,
        )

        def run_once(name: str):
            run = eval_run_create(
                project=project,
                eval_set=eval_set,
                judge_config=config,
                name=name,
                mode="baseline",
                models=["m1"],
                baseline="m0",
                start=False,
            )
            cpu0, server0, started = _cpu(), server.cpu(), time.perf_counter()
            run = eval_run_execute(run_id=run.pk)
            total = time.perf_counter() - started
            cpu, server_cpu = _cpu() - cpu0, server.cpu() - server0
            cpu0, started = _cpu(), time.perf_counter()
            eval_run_results_compute(run=run)  # the same work the run ended with, timed alone
            results_s, results_cpu = time.perf_counter() - started, _cpu() - cpu0
            return run, total, results_s, cpu - results_cpu, server_cpu

        print(f"load average before: {_load()} (1 / 5 / 15 min, {os.cpu_count()} CPUs)")
        server0 = server.cpu()
        bare_s, bare_cpu = bare_client(base_url, args)
        bare_server_cpu = server.cpu() - server0
        run, total, results_s, run_cpu, server_cpu = run_once("first")
        calls_s = total - results_s
        ideal = run.calls_made * args.delay / args.concurrency
        per_call = 1000 / max(run.calls_made, 1)
        print(f"calls made:          {run.calls_made} (judgments {run.calls_done}, {run.status})")
        delay_ms = args.delay * 1000
        print(
            f"ideal wall time:     {ideal:.3f} s  (calls x {delay_ms:.0f} ms / {args.concurrency})"
        )
        print(
            f"run wall time:       {total:.3f} s "
            f"(calls {calls_s:.3f} s + results {results_s:.3f} s)"
        )
        print(f"efficiency (calls):  {ideal / calls_s:.1%}  (target >= 90%)")
        print(f"efficiency (total):  {ideal / total:.1%}")
        print(
            f"CPU per call (run):  {run_cpu * per_call:.2f} ms runner process "
            f"(plan, calls, recording; results left out), {server_cpu * per_call:.2f} ms server"
        )
        print(
            f"bare LLMClient loop: {bare_s:.3f} s, efficiency {ideal / bare_s:.1%}, "
            f"{bare_cpu / args.calls * 1000:.2f} ms CPU per call, "
            f"{bare_server_cpu / args.calls * 1000:.2f} ms server (no runner, no database)"
        )
        print(f"runner / bare:       {calls_s / bare_s:.2f}x wall")

        for processes in [int(n) for n in args.split.split(",") if n]:
            wall = bare_split(base_url, args, processes)
            print(
                f"bare loop, {processes} process(es) x {args.concurrency // processes} threads: "
                f"{wall:.3f} s, efficiency {ideal / wall:.1%}"
            )

        rerun, rerun_total, rerun_results, rerun_cpu, _ = run_once("cached re-run")
        print(
            f"cached re-run:       {rerun.calls_made} calls made, {rerun.cached_count} from cache, "
            f"{rerun_total:.3f} s wall ({rerun_total - rerun_results:.3f} s without results, "
            f"{rerun_cpu / max(rerun.cached_count, 1) * 1000:.2f} ms CPU per judgment)"
        )
        same = rerun.results["overall"] == run.results["overall"]
        print(f"same results:        {same}")
        print(f"judgments stored:    {Judgment.objects.filter(run__project=project).count()}")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS:            {peak:.0f} MiB")
        print(f"load average after:  {_load()}")
    finally:
        server.close()


if __name__ == "__main__":
    main()
