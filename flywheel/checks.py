"""Cross-setting checks (run by `manage.py check` and at server start)."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.compatibility)
def check_task_queues(app_configs, **kwargs):
    queues = set(settings.TASKS["default"].get("QUEUES", []))
    missing = {"default", "gpu"} - queues
    if missing:
        return [
            checks.Error(
                f"TASKS['default']['QUEUES'] lacks {sorted(missing)}; Flywheel enqueues on both.",
                id="flywheel.E001",
            )
        ]
    return []
