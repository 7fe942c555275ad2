/** One execution step by step: status, duration, input, output, printed lines, error. */
import { useState } from "react";
import type { ComponentDescriptor, ExecutionDetail, StepRecord } from "../../api/types";
import { ErrorBanner, Spinner } from "../../components/ui/EmptyState";
import { componentLook, Icon } from "../../components/ui/Icon";
import { JsonViewer } from "../../components/ui/JsonViewer";
import { StatusBadge } from "../../components/ui/StatusBadge";
import { formatDateTime, formatDuration, formatTime } from "../../lib/format";

function Step({ step, descriptors }: { step: StepRecord; descriptors: ComponentDescriptor[] }) {
  const title = descriptors.find((d) => d.name === step.component)?.title ?? step.component;
  const look = componentLook(step.component);
  const headingId = `step-${step.position}-${step.node_id}`;
  return (
    <section className={`step step-${step.status}`} aria-labelledby={headingId}>
      <header className="step-header" style={{ ["--accent" as string]: look.color }}>
        <span className="step-icon" aria-hidden="true">
          <Icon name={look.icon} size={16} />
        </span>
        <h3 id={headingId}>{step.node_id}</h3>
        <span className="muted">{title}</span>
        <StatusBadge status={step.status} />
        <span className="step-duration">{formatDuration(step.duration_ms)}</span>
      </header>
      {step.error && (
        <div className="step-error">
          <strong>Error:</strong> {step.error}
          {step.error_details !== null && step.error_details !== undefined && (
            <details>
              <summary>Details</summary>
              <JsonViewer value={step.error_details} openDepth={3} />
            </details>
          )}
        </div>
      )}
      <div className="step-io">
        {step.input !== null && step.input !== undefined && (
          <details className="step-block" open={step.position > 0}>
            <summary>Input</summary>
            <JsonViewer value={step.input} />
          </details>
        )}
        <details className="step-block" open>
          <summary>Output</summary>
          {step.output === null || step.output === undefined || (Array.isArray(step.output) && step.output.length === 0) ? (
            <p className="muted">{step.status === "filtered" ? "Filtered out: no output." : "No output."}</p>
          ) : (
            <JsonViewer value={step.output} />
          )}
        </details>
      </div>
      {step.logs.length > 0 && (
        <div className="step-logs">
          <h4>Log</h4>
          <pre className="log-lines">{step.logs.join("\n")}</pre>
        </div>
      )}
    </section>
  );
}

export function ExecutionDetails({
  detail,
  state,
  error,
  descriptors,
  onRetry,
  onClose,
  onReload,
}: {
  detail: ExecutionDetail | null;
  state: "idle" | "loading" | "ready" | "error";
  error: string | null;
  descriptors: ComponentDescriptor[];
  onRetry: (id: number) => Promise<void>;
  onClose: () => void;
  onReload: () => void;
}) {
  const [retrying, setRetrying] = useState(false);
  const retry = async (id: number) => {
    setRetrying(true);
    try {
      await onRetry(id);
    } finally {
      setRetrying(false);
    }
  };

  return (
    <aside className="execution-details" role="region" aria-label="Execution details">
      <header className="details-header">
        <h2>{detail ? `Execution #${detail.id}` : "Execution"}</h2>
        {detail && <StatusBadge status={detail.status} />}
        <span className="spacer" />
        {detail?.status === "failed" && (
          <button type="button" className="button button-primary button-small" onClick={() => void retry(detail.id)} disabled={retrying}>
            <Icon name="refresh" size={14} /> Retry
          </button>
        )}
        <button type="button" className="icon-button" aria-label="Close execution details" onClick={onClose}>
          <Icon name="close" />
        </button>
      </header>
      {state === "loading" && !detail && <Spinner label="Loading the execution…" />}
      {state === "error" && !detail && <ErrorBanner message={error ?? "Could not load the execution."} onRetry={onReload} />}
      {detail && (
        <div className="details-body">
          <dl className="details-meta">
            <div>
              <dt>Started</dt>
              <dd>{formatTime(detail.started_at)}</dd>
            </div>
            <div>
              <dt>Duration</dt>
              <dd>{formatDuration(detail.duration_ms)}</dd>
            </div>
            <div>
              <dt>Version</dt>
              <dd>{detail.version ? `v${detail.version}` : "—"}</dd>
            </div>
            <div>
              <dt>Attempts</dt>
              <dd>{detail.attempts}</dd>
            </div>
            <div>
              <dt>Message</dt>
              <dd className="mono">
                {detail.topic}[{detail.partition ?? "?"}]@{detail.offset ?? "?"}
              </dd>
            </div>
            <div>
              <dt>Key</dt>
              <dd className="mono">{detail.message_key ?? "—"}</dd>
            </div>
            <div>
              <dt>Message time</dt>
              <dd>{formatDateTime(detail.message_timestamp)}</dd>
            </div>
            {detail.trace_id && (
              <div>
                <dt>Trace</dt>
                <dd className="mono" title="OpenTelemetry trace id of the message's batch">
                  {detail.trace_id}
                </dd>
              </div>
            )}
          </dl>
          {detail.error && (
            <div className="execution-error" role="note">
              <Icon name="alert" /> <span>
                {detail.failed_node && <strong>{detail.failed_node}: </strong>}
                {detail.error}
              </span>
            </div>
          )}
          <ol className="steps">
            {[...detail.steps]
              .sort((a, b) => a.position - b.position)
              .map((step) => (
                <li key={`${step.position}-${step.node_id}`}>
                  <Step step={step} descriptors={descriptors} />
                </li>
              ))}
          </ol>
          {detail.steps.length === 0 && <p className="muted">No step records (yet).</p>}
        </div>
      )}
    </aside>
  );
}
