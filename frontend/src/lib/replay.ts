/**
 * The replay dialog's form and the request it sends: from the earliest or latest message, from
 * a local date and time, or from explicit offsets per partition. Validation happens here, so
 * the dialog only shows what this returns.
 */
import type { ReplayPosition, ReplayRequest } from "../api/types";

export interface OffsetRow {
  partition: string;
  offset: string;
}

export interface ReplayForm {
  position: ReplayPosition;
  /** An `<input type="datetime-local">` value, in the browser's time zone. */
  timestamp: string;
  offsets: OffsetRow[];
}

export interface ReplayErrors {
  timestamp?: string;
  offsets?: string;
  /** By row index. */
  rows?: Record<number, { partition?: string; offset?: string }>;
}

export type ReplayBuild = { ok: true; request: ReplayRequest } | { ok: false; errors: ReplayErrors };

export const REPLAY_CHOICES: { value: ReplayPosition; label: string; description: string }[] = [
  { value: "earliest", label: "From the earliest message", description: "Everything the topic still holds." },
  { value: "latest", label: "From the latest message", description: "Skip what is there; only new messages from now on." },
  { value: "timestamp", label: "From a date and time", description: "The first message at or after this moment, in each partition." },
  { value: "offsets", label: "From offsets", description: "An exact offset per partition; partitions not listed keep their position." },
];

export function emptyReplayForm(): ReplayForm {
  return { position: "earliest", timestamp: "", offsets: [{ partition: "0", offset: "" }] };
}

const WHOLE = /^\d+$/;

function wholeNumber(text: string): number | null {
  const trimmed = text.trim();
  if (!WHOLE.test(trimmed)) return null;
  const n = Number(trimmed);
  return Number.isSafeInteger(n) ? n : null;
}

function isBlank(row: OffsetRow): boolean {
  return row.partition.trim() === "" && row.offset.trim() === "";
}

function buildOffsets(rows: OffsetRow[]): { offsets: Record<string, number> } | { errors: ReplayErrors } {
  const filled = rows.map((row, index) => ({ row, index })).filter(({ row }) => !isBlank(row));
  if (filled.length === 0) return { errors: { offsets: "Give at least one partition and its offset." } };
  const offsets: Record<string, number> = {};
  const rowErrors: Record<number, { partition?: string; offset?: string }> = {};
  for (const { row, index } of filled) {
    const partition = wholeNumber(row.partition);
    const offset = wholeNumber(row.offset);
    const problems: { partition?: string; offset?: string } = {};
    if (partition === null) problems.partition = "a partition number (0, 1, …)";
    else if (String(partition) in offsets) problems.partition = `partition ${partition} is listed twice`;
    if (offset === null) problems.offset = "an offset of 0 or more";
    if (problems.partition || problems.offset) rowErrors[index] = problems;
    else offsets[String(partition)] = offset as number;
  }
  if (Object.keys(rowErrors).length > 0) return { errors: { rows: rowErrors } };
  return { offsets };
}

/** The request for a form, or what is wrong with it. `now` is for tests. */
export function buildReplayRequest(form: ReplayForm, now: number = Date.now()): ReplayBuild {
  switch (form.position) {
    case "earliest":
    case "latest":
      return { ok: true, request: { position: form.position } };
    case "timestamp": {
      if (form.timestamp.trim() === "") return { ok: false, errors: { timestamp: "Choose a date and time." } };
      const time = new Date(form.timestamp);
      if (Number.isNaN(time.getTime())) return { ok: false, errors: { timestamp: "Not a valid date and time." } };
      if (time.getTime() > now) return { ok: false, errors: { timestamp: "Choose a moment in the past." } };
      return { ok: true, request: { position: "timestamp", timestamp: time.toISOString() } };
    }
    case "offsets": {
      const result = buildOffsets(form.offsets);
      if ("errors" in result) return { ok: false, errors: result.errors };
      return { ok: true, request: { position: "offsets", offsets: result.offsets } };
    }
  }
}

/** The row list after "Add partition": the next partition number after the highest given. */
export function addOffsetRow(rows: OffsetRow[]): OffsetRow[] {
  const numbers = rows.map((r) => wholeNumber(r.partition)).filter((n): n is number => n !== null);
  const next = numbers.length ? Math.max(...numbers) + 1 : 0;
  return [...rows, { partition: String(next), offset: "" }];
}

export function removeOffsetRow(rows: OffsetRow[], index: number): OffsetRow[] {
  const next = rows.filter((_, i) => i !== index);
  return next.length ? next : [{ partition: "0", offset: "" }];
}

/** "Partition 0 → offset 120; partition 1 → offset 98" for a summary. */
export function describeReplay(request: ReplayRequest): string {
  switch (request.position) {
    case "earliest":
      return "from the earliest message";
    case "latest":
      return "from the latest message";
    case "timestamp":
      return `from ${request.timestamp ? new Date(request.timestamp).toLocaleString() : "a moment"}`;
    case "offsets":
      return `from offsets ${Object.entries(request.offsets ?? {})
        .map(([partition, offset]) => `${partition}:${offset}`)
        .join(", ")}`;
  }
}
