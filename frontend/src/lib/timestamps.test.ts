import { describe, expect, it } from "vitest";
import type { JSONValue } from "../api/types";
import { looksLikeMilliseconds, millisecondTimestamps } from "./timestamps";

describe("millisecond timestamps", () => {
  it("tells milliseconds from seconds", () => {
    expect(looksLikeMilliseconds(1764000000001)).toBe(true);
    expect(looksLikeMilliseconds(1764000000.001)).toBe(false);
    expect(looksLikeMilliseconds("1764000000001")).toBe(false);
  });

  it("finds timestamp and update_timestamp at any depth", () => {
    const output: JSONValue = [
      { name: "customers/events", data: { timestamp: 1764000000001, properties: { timestamp: 5 } } },
      { name: "customers", data: { update_timestamp: 1764000000123 } },
      { event_type: "x", timestamp: 1764000000.5 },
    ];
    const warnings = millisecondTimestamps(output);
    expect(warnings.map((w) => w.path)).toEqual(["output[0].data.timestamp", "output[1].data.update_timestamp"]);
    expect(warnings[0]?.message).toMatch(/milliseconds/);
  });

  it("ignores other keys and odd values", () => {
    expect(millisecondTimestamps([{ ts: 1764000000001 }, null, "x"])).toEqual([]);
    expect(millisecondTimestamps(undefined)).toEqual([]);
  });
});
