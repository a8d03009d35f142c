"""Real DPO runs of a few steps on the tiny model."""

from __future__ import annotations

import pytest
from django.urls import reverse

from training.config import ConfigError
from training.models import Adapter, JobStatus
from training.selectors import metric_series

from .rl_helpers import make_rl_job, preference_snapshot, run

pytestmark = [pytest.mark.training, pytest.mark.django_db(transaction=True)]


def test_dpo_margins_rise_and_adapter_is_saved(client, project, owner, tiny_model):
    snapshot = preference_snapshot(project)
    job = make_rl_job(
        project=project, owner=owner, kind="dpo", base_model=tiny_model, snapshot=snapshot,
        max_steps=8, learning_rate=5e-3, beta=0.5,
    )  # fmt: skip
    job = run(job)
    assert job.status == JobStatus.SUCCEEDED
    assert job.config["rl"] == {"beta": 0.5, "loss_type": "sigmoid"}
    margins = [v for _, v in metric_series(job=job)["rewards/margins"]]
    assert len(margins) == 8
    assert margins[0] == pytest.approx(0.0, abs=1e-3)  # policy == reference at step 1
    assert sum(margins[-3:]) / 3 > 0.05
    assert "rewards/accuracies" in metric_series(job=job)
    assert job.data_report["before"]["train"]["qa"] == {"rows": 6, "truncated": 0, "dropped": 0}
    client.force_login(owner)
    page = client.get(reverse("training:job-detail", args=[job.pk]))
    assert page.status_code == 200 and "Lineage" in page.content.decode()
    adapter = Adapter.objects.get(job=job)
    assert (adapter.path and job.trainable_params) and job.trainable_params < job.total_params


def test_dpo_settings_are_validated(project, owner):
    snapshot = preference_snapshot(project)
    for values, field in (({"beta": 0}, "beta"), ({"loss_type": "kto"}, "loss_type")):
        with pytest.raises(ConfigError) as exc:
            make_rl_job(
                project=project, owner=owner, kind="dpo", base_model="/m", snapshot=snapshot,
                **values,
            )  # fmt: skip
        assert exc.value.field == field
