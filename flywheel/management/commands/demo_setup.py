"""Load the demo: users for every role and a demo project. Safe to run again."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from labeling.models import Project, Role
from labeling.services import membership_set, project_create

DEMO_PASSWORD = "flywheel-demo"
DEMO_USERS = [
    ("admin", None),
    ("labeler", Role.LABELER),
    ("reviewer", Role.REVIEWER),
    ("researcher", Role.RESEARCHER),
]
DEMO_GUIDELINES = """\
**Write the answer you would want to receive.**

- Be correct first, then helpful, then brief.
- Prefer answers that follow every instruction in the prompt.
- Flag anything harmful, made up or refusing without a reason.
"""


class Command(BaseCommand):
    help = "Create the demo project and users (labeler, reviewer, researcher, admin)."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        User = get_user_model()
        users = {}
        for username, _role in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(DEMO_PASSWORD)
                user.is_staff = username in {"admin", "researcher"}
                user.is_superuser = username == "admin"
                user.save()
            users[username] = user

        project = Project.objects.filter(slug="demo").first() or project_create(
            name="Demo: helpful assistant",
            slug="demo",
            description="Rank and write answers for a general-purpose assistant.",
            guidelines=DEMO_GUIDELINES,
            task_types=["qa", "code", "math", "creative", "summarization"],
            created_by=users["researcher"],
        )
        for username, role in DEMO_USERS:
            if role is not None:
                membership_set(project=project, user=users[username], role=role)

        self.stdout.write(self.style.SUCCESS("Demo project ready: " + project.name))
        self.stdout.write(f"Users (password {DEMO_PASSWORD!r} for all):")
        for username, role in DEMO_USERS:
            self.stdout.write(f"  {username:<11} {role or 'superuser (admin)'}")
