"""A user starts a flow from the template gallery, tests it with the template's samples, compares
the draft with the published version and sees what its records take on the storage page.

Only Django's live server (and the database) is needed: creating, testing, publishing and
comparing are API calls, the web process starts the code sandbox itself, and the executions the
storage page measures are written through the ORM. No worker, broker or trigger runner starts,
which keeps this test quick.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from flows.choices import ExecutionStatus
from flows.models import Execution, Flow, FlowVersion
from flows.services.flows import publish_flow
from flows.services.storage import flow_storage
from flows.services.templates import (
    Template,
    create_flow_from_template,
    get_template,
    list_templates,
)
from flows.services.workspaces import create_workspace
from tests.browser.conftest import screenshot
from tests.browser.ui import PASSWORD, expect, log_in, select_node
from tests.factories import step_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEMPLATE = "kafka-rest-webhook"
FLOW_NAME = "Orders to the shop's webhook"
# The line the user adds to the template's transform; the diff must show it as added.
ADDED_LINE = '    if e.get("test"):  # orders from the staging shop'


def edited_code(template: Template) -> str:
    """The template's transform with a filter for test orders after `e = msg.body`."""
    [node] = [n for n in template.graph["nodes"] if n["id"] == template.transform_node]
    code = str(node["config"]["code"])
    anchor = "    e = msg.body\n"
    assert anchor in code, "the template's transform changed: update this test's edit"
    return code.replace(anchor, f"{anchor}{ADDED_LINE}\n        return None\n")


def format_bytes(size: int) -> str:
    """formatBytes (frontend/src/lib/format.ts) for sizes under a KiB, which is all we need."""
    assert 0 < size < 1024, f"{size} bytes: keep the payloads under a KiB"
    return f"{size} B"


def record_executions(flow: Flow, node_id: str, count: int) -> int:
    """`count` succeeded executions of the flow's v1, one small step record each; their size."""
    version = FlowVersion.objects.get(flow=flow, number=1)
    now = timezone.now()
    for number in range(count):
        started = now - timedelta(minutes=count - number)
        Execution.objects.create(
            flow=flow,
            version=version,
            key=f"shop-events:0:{number}",
            status=ExecutionStatus.SUCCEEDED,
            topic="shop-events",
            partition=0,
            offset=number,
            started_at=started,
            steps=[
                step_record(
                    node_id=node_id,
                    input={"event_id": f"e-{number}", "type": "purchase"},
                    output=[{"event": "order.placed", "id": f"e-{number}"}],
                )
            ],
        )
    [row] = flow_storage(Flow.objects.filter(id=flow.id))
    return row.total_bytes


def finish_animations(dialog: Any) -> None:
    """Wait for a dialog's opening animation (fade and rise) to end, for a clean screenshot."""
    dialog.evaluate(
        """dialog => Promise.all(
            dialog.parentElement.getAnimations({subtree: true})
                .filter(a => a.effect?.getTiming().iterations !== Infinity)
                .map(a => a.finished))"""
    )


