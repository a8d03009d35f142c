"""manage.py collect_human_judgments RUN_ID: the same collection as the report page's button
and the API, with what it recorded and removed printed."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from evaluation.models import Judgment, RaterGroup
from evaluation.services import eval_run_execute
from evaluation.services.human import human_tasks_create
from labeling.models import Annotation
from labeling.services import review_create
from tests.evaluation.test_human import _answer_all, _prefer
from tests.evaluation.test_runner import longer_judge, make_run


def _collect(run_id) -> str:
    out = io.StringIO()
    call_command("collect_human_judgments", str(run_id), stdout=out)
    return out.getvalue().strip()


def test_collect_command_records_then_removes_a_rejected_vote(
    project, eval_set, make_config, llm_server, labeler, reviewer
):
    llm_server.respond_with(longer_judge)
    run = eval_run_execute(run_id=make_run(project, eval_set, make_config()).pk)
    assert _collect(run.pk) == (
        f"run {run.pk} 'alpha vs beta' has no human tasks: send its items to raters first "
        f"(the run's agreement report page, or POST /api/evaluation/runs/{run.pk}/human-tasks/)."
    )
    human_tasks_create(run=run, overlap=1)
    assert _answer_all(project, labeler, _prefer("alpha")) == 6
    assert _collect(run.pk) == (
        f"run {run.pk} 'alpha vs beta': 6 submitted answers on 6 tasks; recorded 6 human "
        "judgments, removed 0 no longer submitted or accepted"
    )
    human = Judgment.objects.filter(run=run, rater_group=RaterGroup.HUMAN)
    assert set(human.values_list("winner", flat=True)) == {"alpha"}
    assert human.count() == 6

    review_create(
        annotation=Annotation.objects.filter(task__source__run=run.pk).order_by("id").first(),
        reviewer=reviewer,
        decision="reject",
        comment="Read both.",
    )
    assert _collect(run.pk).endswith(
        "5 submitted answers on 6 tasks; recorded 5 human judgments, removed 1 no longer "
        "submitted or accepted"
    )
    assert human.count() == 5


@pytest.mark.django_db
def test_collect_command_names_an_unknown_run():
    with pytest.raises(CommandError, match="No eval run 999"):
        call_command("collect_human_judgments", "999")
