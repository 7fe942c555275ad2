import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { FlowStorage, FlowStorageReport } from "../api/types";
import { useSession } from "../stores/session";
import { StoragePage } from "./StoragePage";

function json(status: number, body: unknown) {
  return Promise.resolve(new Response(JSON.stringify(body), { status }));
}

function row(id: number, name: string, total: number, executions: number, oldest: string | null): FlowStorage {
  return {
    id,
    name,
    workspace: 1,
    workspace_name: "Shop",
    executions,
    step_records: executions * 2,
    bytes: { inputs: total / 2, outputs: total / 2, logs: 0, errors: 0, total },
    oldest_execution: oldest,
    newest_execution: oldest,
    retention: { days: 14, default_days: true, max_executions: 1_000_000 },
  };
}

const REPORT: FlowStorageReport = {
  flows: [row(3, "Clicks", 3 * 1024 * 1024, 4000, "2026-11-20T10:00:00Z"), row(1, "Orders", 2048, 12, "2026-11-27T10:00:00Z"), row(2, "Idle", 0, 0, null)],
  totals: {
    flows: 3,
    executions: 4012,
    step_records: 8024,
    bytes: { inputs: 0, outputs: 0, logs: 0, errors: 0, total: 3 * 1024 * 1024 + 2048 },
  },
  defaults: { retention_days: 14, max_executions: 1_000_000 },
};

describe("StoragePage", () => {
  let fetchMock: ReturnType<typeof vi.fn>;
  const calls = () => fetchMock.mock.calls.map((call) => ({ url: call[0] as string, init: call[1] as RequestInit }));

  beforeEach(() => {
    useSession.setState({
      status: "authenticated",
      user: { id: 1, username: "olga", is_staff: false },
      workspaceId: 1,
      workspaces: [{ id: 1, name: "Shop", role: "owner" }],
    });
    fetchMock = vi.fn((url: string, init?: RequestInit) => {
      if (url.startsWith("/api/v1/storage/")) return json(200, REPORT);
      if (url === "/api/v1/flows/3/prune/" && init?.method === "POST") return json(200, { deleted: 3990 });
      return json(404, { error: "no such thing", details: {} });
    });
    vi.stubGlobal("fetch", fetchMock);
  });

  afterEach(() => vi.unstubAllGlobals());

  it("lists each flow's records, size, oldest record and retention, biggest first", async () => {
    render(<StoragePage />);
    const table = await screen.findByRole("table", { name: "Storage per flow" });
    expect(calls()[0]!.url).toBe("/api/v1/storage/?workspace=1");
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows.map((r) => within(r).getByRole("link").textContent)).toEqual(["Clicks", "Orders", "Idle"]);
    expect(rows[0]).toHaveTextContent("4,000");
    expect(rows[0]).toHaveTextContent("8,000");
    expect(rows[0]).toHaveTextContent("3.0 MB");
    expect(rows[0]).toHaveTextContent("14 days (default), newest 1,000,000 kept");
    expect(within(rows[0]!).getByRole("link")).toHaveAttribute("href", "/flows/3/executions");
    expect(rows[2]).toHaveTextContent("none");
    expect(within(rows[2]!).getByRole("button", { name: "Delete records…" })).toBeDisabled();
    expect(screen.getByLabelText("Totals")).toHaveTextContent("3.0 MB in 4.0k executions and 8.0k step records of 3 flows");
    expect(within(table).getByRole("columnheader", { name: /Size/ })).toHaveAttribute("aria-sort", "descending");
  });

  it("sorts by a column and back", async () => {
    render(<StoragePage />);
    const table = await screen.findByRole("table", { name: "Storage per flow" });
    const order = () => within(table).getAllByRole("link").map((link) => link.textContent);
    await userEvent.click(within(table).getByRole("button", { name: /Size/ }));
    expect(order()).toEqual(["Idle", "Orders", "Clicks"]);
    expect(within(table).getByRole("columnheader", { name: /Size/ })).toHaveAttribute("aria-sort", "ascending");
    await userEvent.click(within(table).getByRole("button", { name: /Flow/ }));
    expect(order()).toEqual(["Clicks", "Idle", "Orders"]);
    await userEvent.click(within(table).getByRole("button", { name: /Oldest record/ }));
    expect(order()).toEqual(["Clicks", "Orders", "Idle"]);
  });

  it("deletes a flow's older records after asking, then reloads", async () => {
    render(<StoragePage />);
    const table = await screen.findByRole("table", { name: "Storage per flow" });
    const clicks = within(table).getAllByRole("row")[1]!;
    await userEvent.click(within(clicks).getByRole("button", { name: "Delete records…" }));
    const dialog = screen.getByRole("dialog", { name: "Delete records of Clicks" });
    const days = within(dialog).getByRole("spinbutton", { name: "Days" });
    await userEvent.clear(days);
    expect(within(dialog).getByRole("button", { name: "Delete" })).toBeDisabled();
    await userEvent.type(days, "3");
    await userEvent.click(within(dialog).getByRole("button", { name: "Delete" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    const prune = calls().find((call) => call.url === "/api/v1/flows/3/prune/")!;
    expect(JSON.parse(prune.init.body as string)).toEqual({ older_than_days: 3 });
    await waitFor(() => expect(calls().filter((call) => call.url.startsWith("/api/v1/storage/"))).toHaveLength(2));
  });

  it("deletes all of a flow's records", async () => {
    render(<StoragePage />);
    const table = await screen.findByRole("table", { name: "Storage per flow" });
    await userEvent.click(within(within(table).getAllByRole("row")[1]!).getByRole("button", { name: "Delete records…" }));
    await userEvent.click(screen.getByRole("radio", { name: "All 4,000 executions" }));
    await userEvent.click(screen.getByRole("button", { name: "Delete" }));
    await waitFor(() => expect(calls().some((call) => call.url === "/api/v1/flows/3/prune/")).toBe(true));
    const prune = calls().find((call) => call.url === "/api/v1/flows/3/prune/")!;
    expect(JSON.parse(prune.init.body as string)).toEqual({ all: true });
  });

  it("explains itself to a member who is not an owner, without asking the server", async () => {
    useSession.setState({ workspaces: [{ id: 1, name: "Shop", role: "editor" }] });
    render(<StoragePage />);
    expect(screen.getByRole("heading", { name: "Storage is for workspace owners" })).toBeInTheDocument();
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it("lets staff see every workspace", async () => {
    useSession.setState({ user: { id: 2, username: "sam", is_staff: true }, workspaces: [{ id: 1, name: "Shop", role: "viewer" }] });
    render(<StoragePage />);
    await screen.findByRole("table", { name: "Storage per flow" });
    await userEvent.click(screen.getByRole("checkbox", { name: "All workspaces" }));
    await waitFor(() => expect(calls().map((call) => call.url)).toContain("/api/v1/storage/"));
    expect(await screen.findAllByText("Shop")).not.toHaveLength(0);
  });
});
