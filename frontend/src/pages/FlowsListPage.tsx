/** All flows of the workspace: status, version, last hour's traffic; create (blank or from a template), rename, duplicate, delete, start/stop. */
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api, type Flow } from "../api/client";
import { FlowNameDialog } from "../components/FlowNameDialog";
import { TemplateGallery } from "../components/templates/TemplateGallery";
import { ConfirmDialog } from "../components/ui/ConfirmDialog";
import { EmptyState, ErrorBanner, Spinner } from "../components/ui/EmptyState";
import { Icon } from "../components/ui/Icon";
import { Link } from "../components/ui/Link";
import { StatusBadge } from "../components/ui/StatusBadge";
import { flowStatusDisplay } from "../lib/flowStatus";
import { formatCount, relativeTime } from "../lib/format";
import { flowPath, navigate } from "../router";
import { useSession } from "../stores/session";
import { errorText, notify } from "../stores/toasts";

const REFRESH_MS = 5000;

export function filterFlows(flows: Flow[], query: string): Flow[] {
  const q = query.trim().toLowerCase();
  const shown = q ? flows.filter((f) => f.name.toLowerCase().includes(q)) : flows;
  return [...shown].sort((a, b) => a.name.localeCompare(b.name, undefined, { sensitivity: "base" }));
}

