import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { ComponentDescriptor, GraphNode } from "../../api/types";
import { NodeConfigPanel, type NodeConfigPanelProps } from "./NodeConfigPanel";

function descriptor(name: string, kind: "trigger" | "action"): ComponentDescriptor {
  return {
    name,
    kind,
    title: name === "rest" ? "HTTP request" : "Kafka consumer",
    description: "",
    config_schema: { type: "object", properties: { url: { type: "string", title: "URL" } } },
    credential_type: null,
    credential_schema: null,
    sample_config: {},
  };
}

function node(component: string, retry?: GraphNode["retry"]): GraphNode {
  return { id: `${component}-1`, component, config: {}, credential: null, position: { x: 0, y: 0 }, ...(retry ? { retry } : {}) };
}

function renderPanel(overrides: Partial<NodeConfigPanelProps>) {
  const props: NodeConfigPanelProps = {
    node: node("rest"),
    descriptor: descriptor("rest", "action"),
    problems: undefined,
    credentials: [],
    credentialTypes: [],
    flowId: 1,
    workspaceId: 1,
    parent: null,
    possibleParents: [],
    expanded: false,
    onToggleExpanded: () => {},
    onConfigChange: () => {},
    onCredentialChange: () => {},
    onCredentialCreated: () => {},
    onRetryChange: () => {},
    onParentChange: () => {},
    onDelete: () => {},
    onClose: () => {},
    ...overrides,
  };
  return render(<NodeConfigPanel {...props} />);
}

describe("Retry policy in the node panel", () => {
  it("is collapsed for an action without a policy and summarises the defaults", async () => {
    const onRetryChange = vi.fn();
    renderPanel({ onRetryChange });
    const toggle = screen.getByRole("button", { name: "Retry policy" });
    expect(toggle).toHaveAttribute("aria-expanded", "false");
    expect(toggle).toHaveAccessibleDescription("Defaults: 3 attempts, waits from 2 s up to 60 s");
    expect(screen.queryByRole("spinbutton", { name: "Attempts" })).not.toBeInTheDocument();

    await userEvent.click(toggle);
    expect(toggle).toHaveAttribute("aria-expanded", "true");
    expect(screen.getByText(/Transient failures \(timeouts, 429, 5xx\) are retried/)).toBeInTheDocument();
    const attempts = screen.getByRole("spinbutton", { name: "Attempts" });
    expect(attempts).toHaveValue(null);
    expect(attempts).toHaveAttribute("placeholder", "3");
    expect(screen.getByRole("spinbutton", { name: "Backoff (seconds)" })).toHaveAttribute("placeholder", "2");
    expect(screen.getByRole("spinbutton", { name: "Max delay (seconds)" })).toHaveAttribute("placeholder", "60");
    await userEvent.type(attempts, "5");
    expect(onRetryChange).toHaveBeenLastCalledWith("attempts", 5);
  });

  it("opens on a configured policy and reports an emptied input as undefined", async () => {
    const onRetryChange = vi.fn();
    renderPanel({ node: node("rest", { attempts: 7, backoff_seconds: 0.5 }), onRetryChange });
    expect(screen.getByRole("button", { name: "Retry policy" })).toHaveAttribute("aria-expanded", "true");
    const attempts = screen.getByRole("spinbutton", { name: "Attempts" });
    expect(attempts).toHaveValue(7);
    await userEvent.clear(attempts);
    expect(onRetryChange).toHaveBeenLastCalledWith("attempts", undefined);
  });

  it("shows the server's retry.* messages and local range checks", () => {
    renderPanel({
      node: node("rest", { attempts: 50 }),
      problems: { fields: { "retry.backoff_seconds": ["must be at most 600"] }, general: [] },
    });
    expect(screen.getByRole("spinbutton", { name: "Attempts" })).toHaveAccessibleDescription(/must be at most 20/);
    expect(screen.getByRole("spinbutton", { name: "Backoff (seconds)" })).toHaveAccessibleDescription(/must be at most 600/);
  });

  it("is not offered on a trigger", () => {
    renderPanel({ node: node("kafka"), descriptor: descriptor("kafka", "trigger") });
    expect(screen.queryByRole("button", { name: "Retry policy" })).not.toBeInTheDocument();
  });
});
