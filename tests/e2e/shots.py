"""Screenshots of a page as a person would look at it: light and dark, desktop and phone."""


def shoot(page, screenshot_dir, name):
    """`{name}-{light,dark}-{1280,390}.png`, full page, from the top (a sticky top bar would
    land mid-page); the page is left light at 1280 px."""
    page.evaluate("window.scrollTo(0, 0)")
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.set_viewport_size({"width": 1280, "height": 800})
        page.screenshot(path=str(screenshot_dir / f"{name}-{scheme}-1280.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(screenshot_dir / f"{name}-{scheme}-390.png"), full_page=True)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1280, "height": 800})
