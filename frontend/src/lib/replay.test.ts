import { describe, expect, it } from "vitest";
import { addOffsetRow, buildReplayRequest, describeReplay, emptyReplayForm, removeOffsetRow, type ReplayForm } from "./replay";

const NOW = Date.parse("2025-06-01T12:00:00Z");

function form(patch: Partial<ReplayForm>): ReplayForm {
  return { ...emptyReplayForm(), ...patch };
}

describe("replay request", () => {
  it("sends earliest and latest as they are, ignoring the other inputs", () => {
    expect(buildReplayRequest(form({ position: "earliest", timestamp: "junk" }), NOW)).toEqual({ ok: true, request: { position: "earliest" } });
    expect(buildReplayRequest(form({ position: "latest" }), NOW)).toEqual({ ok: true, request: { position: "latest" } });
  });

  it("turns a local date-time into an ISO timestamp", () => {
    const local = "2025-05-31T08:30";
    expect(buildReplayRequest(form({ position: "timestamp", timestamp: local }), NOW)).toEqual({
      ok: true,
      request: { position: "timestamp", timestamp: new Date(local).toISOString() },
    });
  });

  it("refuses a missing, invalid or future date-time", () => {
    expect(buildReplayRequest(form({ position: "timestamp", timestamp: "" }), NOW)).toEqual({ ok: false, errors: { timestamp: "Choose a date and time." } });
    expect(buildReplayRequest(form({ position: "timestamp", timestamp: "tomorrow" }), NOW)).toMatchObject({ ok: false, errors: { timestamp: expect.stringMatching(/valid/) } });
    expect(buildReplayRequest(form({ position: "timestamp", timestamp: "2030-01-01T00:00" }), NOW)).toMatchObject({ ok: false, errors: { timestamp: expect.stringMatching(/past/) } });
  });

  it("builds partition → offset maps, skipping blank rows", () => {
    const offsets = [
      { partition: "0", offset: "120" },
      { partition: "", offset: "" },
      { partition: " 2 ", offset: "0" },
    ];
    expect(buildReplayRequest(form({ position: "offsets", offsets }), NOW)).toEqual({ ok: true, request: { position: "offsets", offsets: { "0": 120, "2": 0 } } });
  });

  it("flags bad offset rows by index", () => {
    const offsets = [
      { partition: "0", offset: "-1" },
      { partition: "x", offset: "5" },
      { partition: "0", offset: "7" },
      { partition: "3", offset: "1.5" },
    ];
    const result = buildReplayRequest(form({ position: "offsets", offsets }), NOW);
    expect(result).toEqual({
      ok: false,
      errors: {
        rows: {
          0: { offset: "an offset of 0 or more" },
          1: { partition: "a partition number (0, 1, …)" },
          3: { offset: "an offset of 0 or more" },
        },
      },
    });
  });

  it("flags a partition listed twice", () => {
    const offsets = [
      { partition: "1", offset: "5" },
      { partition: "1", offset: "7" },
    ];
    expect(buildReplayRequest(form({ position: "offsets", offsets }), NOW)).toEqual({ ok: false, errors: { rows: { 1: { partition: "partition 1 is listed twice" } } } });
  });

  it("asks for at least one offset", () => {
    expect(buildReplayRequest(form({ position: "offsets", offsets: [{ partition: "", offset: "" }] }), NOW)).toEqual({
      ok: false,
      errors: { offsets: "Give at least one partition and its offset." },
    });
  });

  it("adds the next partition and never leaves no row", () => {
    expect(addOffsetRow([{ partition: "0", offset: "1" }, { partition: "3", offset: "" }])).toEqual([
      { partition: "0", offset: "1" },
      { partition: "3", offset: "" },
      { partition: "4", offset: "" },
    ]);
    expect(addOffsetRow([{ partition: "", offset: "" }]).at(-1)).toEqual({ partition: "0", offset: "" });
    expect(removeOffsetRow([{ partition: "2", offset: "9" }], 0)).toEqual([{ partition: "0", offset: "" }]);
  });

  it("describes the request", () => {
    expect(describeReplay({ position: "earliest" })).toBe("from the earliest message");
    expect(describeReplay({ position: "offsets", offsets: { "0": 5, "1": 9 } })).toBe("from offsets 0:5, 1:9");
  });
});
