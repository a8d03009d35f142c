"""Load the demo: users for every role and a demo project. Safe to run again."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.module_loading import import_string

from labeling.models import Project, Role
from labeling.services import membership_set, project_create

DEMO_PASSWORD = "flywheel-demo"
DEMO_USERS = [
    ("admin", None),
    ("labeler", Role.LABELER),
    ("reviewer", Role.REVIEWER),
    ("researcher", Role.RESEARCHER),
]
# Each capability adds its part of the loop to the demo project, in the loop's order. Every loader
# is idempotent and goes through the services, like a person would.
DEMO_LOADERS = [
    "labeling.demo.load_demo",  # prompts, answers, tasks of every kind
    # Logs, MT-Bench and HH-RLHF imported and filtered; LLM tagging, drafts, candidates,
    # rewrites and self-instruct from a scripted demo model (labeling/pipeline/demo_llm.py).
    "labeling.pipeline.demo.load_demo",
    "labeling.pipeline.demo_structured.load_demo",  # long-context, function-calling, RAG runs
    "labeling.pipeline.demo_tasks.load_demo",  # pairwise and demonstration tasks from prompts
    "labeling.exports.demo.load_demo",  # SFT and preference snapshots from the annotations
    "training.demo.load_demo",  # a tiny model and a finished tiny SFT LoRA job
    "training.rlhf_demo.load_demo",  # reward, DPO, PPO, GRPO, RLOO; a generate job back to labelers
    "evaluation.demo.load_demo",  # MT-Bench questions, two models' answers, a judged run
    "evaluation.demo_agreement.load_demo",  # real MT-Bench human vs GPT-4 agreement reports
]

DEMO_GUIDELINES = """\
**Write the answer you would want to receive.**

- Be correct first, then helpful, then brief.
- Prefer answers that follow every instruction in the prompt.
- Flag anything harmful, made up or refusing without a reason.
"""


class Command(BaseCommand):
    help = "Create the demo project and users (labeler, reviewer, researcher, admin)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--skip",
            action="append",
            default=[],
            help="Leave out a loader by its module, e.g. --skip training.demo (repeatable).",
        )
        parser.add_argument(
            "--users-only", action="store_true", help="Only the users and the empty project."
        )

    def handle(self, *args, skip: list[str], users_only: bool, **options) -> None:
        project, users = self._project_and_users()
        for path in [] if users_only else DEMO_LOADERS:
            if any(path.startswith(prefix) for prefix in skip):
                continue
            self.stdout.write(f"· {path.rsplit('.', 1)[0]}")
            import_string(path)(project=project, users=users, stdout=self.stdout)

        self.stdout.write(self.style.SUCCESS("Demo project ready: " + project.name))
        self.stdout.write(f"Users (password {DEMO_PASSWORD!r} for all):")
        for username, role in DEMO_USERS:
            self.stdout.write(f"  {username:<11} {role or 'superuser (admin)'}")

    @transaction.atomic
    def _project_and_users(self):
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
        return project, users
