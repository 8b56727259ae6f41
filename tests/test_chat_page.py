"""The chat page in headless Chromium (Playwright) against a live server and the real model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from backend.web.app import create_app
from backend.web.schema import MAX_MESSAGE_CHARS
from tests.conftest import require

CHROMIUM = Path(os.environ.get("DOPPEL_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.slow


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    require(CHROMIUM.exists(), f"{CHROMIUM} is absent (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2)
    page = context.new_page()
    yield page
    context.close()


def serve(live_server, demo_bundle, **settings) -> str:
    # the default burst pause (1.5 s) leaves room for a slow, shared test machine
    return live_server(create_app({"bundle": str(demo_bundle), "rate_limit_per_s": 0,
                                   **settings}))


def send(page, text: str) -> None:
    page.fill("#input", text)
    page.press("#input", "Enter")


def hold_replies(page) -> list:
    """Pause each POST /api/reply in the browser until the test lets it go to the server."""
    held = []

    def hold(route):
        held.append(route)

    page.route("**/api/reply", hold)
    return held


def wait_for(page, condition) -> None:
    for _ in range(1200):  # up to 30 s
        if condition():
            return
        page.wait_for_timeout(25)
    raise AssertionError("condition never became true")


def test_a_burst_is_one_turn_and_the_reply_arrives_as_bubbles(page, live_server, demo_bundle,
                                                               tmp_path):
    url = serve(live_server, demo_bundle)
    page.goto(url)
    held = hold_replies(page)
    send(page, "are you free tonight?")
    send(page, "thinking of that ramen place")
    assert page.locator(".row.me .bubble").all_inner_texts() == [
        "are you free tonight?", "thinking of that ramen place"]
    assert held == []  # still inside the burst: nothing sent yet
    wait_for(page, lambda: held)
    assert page.locator("#typing").is_visible()  # typing while the reply is on its way
    request = json.loads(held[0].request.post_data)
    assert request["message"] == "are you free tonight? <brk> thinking of that ramen place"
    assert request["session_id"] == "new"  # the server issues the id
    with page.expect_response("**/api/reply") as answer:
        held[0].continue_()
    reply = answer.value.json()
    wait_for(page, lambda: page.evaluate("sessionStorage.getItem('doppel-session-id')")
             == reply["session_id"])
    bubbles = page.locator(".row.bot:not(.typing) .bubble")
    wait_for(page, lambda: bubbles.count() == len(reply["messages"]))
    assert bubbles.all_inner_texts() == reply["messages"]
    assert page.locator("#typing").is_hidden()
    assert len(held) == 1  # the burst went as ONE request
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=tmp_path / "chat.png")
    assert (tmp_path / "chat.png").stat().st_size > 10_000


def test_a_burst_too_long_for_one_turn_goes_as_turns_the_api_takes(page, live_server,
                                                                    demo_bundle):
    url = serve(live_server, demo_bundle)
    page.goto(url)
    assert page.get_attribute("#input", "maxlength") == str(MAX_MESSAGE_CHARS)
    held = hold_replies(page)
    first, second, third = "a" * 1200, "b" * 1200, "c" * 500
    for text in (first, second, third):
        send(page, text)
    # first + second would be 2,407 characters: two turns, the third joining the second
    for turn, expected in enumerate([first, f"{second} <brk> {third}"]):
        wait_for(page, lambda: len(held) > turn)  # noqa: B023 (used at once)
        assert json.loads(held[turn].request.post_data)["message"] == expected
        with page.expect_response("**/api/reply") as answer:
            held[turn].continue_()
        assert answer.value.status == 200
    assert len(held) == 2
    assert page.locator(".notice.error").count() == 0


def test_a_reload_keeps_the_conversation_and_another_persona_starts_a_new_one(
        page, live_server, demo_bundle):
    """What the page shows is what the model answers from (QA: after a reload or a persona
    switch, the next reply drew on a conversation no longer on screen)."""
    from model.serve.load import load_replier

    personas = load_replier(demo_bundle).personas
    url = serve(live_server, demo_bundle)
    page.goto(url)
    options = page.locator("#persona option").all_inner_texts()
    assert options == personas
    with page.expect_response("**/api/reply") as answer:
        send(page, "hello")
    session_id = answer.value.json()["session_id"]
    bubbles = page.locator(".row:not(.typing) .bubble")
    wait_for(page, lambda: bubbles.count() >= 2)
    on_screen = bubbles.all_inner_texts()
    page.reload()
    assert bubbles.all_inner_texts() == on_screen
    with page.expect_request("**/api/reply") as sent:
        send(page, "and you?")
    assert json.loads(sent.value.post_data)["session_id"] == session_id
    page.locator(".row.bot:not(.typing) .bubble").nth(1).wait_for()
    page.select_option("#persona", personas[-1])
    assert page.locator("#persona-name").inner_text() == personas[-1]
    assert bubbles.count() == 0  # the last persona's conversation is gone from the screen
    with page.expect_request("**/api/reply") as sent:
        send(page, "hi")
    body = json.loads(sent.value.post_data)
    assert body["persona"] == personas[-1] and body["session_id"] == "new"
    page.locator(".row.bot:not(.typing) .bubble").first.wait_for()
    page.reload()
    assert page.locator("#persona-name").inner_text() == personas[-1]


def test_api_errors_are_shown_to_the_user(page, live_server, demo_bundle):
    url = serve(live_server, demo_bundle, api_key="not-in-the-page")
    page.goto(url)
    send(page, "hello?")
    error = page.locator(".notice.error", has_text="Could not get a reply")
    error.wait_for()
    assert "API key" in error.inner_text()


def test_a_withheld_reply_is_a_notice_not_an_empty_bubble(page, live_server, demo_bundle):
    url = serve(live_server, demo_bundle)
    page.goto(url)
    page.route("**/api/reply", lambda route: route.fulfill(
        status=200, content_type="application/json",
        body=json.dumps({"reply": "", "messages": [], "persona": "Sam", "session_id": "s1"})))
    send(page, "hello")
    page.locator(".notice", has_text="has no answer to that").wait_for()
    assert page.locator(".row.bot:not(.typing) .bubble").count() == 0
