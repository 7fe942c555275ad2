"""A user builds, tests, publishes and watches the Kafka → code → Bloomreach flow in a browser."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User

from config.services import create_topic
from flows.demo import TRANSFORM
from flows.models import Execution, Flow
from flows.services.credentials import create_credential
from flows.services.workspaces import create_workspace
from tests.browser.conftest import screenshot
from tests.browser.ui import PASSWORD, expect, log_in, select_node
from tests.factories import bloomreach_credential_fields
from tests.fixtures.stack import Process, wait_for
from tests.test_end_to_end import expected_commands, produce, sample_records

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def add_node(page: Any, title: str, x: int, y: int) -> str:
    """Drag a palette item onto the canvas; return the new node's id."""
    before = set(page.locator(".react-flow__node").evaluate_all("ns => ns.map(n => n.dataset.id)"))
    pane = page.locator(".react-flow__pane")
    page.get_by_role("region", name="Components").get_by_role("button", name=title).drag_to(
        pane, target_position={"x": x, "y": y}
    )
    wait_for(
        lambda: len(page.locator(".react-flow__node").all()) > len(before), 10, f"{title} node"
    )
    after = page.locator(".react-flow__node").evaluate_all("ns => ns.map(n => n.dataset.id)")
    (new_id,) = [node_id for node_id in after if node_id not in before]
    return str(new_id)


def connect(page: Any, source: str, target: str) -> None:
    handle = page.locator(f'.react-flow__node[data-id="{source}"] .react-flow__handle.source')
    target_handle = page.locator(
        f'.react-flow__node[data-id="{target}"] .react-flow__handle.target'
    )
    edges = page.locator(".react-flow__edge")
    before = edges.count()
    handle.drag_to(target_handle)
    expect(edges).to_have_count(before + 1)


def settle(page: Any) -> None:
    """Wait until the canvas stops moving (fit view animates), for a clean screenshot."""
    viewport = page.locator(".react-flow__viewport")
    last: list[str | None] = [None]

    def unchanged() -> bool:
        now = viewport.get_attribute("style")
        same = now == last[0]
        last[0] = now
        return same

    wait_for(unchanged, 5, "the canvas to settle", interval=0.3)


def test_build_test_publish_and_watch_a_flow(
    page: Any,
    live_server: Any,
    stack_env: dict[str, str],
    kafka_broker: Any,
    bloomreach_standin: Any,
    celery_worker: Process,
    trigger_runner: Process,
) -> None:
    user = User.objects.create_user("bea", password=PASSWORD)
    workspace = create_workspace("Bea's team", user)
    create_credential(workspace, "Stand-in", "bloomreach", bloomreach_credential_fields())
    topic = f"ui-{uuid.uuid4().hex[:8]}"
    create_topic(kafka_broker.bootstrap, topic, partitions=1)
    base = live_server.url

    log_in(page, base)
    page.get_by_role("button", name="New flow").click()
    page.get_by_label("Flow name").fill("Shop events to Bloomreach")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("region", name="Components")).to_be_visible()

    kafka = add_node(page, "Kafka consumer", 150, 200)
    code = add_node(page, "Code", 450, 200)
    bloomreach = add_node(page, "Bloomreach Engagement", 750, 200)
    connect(page, kafka, code)
    connect(page, code, bloomreach)
    expect(page.locator(".react-flow__edge")).to_have_count(2)

    panel = select_node(page, kafka)
    panel.get_by_label("Topic", exact=True).fill(topic)
    panel.get_by_label("Bootstrap servers").fill(kafka_broker.bootstrap)
    panel.get_by_label("Max wait (ms)").fill("200")

    panel = select_node(page, code)
    editor = panel.get_by_label("Code editor")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(TRANSFORM.read_text())
    sample = json.loads(sample_records()[0][1])
    panel.get_by_label("Sample message").fill(json.dumps({"body": sample}))
    panel.get_by_role("button", name="Run test").click()
    output = panel.get_by_role("region", name="Test output")
    expect(output).to_contain_text("customers/events")
    expect(output).to_contain_text(sample["user_id"])
    screenshot(page, "code-editor")

    panel = select_node(page, bloomreach)
    panel.get_by_label("Base URL").fill(bloomreach_standin.url)
    panel.get_by_label("Project token").fill("demo-project")
    panel.get_by_label("Credential").select_option(label="Stand-in")

    expect(page.get_by_test_id("save-status")).to_have_text("Saved", timeout=20_000)
    page.get_by_role("button", name="Close configuration").click()
    page.get_by_role("button", name="Fit view").click()
    settle(page)
    screenshot(page, "designer")
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_test_id("flow-version")).to_have_text("v1")
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_test_id("flow-status")).to_have_text(re.compile("running", re.I))

    records = sample_records()[:200]
    expected = expected_commands(records)
    produce(kafka_broker.bootstrap, topic, records)
    wait_for(lambda: bloomreach_standin.stats()["commands"] == len(expected), 90, "the deliveries")

    # Records are written just after the last delivery of their batch.
    wait_for(
        lambda: (
            Execution.objects.filter(flow__name="Shop events to Bloomreach").count() == len(records)
        ),
        30,
        "every execution recorded",
    )
    page.get_by_role("tab", name="Executions").click()
    expect(page.locator(".stats")).to_contain_text(str(len(records)))
    rows = page.locator("tbody tr")
    wait_for(lambda: rows.count() >= 10, 10, "executions in the live table")
    page.get_by_label("Status").select_option("failed")
    expect(rows.first).to_contain_text(re.compile("failed", re.I))
    rows.first.click()
    details = page.get_by_role("region", name="Execution details")
    expect(details).to_contain_text("not valid JSON")
    expect(details.get_by_role("button", name="Retry")).to_be_visible()

    page.get_by_label("Status").select_option("succeeded")
    expect(rows.first).to_contain_text(re.compile("succeeded", re.I))
    rows.first.click()
    for node_id in (kafka, code, bloomreach):
        expect(details).to_contain_text(node_id)
    screenshot(page, "executions")

    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_test_id("flow-status")).to_have_text(re.compile("stopped", re.I))

    # Error handling: a dead-letter topic, a retry policy, then a replay from the start.
    page.get_by_role("tab", name="Designer").click()
    page.get_by_role("button", name="Flow settings").click()
    settings_dialog = page.get_by_role("dialog", name="Flow settings")
    settings_dialog.get_by_label("Dead-letter topic").fill(f"{topic}-dead")
    settings_dialog.get_by_role("radio", name="Fail the messages").check()
    settings_dialog.get_by_role("button", name="Done").click()
    panel = select_node(page, bloomreach)
    panel.get_by_role("button", name="Retry policy").click()
    panel.get_by_label("Attempts").fill("4")
    expect(page.get_by_test_id("save-status")).to_have_text("Saved", timeout=20_000)
    graph = Flow.objects.get(name="Shop events to Bloomreach").graph
    assert graph["settings"] == {"dead_letter_topic": f"{topic}-dead", "on_outage": "fail"}
    assert next(n for n in graph["nodes"] if n["id"] == bloomreach)["retry"]["attempts"] == 4

    page.get_by_role("button", name="Replay…").click()
    replay_dialog = page.get_by_role("dialog", name="Replay messages")
    replay_dialog.get_by_role("radio", name="From the earliest message").check()
    replay_dialog.get_by_role("button", name="Replay").click()
    positions = replay_dialog.get_by_role("table", name="New positions")
    expect(positions).to_contain_text("0")
    screenshot(page, "replay")
