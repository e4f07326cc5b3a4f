"""Real-browser tests: Playwright (sync API) drives Debian's chromium against `live_server`.

No browser is downloaded: Playwright launches /usr/bin/chromium. The tests skip, with the
reason, only when that binary or the playwright package is missing; CI installs both.
"""

import importlib.util
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"

# A rep's phone: 375×812 CSS pixels, touch, a 2× screen.
PHONE = {
    "viewport": {"width": 375, "height": 812},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
    # The UI follows Accept-Language; zh-CN gives the default zh-hans UI our reps use, so a
    # browser whose own locale is English does not switch the pages to English.
    "locale": "zh-CN",
}


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -r requirements-dev.txt)"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def browser():
    """One headless chromium per module.

    Playwright's sync API runs an event loop in this thread while it is open, so Django's ORM
    (the test's own queries and the database flush of `transactional_db`) would refuse to run
    here as "async unsafe". DJANGO_ALLOW_ASYNC_UNSAFE lifts that for as long as the browser
    is open and is restored afterwards, so the rest of the suite keeps Django's guard.
    """
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                args=["--no-sandbox"],  # CI runs as root
            )
            yield chromium
            chromium.close()


@pytest.fixture
def phone(browser):
    """A fresh phone-sized page (no cookies) for one test."""
    context = browser.new_context(**PHONE)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """test-artifacts/e2e/, where the steps' full-page screenshots go (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
