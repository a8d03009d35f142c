"""Adapter lineage: a PPO job shows base -> SFT policy -> reward model -> itself, each with the
snapshot it learned from, on its page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.conftest import PASSWORD
from training.lineage import job_lineage

from .test_ppo import chain, ppo_job  # noqa: F401  (the chain fixture)

pytestmark = [pytest.mark.training, pytest.mark.django_db(transaction=True)]


def test_ppo_job_lineage_on_its_page(client, project, owner, stranger, tiny_model, chain):  # noqa: F811
    policy, reward = chain
    job = ppo_job(project, owner, tiny_model, chain)
    steps = job_lineage(job=job)
    assert [s.role for s in steps] == ["base", "policy", "reward", "this job"]
    assert steps[0].base_model == tiny_model
    assert steps[1].adapter == policy and steps[1].snapshot_name == "SFT"
    assert steps[2].adapter == reward and steps[2].snapshot_name == "Keyword preferences"
    assert steps[3].job == job and steps[3].snapshot_name == "Prompts"

    url = reverse("training:job-detail", args=[job.pk])
    assert client.get(url).status_code == 302  # anonymous: to the login page
    client.login(username=stranger.username, password=PASSWORD)
    assert client.get(url).status_code == 404
    client.login(username=owner.username, password=PASSWORD)
    html = client.get(url).content.decode()
    assert "Lineage" in html
    assert policy.name in html and reward.name in html and "Keyword preferences" in html
