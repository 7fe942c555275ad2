import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Flow } from "../api/types";
import { useSession } from "../stores/session";
import { filterFlows, FlowsListPage } from "./FlowsListPage";

function flow(id: number, name: string, status: Flow["status"] = "draft", status_reason = ""): Flow {
  return {
    status_reason,
    id,
    workspace: 1,
    name,
    graph: { nodes: [], edges: [] },
    status,
    active_version: status === "draft" ? null : 2,
    created_at: "2025-01-01T00:00:00Z",
    updated_at: "2025-01-01T00:00:00Z",
    last_hour: { in: 1200, out: 1100, failed: 3 },
    last_activity: null,
    consuming: status === "running",
  };
}

describe("FlowsListPage", () => {
  let calls: { url: string; method: string }[];

  beforeEach(() => {
    calls = [];
    useSession.setState({ status: "authenticated", workspaceId: 1, workspaces: [{ id: 1, name: "Shop", role: "owner" }] });
    vi.stubGlobal(
      "fetch",
      vi.fn((url: string, init?: RequestInit) => {
        calls.push({ url, method: init?.method ?? "GET" });
        if (init?.method === "DELETE") return Promise.resolve(new Response(null, { status: 204 }));
        const results = [flow(1, "Orders"), flow(2, "Shop events", "running"), flow(3, "Refunds", "retrying", "rest-1: HTTP 503; trying again in 30 s")];
        const body = { count: results.length, next: null, previous: null, results };
        return Promise.resolve(new Response(JSON.stringify(body), { status: 200 }));
      }),
    );
  });

  afterEach(() => vi.unstubAllGlobals());

  it("lists flows with the controls the contract names", async () => {
    render(<FlowsListPage />);
    const link = await screen.findByRole("link", { name: "Shop events" });
    expect(link).toHaveAttribute("href", "/flows/2");
    expect(calls[0]?.url).toContain("workspace=1");
    const running = link.closest("tr")!;
    expect(within(running).getByRole("button", { name: "Stop" })).toBeInTheDocument();
    expect(within(running).getByText("v2")).toBeInTheDocument();
    expect(within(running).getByText("1.2k")).toBeInTheDocument();
    const draft = screen.getByRole("link", { name: "Orders" }).closest("tr")!;
    for (const name of ["Start", "Rename", "Duplicate", "Delete"]) {
      expect(within(draft).getByRole("button", { name })).toBeInTheDocument();
    }
    expect(screen.getByRole("searchbox", { name: "Search flows" })).toBeInTheDocument();
  });

  it("shows a retrying flow in amber with its reason, and lets it be stopped", async () => {
    render(<FlowsListPage />);
    const row = (await screen.findByRole("link", { name: "Refunds" })).closest("tr")!;
    const badge = within(row).getByText("retrying");
    expect(badge).toHaveClass("badge-retrying");
    expect(badge).toHaveAttribute("title", "rest-1: HTTP 503; trying again in 30 s");
    expect(within(row).getByText("rest-1: HTTP 503; trying again in 30 s")).toBeInTheDocument();
    expect(within(row).getByRole("button", { name: "Stop" })).toBeInTheDocument();
    expect(within(row).queryByRole("button", { name: "Start" })).not.toBeInTheDocument();
  });

  it("asks before deleting", async () => {
    render(<FlowsListPage />);
    const row = (await screen.findByRole("link", { name: "Orders" })).closest("tr")!;
    await userEvent.click(within(row).getByRole("button", { name: "Delete" }));
    const dialog = screen.getByRole("dialog");
    expect(within(dialog).getByRole("button", { name: "Cancel" })).toBeInTheDocument();
    await userEvent.click(within(dialog).getByRole("button", { name: "Delete" }));
    expect(calls.some((c) => c.method === "DELETE" && c.url.endsWith("/flows/1/"))).toBe(true);
    expect(screen.queryByRole("link", { name: "Orders" })).not.toBeInTheDocument();
  });

  it("opens the New flow dialog", async () => {
    render(<FlowsListPage />);
    await userEvent.click(screen.getByRole("button", { name: "New flow" }));
    const dialog = screen.getByRole("dialog");
    expect(within(dialog).getByLabelText("Flow name")).toHaveFocus();
    expect(within(dialog).getByRole("button", { name: "Create" })).toBeInTheDocument();
  });

  it("filters by name, case-insensitively, sorted", () => {
    const flows = [flow(1, "b orders"), flow(2, "A Orders"), flow(3, "other")];
    expect(filterFlows(flows, "ORDERS").map((f) => f.id)).toEqual([2, 1]);
  });
});
