"""`python -m training.run JOB_ID`: the child process that trains one job.

Started by the GPU worker (under `accelerate launch` on a multi-GPU host); it can also be run
by hand on a queued job. It writes heartbeat, progress and metrics to the database itself.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flywheel.settings")
    import django

    django.setup()
    from training.sft import run_job

    return run_job(job_id=int(argv[0]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
