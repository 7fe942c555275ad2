/**
 * The execution log of a flow: counters and throughput at the top, filters, a live table
 * (polled) and the step-by-step view of the execution chosen.
 */
import { useEffect, useState } from "react";
import type { ComponentDescriptor, ExecutionStatus, Graph } from "../../api/types";
import { EmptyState, ErrorBanner, Spinner } from "../../components/ui/EmptyState";
import { Icon } from "../../components/ui/Icon";
import { Link } from "../../components/ui/Link";
import { StatusBadge } from "../../components/ui/StatusBadge";
import { formatCount, formatDuration, formatTime } from "../../lib/format";
import { flowPath, navigate } from "../../router";
import { PAGE_SIZE, TIME_RANGES, useExecutions, type TimeRange } from "../../stores/executions";
import { errorText, notify } from "../../stores/toasts";
import { BulkRetryButton } from "./BulkRetryButton";
import { ExecutionDetails } from "./ExecutionDetails";
import { ThroughputChart } from "./ThroughputChart";

const STATUSES: { value: ExecutionStatus | ""; label: string }[] = [
  { value: "", label: "All statuses" },
  { value: "running", label: "Running" },
  { value: "succeeded", label: "Succeeded" },
  { value: "filtered", label: "Filtered" },
  { value: "failed", label: "Failed" },
];

function Stat({ label, value, tone, hint }: { label: string; value: string; tone?: string; hint?: string }) {
  return (
    <div className={`stat${tone ? ` stat-${tone}` : ""}`} title={hint}>
      <span className="stat-value">{value}</span>
      <span className="stat-label">{label}</span>
    </div>
  );
}

function latency(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? "—" : formatDuration(ms);
}