def test_a_template_flow_is_created_tested_with_its_samples_diffed_and_measured(
    page: Any, live_server: Any
) -> None:
    user = User.objects.create_user("bea", password=PASSWORD)
    workspace = create_workspace("Bea's team", user)
    template = get_template(TEMPLATE)
    transform = template.transform_node
    assert transform is not None
    log_in(page, live_server.url)

    # The gallery: choose the template, name the flow, land in the designer with its steps.
    page.get_by_role("button", name="New from template").click()
    gallery = page.get_by_role("dialog", name="New from template")
    gallery.get_by_role("button", name=f"Use {template.title}").click()
    naming = page.get_by_role("dialog", name=f"New flow from “{template.title}”")
    expect(naming.get_by_label("Flow name")).to_have_value(template.flow_name)
    naming.get_by_label("Flow name").fill(FLOW_NAME)
    naming.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name=FLOW_NAME)).to_be_visible()
    nodes = page.locator(".react-flow__node")
    expect(nodes).to_have_count(len(template.graph["nodes"]))
    on_canvas = nodes.evaluate_all("ns => ns.map(n => n.dataset.id)")
    assert sorted(on_canvas) == sorted(node["id"] for node in template.graph["nodes"])
    flow = Flow.objects.get(workspace=workspace, name=FLOW_NAME)
    assert flow.graph["nodes"] == template.graph["nodes"]
    assert flow.graph["edges"] == template.graph["edges"]

    # The code test panel: the template's first sample gives the output the template promises.
    panel = select_node(page, transform)
    samples = panel.get_by_label("Template samples")
    # Its options load when it is focused, as when a user clicks or tabs into it.
    samples.focus()
    samples.select_option(label=template.title)
    first = template.samples[0]
    expect(panel.get_by_label("Sample message")).to_have_value(
        re.compile(re.escape(first.message["body"]["event_id"]))
    )
    panel.get_by_role("button", name="Run test").click()
    output = panel.get_by_role("region", name="Test output")
    expect(output).to_contain_text(f"{len(first.expected_output)} message")
    output.get_by_role("button", name="Raw").click()
    assert json.loads(output.locator(".json-raw").inner_text()) == first.expected_output[0]

    # Publish v1, edit the transform, and compare v1 with the draft.
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_test_id("flow-version")).to_have_text("v1")
    # The notice would cover the screenshots that follow.
    published = page.locator(".toast").filter(has_text="Published v1.")
    published.get_by_role("button", name="Dismiss notification").click()
    expect(published).to_have_count(0)
    editor = panel.get_by_label("Code editor")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(edited_code(template))
    expect(page.get_by_test_id("save-status")).to_have_text("Saved", timeout=20_000)
    page.get_by_role("button", name="Close configuration").click()
    page.get_by_role("button", name="Versions").click()
    versions = page.get_by_role("dialog", name="Versions")
    versions.get_by_role("row", name=re.compile(r"^v1\b")).get_by_role(
        "button", name="Compare"
    ).click()
    comparison = page.get_by_role("dialog", name="Compare versions")
    diff = comparison.get_by_role("region", name="Changes from v1 to the draft")
    expect(diff.get_by_role("heading", name="Steps changed (1)")).to_be_visible()
    changed = diff.get_by_role("article")
    expect(changed).to_have_count(1)
    expect(changed.get_by_role("heading")).to_contain_text(transform)
    added = changed.locator("tr.line-added").filter(has_text=ADDED_LINE.strip())
    expect(added).to_have_count(1)
    expect(added).to_contain_text("added:")
    # Exactly the two lines typed in: the editor re-indented or dropped nothing.
    expect(changed.locator("tr.line-added")).to_have_count(2)
    expect(changed.locator("tr.line-removed")).to_have_count(0)
    # Highlighted: the added line has the diff's green background, not the table's.
    background = added.evaluate("row => getComputedStyle(row).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "transparent"), background
    added.scroll_into_view_if_needed()
    finish_animations(comparison)
    screenshot(page, "version-diff")
    comparison.get_by_role("button", name="Close").click()
    expect(comparison).to_have_count(0)

    # Storage: the flow's executions and what they take, next to another flow's.
    size = record_executions(flow, transform, 3)
    reshape = get_template("kafka-kafka-filter-reshape")
    other = create_flow_from_template(workspace, reshape.slug, user)
    publish_flow(other, user)
    record_executions(other, str(reshape.transform_node), 5)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Storage").click()
    table = page.get_by_role("table", name="Storage per flow")
    row = table.get_by_role("row").filter(has=page.get_by_role("link", name=FLOW_NAME))
    # Flow, Executions, Step records, Size, ...
    cells = row.get_by_role("cell")
    expect(cells.nth(1)).to_have_text("3")
    expect(cells.nth(2)).to_have_text("3")
    expect(row.locator(".storage-size")).to_have_text(format_bytes(size))
    screenshot(page, "storage")

    # The gallery once more, for the README's picture of it.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Flows").click()
    page.get_by_role("button", name="New from template").click()
    gallery = page.get_by_role("dialog", name="New from template")
    cards = gallery.get_by_role("list", name="Templates").get_by_role("article")
    expect(cards).to_have_count(len(list_templates()))
    finish_animations(gallery)
    screenshot(page, "templates")
