/**
 * Storage: what each flow's execution records take (count, approximate size, oldest record)
 * and how long they are kept, sortable; owners can delete a flow's records now.
 */
import { useCallback, useEffect, useId, useMemo, useState } from "react";
import { api, ApiError, type FlowStorage, type FlowStorageReport } from "../api/client";
import { Dialog } from "../components/ui/Dialog";
import { EmptyState, ErrorBanner, Spinner } from "../components/ui/EmptyState";
import { Icon } from "../components/ui/Icon";
import { Link } from "../components/ui/Link";
import { formatBytes, formatCount, formatDateTime, relativeTime } from "../lib/format";
import { canSeeStorage, defaultDirection, retentionText, shareOf, sortStorage, type SortDirection, type StorageSortKey } from "../lib/storage";
import { flowPath } from "../router";
import { useSession } from "../stores/session";
import { errorText, notify } from "../stores/toasts";
import "./StoragePage.css";

type State = { kind: "loading" } | { kind: "error"; message: string; forbidden: boolean } | { kind: "ready"; report: FlowStorageReport };

const COLUMNS: { key: StorageSortKey; label: string; numeric?: boolean }[] = [
  { key: "name", label: "Flow" },
  { key: "executions", label: "Executions", numeric: true },
  { key: "step_records", label: "Step records", numeric: true },
  { key: "size", label: "Size", numeric: true },
  { key: "oldest", label: "Oldest record" },
];

