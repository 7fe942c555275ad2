/**
 * The execution log of one flow: filters, the polled list, the open execution, counters and
 * the throughput series. Polling keeps new executions on screen within ~1.5 s.
 */
import { create } from "zustand";
import {
  api,
  ApiError,
  type BulkRetryFilters,
  type BulkRetryResult,
  type Execution,
  type ExecutionDetail,
  type ExecutionStatus,
  type FlowStats,
  type Throughput,
} from "../api/client";

export const POLL_MS = 1500;
export const STATS_POLL_MS = 10_000;
export const PAGE_SIZE = 50;

export type TimeRange = "15m" | "1h" | "24h" | "all";

export const TIME_RANGES: { value: TimeRange; label: string; ms: number | null }[] = [
  { value: "15m", label: "Last 15 minutes", ms: 15 * 60_000 },
  { value: "1h", label: "Last hour", ms: 60 * 60_000 },
  { value: "24h", label: "Last 24 hours", ms: 24 * 60 * 60_000 },
  { value: "all", label: "All time", ms: null },
];

export interface ExecutionFilterState {
  status: ExecutionStatus | "";
  range: TimeRange;
  search: string;
}

export function sinceFor(range: TimeRange, now: number = Date.now()): string | undefined {
  const ms = TIME_RANGES.find((r) => r.value === range)?.ms;
  return ms ? new Date(now - ms).toISOString() : undefined;
}

/** The list's filters as "Retry all failed" sends them (the status filter does not apply: only failed ones are retried). */
export function bulkRetryFilters(filters: ExecutionFilterState, now: number = Date.now()): BulkRetryFilters {
  const result: BulkRetryFilters = {};
  const since = sinceFor(filters.range, now);
  if (since) result.since = since;
  const search = filters.search.trim();
  if (search) result.search = search;
  return result;
}

/** "Retrying 42 executions" (and what was skipped). */
export function bulkRetryText(result: BulkRetryResult): string {
  const retried = result.retried === 1 ? "Retrying 1 execution" : `Retrying ${result.retried} executions`;
  if (result.retried === 0 && result.skipped === 0) return "No failed executions to retry.";
  return result.skipped > 0 ? `${retried}; ${result.skipped} skipped.` : `${retried}.`;
}

interface ExecutionsState {
  flowId: number | null;
  filters: ExecutionFilterState;
  page: number;
  items: Execution[];
  count: number;
  listState: "idle" | "loading" | "ready" | "error";
  listError: string | null;
  updatedAt: number | null;
  selectedId: number | null;
  detail: ExecutionDetail | null;
  detailState: "idle" | "loading" | "ready" | "error";
  detailError: string | null;
  stats: FlowStats | null;
  statsError: string | null;
  throughput: Throughput | null;
  throughputError: string | null;

  open: (flowId: number) => void;
  close: () => void;
  setFilters: (patch: Partial<ExecutionFilterState>) => void;
  setPage: (page: number) => void;
  refresh: () => Promise<void>;
  refreshStats: () => Promise<void>;
  select: (id: number | null) => Promise<void>;
  retry: (id: number) => Promise<Execution>;
  /** How many failed executions match the current filters (for the confirmation). */
  countFailed: () => Promise<number>;
  retryFailed: () => Promise<BulkRetryResult>;
}

let listTimer: ReturnType<typeof setInterval> | null = null;
let statsTimer: ReturnType<typeof setInterval> | null = null;
let listController: AbortController | null = null;
let detailController: AbortController | null = null;

