import { describe, expect, it } from "vitest";
import { filterScope } from "../pages/executions/BulkRetryButton";
import { bulkRetryFilters, bulkRetryText } from "./executions";

const NOW = Date.parse("2025-06-01T12:00:00Z");

describe("bulk retry", () => {
  it("sends the list's time range and search, never the status", () => {
    expect(bulkRetryFilters({ status: "succeeded", range: "all", search: "  " }, NOW)).toEqual({});
    expect(bulkRetryFilters({ status: "failed", range: "1h", search: " timeout " }, NOW)).toEqual({
      since: "2025-06-01T11:00:00.000Z",
      search: "timeout",
    });
  });

  it("says what the server did", () => {
    expect(bulkRetryText({ retried: 42, skipped: 0 })).toBe("Retrying 42 executions.");
    expect(bulkRetryText({ retried: 1, skipped: 2 })).toBe("Retrying 1 execution; 2 skipped.");
    expect(bulkRetryText({ retried: 0, skipped: 0 })).toBe("No failed executions to retry.");
  });

  it("names the filters in the confirmation", () => {
    expect(filterScope({ status: "", range: "all", search: "" })).toBe("of all time");
    expect(filterScope({ status: "failed", range: "24h", search: "503" })).toBe("in the last 24 hours, matching “503”");
  });
});
