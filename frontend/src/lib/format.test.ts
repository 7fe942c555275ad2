import { describe, expect, it } from "vitest";
import { formatBytes, formatCount, formatDuration, formatRate, formatTime, relativeTime } from "./format";

describe("format", () => {
  it("formats durations", () => {
    expect(formatDuration(null)).toBe("—");
    expect(formatDuration(0.5)).toBe("0.50 ms");
    expect(formatDuration(12.4)).toBe("12 ms");
    expect(formatDuration(1234)).toBe("1.23 s");
    expect(formatDuration(61_000)).toBe("1 min 1 s");
  });

  it("formats times relative to today", () => {
    const now = new Date(2025, 10, 24, 15, 0, 0);
    const today = new Date(2025, 10, 24, 14, 3, 7, 45).toISOString();
    expect(formatTime(today, now)).toBe("14:03:07.045");
    const earlier = new Date(2025, 10, 20, 9, 5, 1).toISOString();
    expect(formatTime(earlier, now)).toBe("20 Nov 09:05:01");
    expect(formatTime(null, now)).toBe("—");
  });

  it("says how long ago", () => {
    const now = Date.parse("2025-01-01T12:00:00Z");
    expect(relativeTime("2025-01-01T11:59:58Z", now)).toBe("just now");
    expect(relativeTime("2025-01-01T11:59:00Z", now)).toBe("1 min ago");
    expect(relativeTime("2025-01-01T09:00:00Z", now)).toBe("3 h ago");
    expect(relativeTime(null, now)).toBe("never");
  });

  it("shortens counts and rates", () => {
    expect(formatCount(999)).toBe("999");
    expect(formatCount(1500)).toBe("1.5k");
    expect(formatCount(25_000)).toBe("25k");
    expect(formatRate(0)).toBe("0/s");
    expect(formatRate(0.05)).toBe("3.0/min");
    expect(formatRate(2.25)).toBe("2.3/s");
  });
});

describe("formatBytes", () => {
  it("counts in powers of 1,024 with one decimal below ten", () => {
    expect(formatBytes(null)).toBe("—");
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(12 * 1024 + 300)).toBe("12 KB");
    expect(formatBytes(3.4 * 1024 ** 2)).toBe("3.4 MB");
    expect(formatBytes(5 * 1024 ** 5)).toBe("5120 TB");
  });
});
