import pytest
from django.urls import reverse

from evaluation.models import RunStatus
from evaluation.services import eval_run_create
from tests.conftest import PASSWORD


@pytest.fixture
def admin_client_logged_in(client, make_user):
    make_user("root", superuser=True)
    assert client.login(username="root", password=PASSWORD)
    return client


@pytest.mark.parametrize(
    "model", ["judgetemplate", "judgeconfig", "evalset", "evalrun", "judgment"]
)
def test_admin_lists_open_for_staff_only(admin_client_logged_in, client, stranger, model):
    url = reverse(f"admin:evaluation_{model}_changelist")
    assert admin_client_logged_in.get(url).status_code == 200
    client.logout()
    client.login(username="stranger", password=PASSWORD)
    assert client.get(url).status_code == 302  # not staff: to the admin login


def test_admin_cancel_action_calls_the_service(
    admin_client_logged_in, project, eval_set, make_config
):
    run = eval_run_create(
        project=project,
        eval_set=eval_set,
        judge_config=make_config(),
        name="r",
        mode="baseline",
        models=["alpha"],
        baseline="beta",
        start=False,
    )
    admin_client_logged_in.post(
        reverse("admin:evaluation_evalrun_changelist"),
        {"action": "cancel", "_selected_action": [run.pk]},
    )
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert admin_client_logged_in.get(reverse("admin:evaluation_evalrun_add")).status_code == 403