function stopTimers() {
  if (listTimer) clearInterval(listTimer);
  if (statsTimer) clearInterval(statsTimer);
  listTimer = statsTimer = null;
  listController?.abort();
  detailController?.abort();
  listController = detailController = null;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const empty = {
  flowId: null,
  page: 1,
  items: [] as Execution[],
  count: 0,
  listState: "idle" as const,
  listError: null,
  updatedAt: null,
  selectedId: null,
  detail: null,
  detailState: "idle" as const,
  detailError: null,
  stats: null,
  statsError: null,
  throughput: null,
  throughputError: null,
};

export const useExecutions = create<ExecutionsState>((set, get) => ({
  ...empty,
  filters: { status: "", range: "all", search: "" },

  open: (flowId) => {
    stopTimers();
    if (get().flowId !== flowId) set({ ...empty, flowId, listState: "loading" });
    void get().refresh();
    void get().refreshStats();
    listTimer = setInterval(() => {
      // A hidden tab does not need a live table.
      if (typeof document !== "undefined" && document.visibilityState === "hidden") return;
      void get().refresh();
      const { detail } = get();
      if (detail && detail.status === "running") void get().select(detail.id);
    }, POLL_MS);
    statsTimer = setInterval(() => void get().refreshStats(), STATS_POLL_MS);
  },

  close: () => stopTimers(),

  setFilters: (patch) => {
    set({ filters: { ...get().filters, ...patch }, page: 1, listState: "loading" });
    listController?.abort();
    listController = null;
    void get().refresh();
  },

  setPage: (page) => {
    set({ page: Math.max(1, page), listState: "loading" });
    listController?.abort();
    listController = null;
    void get().refresh();
  },

  refresh: async () => {
    const { flowId, filters, page } = get();
    if (flowId === null) return;
    if (listController) return; // the previous poll is still out
    const controller = new AbortController();
    listController = controller;
    try {
      const data = await api.listExecutions(
        flowId,
        {
          status: filters.status,
          since: sinceFor(filters.range),
          search: filters.search.trim(),
          page,
          page_size: PAGE_SIZE,
        },
        controller.signal,
      );
      if (get().flowId !== flowId) return;
      set({ items: data.results, count: data.count, listState: "ready", listError: null, updatedAt: Date.now() });
    } catch (error) {
      if (controller.signal.aborted) return;
      // A page that emptied under us (filters tightened, records pruned): go back to page 1.
      if (error instanceof ApiError && error.status === 404 && page > 1) {
        set({ page: 1 });
        return;
      }
      set({ listState: "error", listError: message(error) });
    } finally {
      if (listController === controller) listController = null;
    }
  },

  refreshStats: async () => {
    const { flowId } = get();
    if (flowId === null) return;
    const [stats, throughput] = await Promise.allSettled([api.flowStats(flowId), api.flowThroughput(flowId, 3600, 60)]);
    if (get().flowId !== flowId) return;
    set({
      stats: stats.status === "fulfilled" ? stats.value : get().stats,
      statsError: stats.status === "rejected" ? message(stats.reason) : null,
      throughput: throughput.status === "fulfilled" ? throughput.value : get().throughput,
      throughputError: throughput.status === "rejected" ? message(throughput.reason) : null,
    });
  },

  select: async (id) => {
    detailController?.abort();
    if (id === null) {
      set({ selectedId: null, detail: null, detailState: "idle", detailError: null });
      return;
    }
    const refreshing = get().detail?.id === id;
    set({ selectedId: id, ...(refreshing ? {} : { detail: null, detailState: "loading", detailError: null }) });
    const controller = new AbortController();
    detailController = controller;
    try {
      const detail = await api.getExecution(id, controller.signal);
      if (get().selectedId !== id) return;
      set({ detail, detailState: "ready", detailError: null });
    } catch (error) {
      if (controller.signal.aborted) return;
      set({ detailState: "error", detailError: message(error) });
    }
  },

  retry: async (id) => {
    const execution = await api.retryExecution(id);
    void get().refresh();
    void get().select(id);
    return execution;
  },

  countFailed: async () => {
    const { flowId, filters } = get();
    if (flowId === null) return 0;
    const page = await api.listExecutions(flowId, { ...bulkRetryFilters(filters), status: "failed", page_size: 1 });
    return page.count;
  },

  retryFailed: async () => {
    const { flowId, filters } = get();
    if (flowId === null) return { retried: 0, skipped: 0 };
    const result = await api.retryFailedExecutions(flowId, bulkRetryFilters(filters));
    void get().refresh();
    void get().refreshStats();
    return result;
  },
}));