export function ExecutionsView({
  flowId,
  executionId,
  descriptors,
}: {
  flowId: number;
  executionId: number | null;
  graph: Graph;
  descriptors: ComponentDescriptor[];
}) {
  const store = useExecutions();
  const { filters, items, count, listState, listError, stats, statsError, throughput, throughputError, page, updatedAt } = store;
  const [search, setSearch] = useState(filters.search);
  const [, tick] = useState(0);

  useEffect(() => {
    useExecutions.getState().open(flowId);
    return () => useExecutions.getState().close();
  }, [flowId]);

  useEffect(() => {
    void useExecutions.getState().select(executionId);
  }, [executionId]);

  // The search box filters as you type, without a request per keystroke.
  useEffect(() => {
    if (search === useExecutions.getState().filters.search) return;
    const timer = setTimeout(() => useExecutions.getState().setFilters({ search }), 300);
    return () => clearTimeout(timer);
  }, [search]);

  // Re-render each second so "updated … ago" stays true.
  useEffect(() => {
    const timer = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(timer);
  }, []);

  const open = (id: number) => navigate(flowPath(flowId, "executions", id));
  const retry = async (id: number) => {
    try {
      await store.retry(id);
      notify("success", `Execution #${id} is being retried from its failed step.`);
    } catch (error) {
      notify("error", `Could not retry: ${errorText(error)}`);
    }
  };

  const first = count === 0 ? 0 : (page - 1) * PAGE_SIZE + 1;
  const last = Math.min(count, page * PAGE_SIZE);
  const age = updatedAt ? Math.max(0, Math.round((Date.now() - updatedAt) / 1000)) : null;
  const filtered = filters.status !== "" || filters.search !== "" || filters.range !== "all";

  return (
    <div className={`executions${executionId ? " has-details" : ""}`}>
      <section className="executions-overview" aria-label="Last hour">
        <div className="stats">
          <Stat label="in" value={formatCount(stats?.in)} />
          <Stat label="out" value={formatCount(stats?.out)} tone="good" />
          <Stat label="filtered" value={formatCount(stats?.filtered)} tone="muted" />
          <Stat label="failed" value={formatCount(stats?.failed)} tone={stats?.failed ? "bad" : undefined} />
          <Stat label="p50 latency" value={latency(stats?.latency_ms.p50)} />
          <Stat label="p99 latency" value={latency(stats?.latency_ms.p99)} />
          <Stat
            label="possible duplicates"
            value={formatCount(stats?.duplicates)}
            tone={stats?.duplicates ? "warn" : undefined}
            hint="Messages sent again after an attempt whose outcome was unknown (for example a worker crash mid-request): the destination may have received them twice."
          />
          <Stat label="dead-lettered" value={formatCount(stats?.dead_lettered)} hint="Failed messages written to the flow's dead-letter topic (see Flow settings)." />
          {stats?.consumer_lag && stats.consumer_lag.length > 0 && (
            <Stat
              label="consumer lag"
              value={formatCount(stats.consumer_lag.reduce((sum, p) => sum + p.lag, 0))}
              tone={stats.consumer_lag.some((p) => p.lag > 0) ? "warn" : undefined}
              hint={
                "Records in the topic not yet committed, per partition: " +
                stats.consumer_lag.map((p) => `${p.topic}[${p.partition}] ${p.lag}`).join(", ")
              }
            />
          )}
          {statsError && !stats && <span className="muted">Counters unavailable: {statsError}</span>}
        </div>
        <ThroughputChart data={throughput} error={throughputError} />
      </section>

      <div className="executions-main">
        <div className="executions-list">
          <div className="filters" role="search">
            <label className="filter">
              <span className="visually-hidden">Status</span>
              <select aria-label="Status" value={filters.status} onChange={(e) => store.setFilters({ status: e.target.value as ExecutionStatus | "" })}>
                {STATUSES.map((s) => (
                  <option key={s.value} value={s.value}>
                    {s.label}
                  </option>
                ))}
              </select>
            </label>
            <label className="filter">
              <span className="visually-hidden">Time range</span>
              <select aria-label="Time range" value={filters.range} onChange={(e) => store.setFilters({ range: e.target.value as TimeRange })}>
                {TIME_RANGES.map((r) => (
                  <option key={r.value} value={r.value}>
                    {r.label}
                  </option>
                ))}
              </select>
            </label>
            <div className="filter filter-search">
              <Icon name="search" />
              <input
                type="search"
                aria-label="Search executions"
                placeholder="Search summary and errors"
                value={search}
                onChange={(e) => setSearch(e.target.value)}
              />
            </div>
            <BulkRetryButton />
            <span className="live" title="The table refreshes every 1.5 seconds">
              <span className={`live-dot${listState === "error" ? " is-off" : ""}`} aria-hidden="true" />
              {listState === "error" ? "Paused" : age === null ? "Live" : `Live · ${age < 2 ? "now" : `${age} s ago`}`}
            </span>
          </div>

          {listState === "error" && <ErrorBanner message={`Executions could not be loaded: ${listError}`} onRetry={() => void store.refresh()} />}
          {listState === "loading" && items.length === 0 ? (
            <Spinner label="Loading executions…" />
          ) : items.length === 0 && listState !== "error" ? (
            <EmptyState icon="bolt" title={filtered ? "No executions match" : "No executions yet"}>
              {filtered ? (
                <p>Nothing matches these filters. Widen the time range or clear the search.</p>
              ) : (
                <p>
                  Every message the trigger reads becomes one execution here, within a second or two. Publish the flow and press <strong>Start</strong>.
                </p>
              )}
            </EmptyState>
          ) : (
            <div className="table-scroll">
              <table className="table executions-table">
                <thead>
                  <tr>
                    <th scope="col">Time</th>
                    <th scope="col">Status</th>
                    <th scope="col">Duration</th>
                    <th scope="col">Message</th>
                    <th scope="col" className="col-key">Key</th>
                    <th scope="col">Summary</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((execution) => (
                    <tr
                      key={execution.id}
                      className={`clickable${execution.id === executionId ? " is-selected" : ""}`}
                      aria-selected={execution.id === executionId}
                      onClick={(e) => {
                        if ((e.target as HTMLElement).closest("a")) return;
                        open(execution.id);
                      }}
                    >
                      <td className="nowrap">
                        <Link href={flowPath(flowId, "executions", execution.id)} className="row-link">
                          {formatTime(execution.started_at)}
                        </Link>
                      </td>
                      <td className="status-cell-wrap">
                        <StatusBadge status={execution.status} />
                        {execution.attempts > 1 && <span className="tag" title="Attempts">×{execution.attempts}</span>}
                      </td>
                      <td className="nowrap numeric">{formatDuration(execution.duration_ms)}</td>
                      <td className="nowrap mono small">
                        {execution.topic}
                        <span className="muted">
                          [{execution.partition ?? "?"}]@{execution.offset ?? "?"}
                        </span>
                      </td>
                      <td className="mono small truncate col-key" title={execution.message_key ?? ""}>
                        {execution.message_key ?? "—"}
                      </td>
                      <td className="summary">
                        {execution.status === "failed" && execution.error ? (
                          <span className="summary-error" title={execution.error}>
                            {execution.failed_node && <strong>{execution.failed_node}: </strong>}
                            {execution.error}
                          </span>
                        ) : (
                          <span className="mono small" title={execution.summary}>
                            {execution.summary}
                          </span>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {count > 0 && (
            <nav className="pager" aria-label="Pages">
              <span className="muted">
                {first}–{last} of {formatCount(count)}
              </span>
              <button type="button" className="button button-small" onClick={() => store.setPage(page - 1)} disabled={page <= 1}>
                Newer
              </button>
              <button type="button" className="button button-small" onClick={() => store.setPage(page + 1)} disabled={last >= count}>
                Older
              </button>
            </nav>
          )}
        </div>
        {executionId !== null && (
          <ExecutionDetails
            detail={store.detail}
            state={store.detailState}
            error={store.detailError}
            descriptors={descriptors}
            onRetry={retry}
            onClose={() => navigate(flowPath(flowId, "executions"))}
            onReload={() => void store.select(executionId)}
          />
        )}
      </div>
    </div>
  );
}
