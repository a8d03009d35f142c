"""The PPO job page in a browser: the lineage section, at desktop and phone widths."""

from __future__ import annotations

import pytest

from tests.conftest import login

from .test_ppo import chain, ppo_job  # noqa: F401  (the chain fixture)

pytestmark = [pytest.mark.training, pytest.mark.django_db(transaction=True)]


def test_ppo_job_page_shows_lineage(page, screenshot_dir, project, owner, tiny_model, chain):  # noqa: F811
    _policy, reward = chain
    job = ppo_job(project, owner, tiny_model, chain)
    login(page, owner.username)
    page.goto(f"/training/jobs/{job.pk}/")
    section = page.locator("#lineage-h")
    section.scroll_into_view_if_needed()
    assert section.is_visible()
    table = page.locator("section[aria-labelledby=lineage-h] table")
    assert table.locator("tbody tr").count() == 4
    assert reward.name in table.inner_text()
    page.screenshot(path=str(screenshot_dir / "ppo-lineage-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    section.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot_dir / "ppo-lineage-390.png"))
