/** The storage page's pure parts: who sees it, how rows sort, how retention reads. */
import type { FlowRetention, FlowStorage, User, WorkspaceRef } from "../api/types";

export type StorageSortKey = "name" | "executions" | "step_records" | "size" | "oldest";
export type SortDirection = "ascending" | "descending";

/** Storage is for a workspace's owners, and for staff (operators of the whole install). */
export function canSeeStorage(user: User | null, workspace: WorkspaceRef | undefined): boolean {
  return Boolean(user?.is_staff) || workspace?.role === "owner";
}

/** Names A to Z and the oldest record first; counts and sizes biggest first. */
export function defaultDirection(key: StorageSortKey): SortDirection {
  return key === "name" || key === "oldest" ? "ascending" : "descending";
}

function time(iso: string | null): number | null {
  if (!iso) return null;
  const ms = new Date(iso).getTime();
  return Number.isNaN(ms) ? null : ms;
}

/** A sorted copy; flows without any record go last either way, then ties by name. */
export function sortStorage(rows: FlowStorage[], key: StorageSortKey, direction: SortDirection): FlowStorage[] {
  const sign = direction === "ascending" ? 1 : -1;
  const byName = (a: FlowStorage, b: FlowStorage) => a.name.localeCompare(b.name) || a.id - b.id;
  const value = (row: FlowStorage): number | null => {
    switch (key) {
      case "executions":
        return row.executions;
      case "step_records":
        return row.step_records;
      case "size":
        return row.bytes.total;
      case "oldest":
        return time(row.oldest_execution);
      case "name":
        return null;
    }
  };
  return [...rows].sort((a, b) => {
    if (key === "name") return sign * byName(a, b);
    const va = value(a);
    const vb = value(b);
    if (va === null || vb === null) return va === vb ? byName(a, b) : va === null ? 1 : -1;
    return sign * (va - vb) || byName(a, b);
  });
}

/** "14 days (default), newest 1,000,000 kept". */
export function retentionText(retention: FlowRetention): string {
  const days = `${retention.days} ${retention.days === 1 ? "day" : "days"}${retention.default_days ? " (default)" : ""}`;
  return `${days}, newest ${retention.max_executions.toLocaleString("en")} kept`;
}

/** A flow's share of the total, 0..100, for the size bar. */
export function shareOf(row: FlowStorage, total: number): number {
  return total > 0 ? Math.round((row.bytes.total / total) * 1000) / 10 : 0;
}