export function FlowsListPage() {
  const workspaceId = useSession((s) => s.workspaceId);
  const workspaces = useSession((s) => s.workspaces);
  const [flows, setFlows] = useState<Flow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [query, setQuery] = useState("");
  const [creating, setCreating] = useState(false);
  const [browsing, setBrowsing] = useState(false);
  const [renaming, setRenaming] = useState<Flow | null>(null);
  const [deleting, setDeleting] = useState<Flow | null>(null);
  const [busy, setBusy] = useState<Record<number, boolean>>({});
  const loaded = useRef<number | null | undefined>(undefined);

  const load = useCallback(async () => {
    try {
      const list = await api.listFlows(workspaceId);
      setFlows(list);
      setError(null);
      loaded.current = workspaceId;
    } catch (e) {
      setError(errorText(e));
    }
  }, [workspaceId]);

  useEffect(() => {
    if (loaded.current !== workspaceId) setFlows(null);
    void load();
    const timer = setInterval(() => document.visibilityState !== "hidden" && void load(), REFRESH_MS);
    return () => clearInterval(timer);
  }, [load, workspaceId]);

  const shown = useMemo(() => filterFlows(flows ?? [], query), [flows, query]);
  const replace = (flow: Flow) => setFlows((current) => (current ?? []).map((f) => (f.id === flow.id ? { ...f, ...flow } : f)));

  const startStop = async (flow: Flow, action: "start" | "stop") => {
    setBusy((b) => ({ ...b, [flow.id]: true }));
    try {
      const updated = action === "start" ? await api.startFlow(flow.id) : await api.stopFlow(flow.id);
      replace(updated);
      notify("success", `${flow.name}: ${action === "start" ? "started" : "stopped"}.`);
    } catch (e) {
      notify("error", `Could not ${action} ${flow.name}: ${errorText(e)}`);
    } finally {
      setBusy((b) => ({ ...b, [flow.id]: false }));
    }
  };

  const duplicate = async (flow: Flow) => {
    setBusy((b) => ({ ...b, [flow.id]: true }));
    try {
      const copy = await api.duplicateFlow(flow.id);
      setFlows((current) => [...(current ?? []), copy]);
      notify("success", `Created “${copy.name}”.`);
    } catch (e) {
      notify("error", `Could not duplicate ${flow.name}: ${errorText(e)}`);
    } finally {
      setBusy((b) => ({ ...b, [flow.id]: false }));
    }
  };

  const workspaceName = workspaces.find((w) => w.id === workspaceId)?.name;

  return (
    <div className="page">
      <header className="page-header">
        <div>
          <h1>Flows</h1>
          <p className="page-subtitle">
            {workspaceName ? `${workspaceName} · ` : ""}Each flow reads a Kafka topic, transforms every message and delivers it.
          </p>
        </div>
        <div className="page-actions">
          <div className="search-box">
            <Icon name="search" />
            <input type="search" aria-label="Search flows" placeholder="Search flows" value={query} onChange={(e) => setQuery(e.target.value)} />
          </div>
          <button type="button" className="button" onClick={() => setBrowsing(true)}>
            <Icon name="box" size={15} /> New from template
          </button>
          <button type="button" className="button button-primary" onClick={() => setCreating(true)}>
            <Icon name="plus" size={15} /> New flow
          </button>
        </div>
      </header>

      {error && <ErrorBanner message={`Flows could not be loaded: ${error}`} onRetry={() => void load()} />}
      {flows === null && !error ? (
        <Spinner label="Loading flows…" />
      ) : flows !== null && flows.length === 0 ? (
        <EmptyState
          icon="flows"
          title="No flows yet"
          action={
            <button type="button" className="button button-primary" onClick={() => setBrowsing(true)}>
              <Icon name="box" size={15} /> Start from a template
            </button>
          }
        >
          <p>
            A flow takes messages from a Kafka topic, runs them through steps such as a Python transform, and delivers them — for example to
            Bloomreach Engagement. Press <strong>New flow</strong> to build your first one, or start from a ready-made template.
          </p>
        </EmptyState>
      ) : flows !== null && shown.length === 0 ? (
        <EmptyState icon="search" title="No flow matches">
          <p>No flow name contains “{query}”.</p>
        </EmptyState>
      ) : flows !== null ? (
        <div className="card table-card">
          <table className="table flows-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Status</th>
                <th scope="col">Version</th>
                <th scope="col" className="numeric" title="Events read in the last hour">
                  In (1 h)
                </th>
                <th scope="col" className="numeric" title="Events delivered in the last hour">
                  Out (1 h)
                </th>
                <th scope="col" className="numeric" title="Events failed in the last hour">
                  Failed (1 h)
                </th>
                <th scope="col">Last activity</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {shown.map((flow) => {
                const display = flowStatusDisplay(flow.status, flow.status_reason);
                return (
                  <tr key={flow.id}>
                    <td className="flow-name-cell">
                      <Link href={flowPath(flow.id)} className="flow-link">
                        {flow.name}
                      </Link>
                    </td>
                    <td>
                      <span className="status-cell">
                        <StatusBadge status={flow.status} title={display.title} />
                        {flow.status === "running" && flow.consuming === false && (
                          <span className="tag tag-warn" title="The trigger runner has not picked this flow up (yet)">
                            waiting for runner
                          </span>
                        )}
                      </span>
                      {(flow.status === "failed" || flow.status === "retrying") && flow.status_reason && (
                        <div className={`status-reason-inline status-reason-${flow.status}`}>{flow.status_reason}</div>
                      )}
                    </td>
                    <td>{flow.active_version ? `v${flow.active_version}` : <span className="muted">not published</span>}</td>
                    <td className="numeric">{formatCount(flow.last_hour?.in ?? null)}</td>
                    <td className="numeric">{formatCount(flow.last_hour?.out ?? null)}</td>
                    <td className={`numeric${flow.last_hour?.failed ? " text-bad" : ""}`}>{formatCount(flow.last_hour?.failed ?? null)}</td>
                    <td className="nowrap" title={flow.last_activity ?? undefined}>
                      {flow.last_activity === undefined ? <span className="muted">—</span> : relativeTime(flow.last_activity)}
                    </td>
                    <td className="actions-cell">
<div className="row-actions">
                      {display.active ? (
                        <button type="button" className="button button-small" onClick={() => void startStop(flow, "stop")} disabled={busy[flow.id]}>
                          <Icon name="stop" size={13} /> Stop
                        </button>
                      ) : (
                        <button type="button" className="button button-small" onClick={() => void startStop(flow, "start")} disabled={busy[flow.id]}>
                          <Icon name="play" size={13} /> Start
                        </button>
                      )}
                      <button type="button" className="icon-button" aria-label="Rename" title="Rename" onClick={() => setRenaming(flow)}>
                        <Icon name="edit" />
                      </button>
                      <button type="button" className="icon-button" aria-label="Duplicate" title="Duplicate" onClick={() => void duplicate(flow)} disabled={busy[flow.id]}>
                        <Icon name="copy" />
                      </button>
                      <button type="button" className="icon-button icon-danger" aria-label="Delete" title="Delete" onClick={() => setDeleting(flow)}>
                        <Icon name="trash" />
                      </button>
                    </div>
</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}

      {creating && (
        <FlowNameDialog
          title="New flow"
          submitLabel="Create"
          onClose={() => setCreating(false)}
          onSubmit={async (name) => {
            const flow = await api.createFlow(name, workspaceId);
            setCreating(false);
            navigate(flowPath(flow.id));
          }}
        />
      )}
      {browsing && (
        <TemplateGallery
          workspaceId={workspaceId}
          takenNames={(flows ?? []).map((f) => f.name)}
          onClose={() => setBrowsing(false)}
          onCreated={(flow) => {
            setBrowsing(false);
            navigate(flowPath(flow.id));
          }}
        />
      )}
      {renaming && (
        <FlowNameDialog
          title="Rename flow"
          initial={renaming.name}
          submitLabel="Rename"
          onClose={() => setRenaming(null)}
          onSubmit={async (name) => {
            const updated = await api.updateFlow(renaming.id, { name });
            replace(updated);
            setRenaming(null);
          }}
        />
      )}
      {deleting && (
        <ConfirmDialog
          title={`Delete “${deleting.name}”?`}
          message="The flow, its versions and its execution log are deleted. This cannot be undone."
          confirmLabel="Delete"
          danger
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await api.deleteFlow(deleting.id);
            setFlows((current) => (current ?? []).filter((f) => f.id !== deleting.id));
            notify("success", `Deleted “${deleting.name}”.`);
          }}
        />
      )}
    </div>
  );
}
