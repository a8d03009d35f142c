from django.apps import AppConfig


class FlywheelConfig(AppConfig):
    name = "flywheel"
    verbose_name = "Flywheel"

    def ready(self) -> None:
        from flywheel import checks  # noqa: F401  (registers system checks)
