"""Browser tests: Debian's Chromium, driven by Playwright, against Django's live server.

The browser is never downloaded: it is /usr/bin/chromium (or CHROMIUM_PATH). Without it the
tests are skipped with a message, except under CI, where a missing browser fails the run.

Every page the tests open is watched: a request to any host other than the live server is
aborted and fails the test, so no page may load a script, style, font or image from outside.
Screenshots go to screenshots/ at the top of the checkout, which git ignores.
"""

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
# Playwright waits this long (ms) for an element or a navigation before failing the test.
TIMEOUT_MS = 15_000


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def _chromium_path() -> str:
    if not Path(CHROMIUM).is_file():
        message = (
            f"no Chromium at {CHROMIUM}: apt-get install chromium chromium-driver "
            "(or set CHROMIUM_PATH)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="package")
def browser(_chromium_path) -> Iterator:
    from playwright.sync_api import sync_playwright

    # Playwright's synchronous API keeps an asyncio loop in this thread, which makes Django
    # refuse ORM calls from the test body. Nothing here is asynchronous, so allow them, for
    # this package only: the browser (and its loop) closes when the package's tests are done.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=_chromium_path,
                args=["--no-sandbox", "--disable-dev-shm-usage", "--lang=en-GB"],
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def new_page(browser, live_server) -> Iterator:
    """Open a fresh browser context (its own cookies) and page: `new_page()`.

    Contexts are closed after the test, which fails if any page asked for an outside URL.
    """
    origin = urlsplit(live_server.url).netloc
    external: list[str] = []  # URLs of requests that left the live server (each was aborted)
    # Chromium's console reports of anything the content security policy blocked.
    csp_violations: list[str] = []
    contexts = []

    def guard(route):
        url = route.request.url
        if url.startswith(("data:", "blob:", "about:")) or urlsplit(url).netloc == origin:
            route.continue_()
        else:
            external.append(url)
            route.abort()

    def open_page(*, language: str = "en-GB"):
        context = browser.new_context(
            base_url=live_server.url,
            locale=language,
            viewport={"width": 1280, "height": 900},
            accept_downloads=True,
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.route("**/*", guard)
        contexts.append(context)
        page = context.new_page()

        def on_console(message) -> None:
            if "Content Security Policy" in message.text:
                csp_violations.append(f"{page.url}: {message.text}")

        page.on("console", on_console)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not external, f"pages loaded assets from outside the app: {sorted(set(external))}"
    assert not csp_violations, "content security policy violations:\n" + "\n".join(csp_violations)


@pytest.fixture
def screenshot() -> Iterator:
    """`screenshot(page, name)` saves a full-page PNG under screenshots/ (kept out of git)."""
    SCREENSHOTS.mkdir(exist_ok=True)

    def save(page, name: str) -> Path:
        path = SCREENSHOTS / (re.sub(r"[^A-Za-z0-9_.-]+", "-", name) + ".png")
        page.screenshot(path=str(path), full_page=True)
        return path

    return save


def log_in(page, email: str, password: str) -> None:
    """Log in through the login form and wait for the page after it."""
    page.goto("/accounts/login/")
    page.get_by_label(re.compile("e-mail|メール", re.I)).fill(email)
    page.get_by_label(re.compile("password|パスワード", re.I)).fill(password)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()


@pytest.fixture
def compiled_messages() -> None:
    """Compile locale/ja so pages render in Japanese (make test also compiles them)."""
    call_command("compilemessages", "--ignore", ".venv", verbosity=0)