export function StoragePage() {
  const user = useSession((s) => s.user);
  const workspaces = useSession((s) => s.workspaces);
  const workspaceId = useSession((s) => s.workspaceId);
  const workspace = workspaces.find((w) => w.id === workspaceId);
  const [allWorkspaces, setAllWorkspaces] = useState(false);
  const [state, setState] = useState<State>({ kind: "loading" });
  const [sort, setSort] = useState<{ key: StorageSortKey; direction: SortDirection }>({ key: "size", direction: "descending" });
  const [pruning, setPruning] = useState<FlowStorage | null>(null);
  const [attempt, setAttempt] = useState(0);
  const reload = useCallback(() => setAttempt((n) => n + 1), []);
  const everything = Boolean(user?.is_staff) && allWorkspaces;
  const allowed = canSeeStorage(user, workspace);

  useEffect(() => {
    if (!allowed) return;
    const controller = new AbortController();
    setState((current) => (current.kind === "ready" ? current : { kind: "loading" }));
    api
      .getStorage(everything ? null : workspaceId, controller.signal)
      .then((report) => setState({ kind: "ready", report }))
      .catch((error: unknown) => {
        if (controller.signal.aborted) return;
        const forbidden = error instanceof ApiError && error.status === 403;
        setState({ kind: "error", message: errorText(error), forbidden });
      });
    return () => controller.abort();
  }, [allowed, workspaceId, everything, attempt]);

  const rows = useMemo(
    () => (state.kind === "ready" ? sortStorage(state.report.flows, sort.key, sort.direction) : []),
    [state, sort],
  );

  const sortBy = (key: StorageSortKey) =>
    setSort((current) =>
      current.key === key
        ? { key, direction: current.direction === "ascending" ? "descending" : "ascending" }
        : { key, direction: defaultDirection(key) },
    );

  if (!allowed || (state.kind === "error" && state.forbidden)) {
    return (
      <div className="page">
        <EmptyState icon="box" title="Storage is for workspace owners">
          <p>Ask an owner of this workspace how much its execution records take, or to change a flow's retention.</p>
        </EmptyState>
      </div>
    );
  }

  const totals = state.kind === "ready" ? state.report.totals : null;
  return (
    <div className="page">
      <header className="page-header">
        <div>
          <h1>Storage</h1>
          <p className="page-subtitle">
            Execution records kept per flow and their approximate size. Records older than a flow's retention, or beyond its newest
            allowed, are deleted every 10 minutes.
          </p>
        </div>
        <div className="page-actions">
          {user?.is_staff && (
            <label className="checkbox-label">
              <input type="checkbox" checked={allWorkspaces} onChange={(e) => setAllWorkspaces(e.target.checked)} />
              All workspaces
            </label>
          )}
          <button type="button" className="button" onClick={reload}>
            <Icon name="refresh" size={15} /> Refresh
          </button>
        </div>
      </header>

      {state.kind === "error" ? (
        <ErrorBanner message={`Storage could not be loaded: ${state.message}`} onRetry={reload} />
      ) : state.kind === "loading" ? (
        <Spinner label="Measuring storage…" />
      ) : rows.length === 0 ? (
        <EmptyState icon="box" title="No flows yet">
          <p>Each flow's execution records show here once it has run.</p>
        </EmptyState>
      ) : (
        <>
          {totals && (
            <p className="storage-totals" aria-label="Totals">
              <strong>{formatBytes(totals.bytes.total)}</strong> in {formatCount(totals.executions)} executions and{" "}
              {formatCount(totals.step_records)} step records of {totals.flows} {totals.flows === 1 ? "flow" : "flows"}
            </p>
          )}
          <div className="card table-card">
            <table className="table storage-table" aria-label="Storage per flow">
              <thead>
                <tr>
                  {COLUMNS.map((column) => (
                    <th
                      key={column.key}
                      scope="col"
                      className={column.numeric ? "numeric" : undefined}
                      aria-sort={sort.key === column.key ? sort.direction : undefined}
                    >
                      <button type="button" className="sort-button" onClick={() => sortBy(column.key)}>
                        {column.label}
                        <span className="sort-arrow" aria-hidden="true">
                          {sort.key === column.key ? (sort.direction === "ascending" ? "↑" : "↓") : ""}
                        </span>
                      </button>
                    </th>
                  ))}
                  <th scope="col">Retention</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {rows.map((row) => (
                  <StorageRow key={row.id} row={row} total={totals?.bytes.total ?? 0} showWorkspace={everything} onPrune={() => setPruning(row)} />
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
      {pruning && (
        <PruneDialog
          flow={pruning}
          onClose={() => setPruning(null)}
          onDone={(deleted) => {
            notify("success", `Deleted ${deleted} ${deleted === 1 ? "execution" : "executions"} of ${pruning.name}.`);
            setPruning(null);
            reload();
          }}
        />
      )}
    </div>
  );
}

function StorageRow({ row, total, showWorkspace, onPrune }: { row: FlowStorage; total: number; showWorkspace: boolean; onPrune: () => void }) {
  const nameId = useId();
  const share = shareOf(row, total);
  return (
    <tr>
      <td>
        <Link href={flowPath(row.id, "executions")} className="flow-link" id={nameId}>
          {row.name}
        </Link>
        {showWorkspace && <div className="muted storage-workspace">{row.workspace_name}</div>}
      </td>
      <td className="numeric">{row.executions.toLocaleString("en")}</td>
      <td className="numeric">{row.step_records.toLocaleString("en")}</td>
      <td className="numeric">
        <span className="storage-size">{formatBytes(row.bytes.total)}</span>
        <span className="storage-bar" aria-hidden="true">
          <span style={{ width: `${share}%` }} />
        </span>
        <span className="storage-breakdown muted">
          in {formatBytes(row.bytes.inputs)} · out {formatBytes(row.bytes.outputs)} · logs {formatBytes(row.bytes.logs)} · errors{" "}
          {formatBytes(row.bytes.errors)}
        </span>
      </td>
      <td title={row.oldest_execution ? formatDateTime(row.oldest_execution) : undefined}>
        {row.oldest_execution ? relativeTime(row.oldest_execution) : <span className="muted">none</span>}
      </td>
      <td>{retentionText(row.retention)}</td>
      <td className="actions-cell">
        <div className="row-actions">
          <button type="button" className="button button-small" onClick={onPrune} disabled={row.executions === 0} aria-describedby={nameId}>
            Delete records…
          </button>
        </div>
      </td>
    </tr>
  );
}

function PruneDialog({ flow, onClose, onDone }: { flow: FlowStorage; onClose: () => void; onDone: (deleted: number) => void }) {
  const id = useId();
  const [mode, setMode] = useState<"older" | "all">("older");
  const [days, setDays] = useState(String(Math.max(1, Math.min(7, flow.retention.days))));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const dayCount = Number(days);
  const validDays = days.trim() !== "" && Number.isInteger(dayCount) && dayCount >= 0 && dayCount <= 36_500;

  const submit = async () => {
    if (mode === "older" && !validDays) return;
    setBusy(true);
    setError(null);
    try {
      const result = await api.pruneFlow(flow.id, mode === "all" ? { all: true } : { older_than_days: dayCount });
      onDone(result.deleted);
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
  };

  return (
    <Dialog
      title={`Delete records of ${flow.name}`}
      onClose={onClose}
      description="Deleted executions and their step records are gone for good: they leave the execution log and cannot be retried."
      footer={
        <>
          <button type="button" className="button" onClick={onClose} data-autofocus>
            Cancel
          </button>
          <button type="button" className="button button-danger" onClick={() => void submit()} disabled={busy || (mode === "older" && !validDays)}>
            Delete
          </button>
        </>
      }
    >
      <fieldset className="form-field choice-group">
        <legend className="field-label">Which executions</legend>
        <div className="choice">
          <input id={`${id}-older`} type="radio" name={`${id}-mode`} checked={mode === "older"} onChange={() => setMode("older")} />
          <label htmlFor={`${id}-older`} className="choice-label">
            Older than a number of days
          </label>
        </div>
        <div className="choice">
          <input id={`${id}-all`} type="radio" name={`${id}-mode`} checked={mode === "all"} onChange={() => setMode("all")} />
          <label htmlFor={`${id}-all`} className="choice-label">
            All {flow.executions.toLocaleString("en")} executions
          </label>
        </div>
      </fieldset>
      {mode === "older" && (
        <div className="form-field">
          <label htmlFor={`${id}-days`} className="field-label">
            Days
          </label>
          <input
            id={`${id}-days`}
            type="number"
            min={0}
            max={36500}
            value={days}
            aria-invalid={validDays ? undefined : true}
            aria-describedby={`${id}-days-hint`}
            onChange={(e) => setDays(e.target.value)}
          />
          <p id={`${id}-days-hint`} className={validDays ? "field-description" : "field-error"}>
            {validDays ? `Executions that started more than ${dayCount} ${dayCount === 1 ? "day" : "days"} ago.` : "A whole number of days, 0 or more."}
          </p>
        </div>
      )}
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </Dialog>
  );
}
