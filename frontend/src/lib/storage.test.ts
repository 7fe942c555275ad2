import { describe, expect, it } from "vitest";
import type { FlowStorage } from "../api/types";
import { matchRoute } from "../router";
import { canSeeStorage, defaultDirection, retentionText, shareOf, sortStorage } from "./storage";

function row(id: number, name: string, total: number, executions: number, oldest: string | null): FlowStorage {
  return {
    id,
    name,
    workspace: 1,
    workspace_name: "Shop",
    executions,
    step_records: executions * 2,
    bytes: { inputs: total, outputs: 0, logs: 0, errors: 0, total },
    oldest_execution: oldest,
    newest_execution: oldest,
    retention: { days: 14, default_days: true, max_executions: 1_000_000 },
  };
}

const ROWS = [
  row(1, "Orders", 2048, 10, "2026-11-20T10:00:00Z"),
  row(2, "Idle", 0, 0, null),
  row(3, "Clicks", 9000, 40, "2026-11-25T10:00:00Z"),
  row(4, "Alerts", 2048, 3, "2026-11-01T10:00:00Z"),
];
const names = (rows: FlowStorage[]) => rows.map((r) => r.name);

describe("storage", () => {
  it("is shown to owners and staff only", () => {
    const user = { id: 1, username: "a", is_staff: false };
    expect(canSeeStorage(user, { id: 1, name: "Shop", role: "owner" })).toBe(true);
    expect(canSeeStorage(user, { id: 1, name: "Shop", role: "editor" })).toBe(false);
    expect(canSeeStorage(user, undefined)).toBe(false);
    expect(canSeeStorage({ ...user, is_staff: true }, { id: 1, name: "Shop", role: "viewer" })).toBe(true);
    expect(canSeeStorage(null, undefined)).toBe(false);
  });

  it("sorts by size, biggest first, ties by name", () => {
    expect(names(sortStorage(ROWS, "size", "descending"))).toEqual(["Clicks", "Alerts", "Orders", "Idle"]);
    expect(names(sortStorage(ROWS, "size", "ascending"))).toEqual(["Idle", "Alerts", "Orders", "Clicks"]);
    expect(names(ROWS)).toEqual(["Orders", "Idle", "Clicks", "Alerts"]); // a copy, not in place
  });

  it("sorts by the oldest record with flows without records last", () => {
    expect(names(sortStorage(ROWS, "oldest", "ascending"))).toEqual(["Alerts", "Orders", "Clicks", "Idle"]);
    expect(names(sortStorage(ROWS, "oldest", "descending"))).toEqual(["Clicks", "Orders", "Alerts", "Idle"]);
  });

  it("sorts by name and counts", () => {
    expect(names(sortStorage(ROWS, "name", "ascending"))).toEqual(["Alerts", "Clicks", "Idle", "Orders"]);
    expect(names(sortStorage(ROWS, "executions", "descending"))).toEqual(["Clicks", "Orders", "Alerts", "Idle"]);
    expect(defaultDirection("name")).toBe("ascending");
    expect(defaultDirection("size")).toBe("descending");
  });

  it("reads retention and shares", () => {
    expect(retentionText({ days: 14, default_days: true, max_executions: 1_000_000 })).toBe("14 days (default), newest 1,000,000 kept");
    expect(retentionText({ days: 1, default_days: false, max_executions: 50 })).toBe("1 day, newest 50 kept");
    expect(shareOf(ROWS[2]!, 18000)).toBe(50);
    expect(shareOf(ROWS[1]!, 0)).toBe(0);
  });

  it("has its route", () => {
    expect(matchRoute("/storage")).toEqual({ name: "storage" });
    expect(matchRoute("/storage/")).toEqual({ name: "storage" });
  });
});
