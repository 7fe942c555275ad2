"""What the browser tests share: logging in, expectations, selecting a node on the canvas."""

from __future__ import annotations

from typing import Any

PASSWORD = "browser test password"


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def log_in(page: Any, base_url: str) -> None:
    page.goto(base_url + "/")
    page.get_by_label("Username").fill("bea")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="New flow")).to_be_visible()


def select_node(page: Any, node_id: str) -> Any:
    # An open panel covers the right of the canvas, where the node may lie: close it first.
    close = page.get_by_role("button", name="Close configuration")
    if close.count():
        close.click()
    page.get_by_test_id(f"node-{node_id}").click()
    panel = page.get_by_role("region", name="Node configuration")
    expect(panel).to_be_visible()
    return panel
