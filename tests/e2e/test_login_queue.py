import pytest
from django.core.management import call_command

from tests.conftest import login

pytestmark = pytest.mark.e2e


def test_demo_labeler_logs_in_and_sees_the_queue(page, screenshot_dir):
    call_command("demo_setup", users_only=True)
    login(page, "labeler", "flywheel-demo")
    page.wait_for_url("**/queue/")
    assert page.locator("h1").inner_text() == "Your queue"
    assert page.get_by_role("heading", name="Demo: helpful assistant").is_visible()
    page.get_by_text("Guidelines").click()
    assert (
        page.locator(".prose strong").first.inner_text()
        == "Write the answer you would want to receive."
    )
    page.screenshot(path=str(screenshot_dir / "queue-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(screenshot_dir / "queue-390.png"), full_page=True)


def test_wrong_password_says_so_and_keeps_the_username(page):
    call_command("demo_setup", users_only=True)
    login(page, "labeler", "wrong-password")
    assert "enter a correct username and password" in page.locator(".errorlist").inner_text()
    assert page.input_value("#id_username") == "labeler"


def test_phone_top_bar_shows_every_link_clear_of_log_out(page, screenshot_dir, owner, project):
    """At 390 px a researcher's five links used to run under "Log out" (the last ones clipped)."""
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, owner.username)
    page.goto("/dashboard/")
    logout = page.get_by_role("button", name="Log out").bounding_box()
    links = page.locator(".topnav a")
    assert links.count() >= 5
    for i in range(links.count()):
        box = links.nth(i).bounding_box()
        assert box["y"] >= logout["y"] + logout["height"], links.nth(i).inner_text()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, links.nth(i).inner_text()
    page.screenshot(path=str(screenshot_dir / "topbar-390.png"))
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(screenshot_dir / "topbar-dark-390.png"))
