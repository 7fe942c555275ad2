/**
 * Bloomreach wants seconds; Kafka timestamps are milliseconds. A seconds value above 1e11 is
 * after the year 5000, so such a value is almost surely milliseconds (the same threshold the
 * bloomreach component uses).
 */
import type { JSONValue } from "../api/types";

export const MILLISECONDS_THRESHOLD = 1e11;
export const TIMESTAMP_KEYS = ["timestamp", "update_timestamp"] as const;

export interface TimestampWarning {
  /** Where the value sits, e.g. `output[0].data.timestamp`. */
  path: string;
  value: number;
  message: string;
}

export function looksLikeMilliseconds(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && value > MILLISECONDS_THRESHOLD;
}

/** Every `timestamp`/`update_timestamp` in `value` (any depth) that looks like milliseconds. */
export function millisecondTimestamps(value: JSONValue | undefined, root = "output"): TimestampWarning[] {
  const found: TimestampWarning[] = [];
  const visit = (node: JSONValue | undefined, path: string, depth: number) => {
    if (depth > 20 || node === null || node === undefined || typeof node !== "object") return;
    if (Array.isArray(node)) {
      node.forEach((item, index) => visit(item, `${path}[${index}]`, depth + 1));
      return;
    }
    for (const [key, child] of Object.entries(node)) {
      const childPath = `${path}.${key}`;
      if ((TIMESTAMP_KEYS as readonly string[]).includes(key) && looksLikeMilliseconds(child)) {
        found.push({
          path: childPath,
          value: child,
          message: `${childPath} = ${child} looks like milliseconds; Bloomreach expects seconds (divide by 1000).`,
        });
      }
      visit(child, childPath, depth + 1);
    }
  };
  visit(value, root, 0);
  return found;
}
