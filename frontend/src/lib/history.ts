/**
 * An undo/redo history of immutable snapshots.
 *
 * `record` keeps the state *before* a change. Changes sharing a `key` within `coalesceMs`
 * (typing into one config field) become one undo step, so undo does not walk back a
 * keystroke at a time.
 */
export interface History<T> {
  past: T[];
  future: T[];
  lastKey: string | null;
  lastAt: number;
}

export const HISTORY_LIMIT = 100;
export const COALESCE_MS = 1000;

export function emptyHistory<T>(): History<T> {
  return { past: [], future: [], lastKey: null, lastAt: 0 };
}

export function record<T>(
  history: History<T>,
  before: T,
  options: { key?: string | null; now?: number; coalesceMs?: number } = {},
): History<T> {
  const now = options.now ?? Date.now();
  const key = options.key ?? null;
  const window = options.coalesceMs ?? COALESCE_MS;
  if (key !== null && key === history.lastKey && now - history.lastAt < window && history.past.length > 0) {
    // Same ongoing edit: keep the older snapshot, only extend the window.
    return { ...history, future: [], lastAt: now };
  }
  const past = [...history.past, before];
  if (past.length > HISTORY_LIMIT) past.splice(0, past.length - HISTORY_LIMIT);
  return { past, future: [], lastKey: key, lastAt: now };
}

export function canUndo<T>(history: History<T>): boolean {
  return history.past.length > 0;
}

export function canRedo<T>(history: History<T>): boolean {
  return history.future.length > 0;
}

/** The state to go back to and the new history, or null when there is nothing to undo. */
export function undo<T>(history: History<T>, current: T): { state: T; history: History<T> } | null {
  const previous = history.past[history.past.length - 1];
  if (previous === undefined) return null;
  return {
    state: previous,
    history: { past: history.past.slice(0, -1), future: [current, ...history.future], lastKey: null, lastAt: 0 },
  };
}

export function redo<T>(history: History<T>, current: T): { state: T; history: History<T> } | null {
  const next = history.future[0];
  if (next === undefined) return null;
  return {
    state: next,
    history: { past: [...history.past, current], future: history.future.slice(1), lastKey: null, lastAt: 0 },
  };
}
