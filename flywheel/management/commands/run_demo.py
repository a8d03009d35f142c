"""Run the web server and a background worker together until Ctrl-C."""

import subprocess
import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve Flywheel on 127.0.0.1:8000 with a worker for every queue."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000")

    def handle(self, *args, addr: str, **options) -> None:
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--queue-name", "*", "--interval", "0.5"]
        )
        self.stdout.write(self.style.SUCCESS(f"Flywheel demo: http://{addr}/  (Ctrl-C stops it)"))
        self.stdout.write(
            "Log in as labeler, reviewer, researcher or admin; password flywheel-demo."
        )
        try:
            call_command("runserver", addr, use_reloader=False)
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
