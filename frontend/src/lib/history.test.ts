import { describe, expect, it } from "vitest";
import { canRedo, canUndo, emptyHistory, HISTORY_LIMIT, record, redo, undo } from "./history";

describe("history", () => {
  it("undoes and redoes in order", () => {
    let history = emptyHistory<number>();
    history = record(history, 0, { now: 0 });
    history = record(history, 1, { now: 10 });
    const current = 2;
    expect(canUndo(history)).toBe(true);
    expect(canRedo(history)).toBe(false);

    const first = undo(history, current);
    expect(first?.state).toBe(1);
    const second = undo(first!.history, first!.state);
    expect(second?.state).toBe(0);
    expect(undo(second!.history, 0)).toBeNull();

    const again = redo(second!.history, second!.state);
    expect(again?.state).toBe(1);
    const last = redo(again!.history, again!.state);
    expect(last?.state).toBe(2);
    expect(redo(last!.history, 2)).toBeNull();
  });

  it("drops the redo branch on a new change", () => {
    let history = record(emptyHistory<string>(), "a", { now: 0 });
    const undone = undo(history, "b")!;
    history = record(undone.history, "a", { now: 5000 });
    expect(canRedo(history)).toBe(false);
    expect(history.past).toEqual(["a"]);
  });

  it("coalesces changes with the same key inside the window", () => {
    let history = emptyHistory<string>();
    history = record(history, "", { key: "config:code-1:url", now: 0 });
    history = record(history, "h", { key: "config:code-1:url", now: 300 });
    history = record(history, "ht", { key: "config:code-1:url", now: 600 });
    expect(history.past).toEqual([""]);
    history = record(history, "htt", { key: "config:code-1:url", now: 2000 });
    expect(history.past).toEqual(["", "htt"]);
    history = record(history, "http", { key: "config:code-1:method", now: 2100 });
    expect(history.past).toHaveLength(3);
  });

  it("never coalesces changes without a key", () => {
    let history = emptyHistory<number>();
    history = record(history, 1, { now: 0 });
    history = record(history, 2, { now: 1 });
    expect(history.past).toEqual([1, 2]);
  });

  it("keeps at most the limit", () => {
    let history = emptyHistory<number>();
    for (let i = 0; i < HISTORY_LIMIT + 20; i++) history = record(history, i, { now: i * 5000 });
    expect(history.past).toHaveLength(HISTORY_LIMIT);
    expect(history.past[0]).toBe(20);
  });
});
