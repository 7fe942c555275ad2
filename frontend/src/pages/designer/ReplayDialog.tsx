/**
 * "Replay…": move the stopped flow's consumer back (or forward) so messages are processed and
 * delivered again when the flow starts. Refused while the flow runs or retries.
 */
import { useId, useState } from "react";
import { api, ApiError, type FlowStatus, type ReplayResult } from "../../api/client";
import { Dialog } from "../../components/ui/Dialog";
import { Icon } from "../../components/ui/Icon";
import { flowStatusDisplay } from "../../lib/flowStatus";
import { buildReplayRequest, emptyReplayForm, REPLAY_CHOICES, type ReplayErrors, type ReplayForm } from "../../lib/replay";
import { errorText, notify } from "../../stores/toasts";
import { OffsetRowsEditor } from "./OffsetRowsEditor";

/** The API's `details` (per field, strings or lists) as lines. */
function detailLines(details: Record<string, unknown>): string[] {
  return Object.entries(details).flatMap(([key, value]) => {
    if (value === null || value === undefined || value === "") return [];
    const messages = Array.isArray(value) ? value.map(String) : [typeof value === "string" ? value : JSON.stringify(value)];
    return messages.map((m) => `${key}: ${m}`);
  });
}

function ReplayPositions({ result }: { result: ReplayResult }) {
  return (
    <div role="status" className="replay-result">
      <p>
        <Icon name="check" size={14} /> The consumer of <strong className="mono">{result.topic}</strong> now starts at:
      </p>
      <table className="table compact-table" aria-label="New positions">
        <thead>
          <tr>
            <th scope="col">Partition</th>
            <th scope="col">Offset</th>
          </tr>
        </thead>
        <tbody>
          {result.partitions.map((p) => (
            <tr key={p.partition}>
              <td className="numeric">{p.partition}</td>
              <td className="numeric mono">{p.offset}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="form-note">Start the flow to process these messages again.</p>
    </div>
  );
}

export function ReplayDialog({
  flowId,
  status,
  onStop,
  onClose,
}: {
  flowId: number;
  status: FlowStatus;
  onStop?: () => void;
  onClose: () => void;
}) {
  const id = useId();
  const [form, setForm] = useState<ReplayForm>(emptyReplayForm);
  const [errors, setErrors] = useState<ReplayErrors>({});
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string[] | null>(null);
  const [result, setResult] = useState<ReplayResult | null>(null);
  const active = flowStatusDisplay(status).active;

  const change = (patch: Partial<ReplayForm>) => {
    setForm((current) => ({ ...current, ...patch }));
    setErrors({});
  };

  const submit = async () => {
    const built = buildReplayRequest(form);
    if (!built.ok) {
      setErrors(built.errors);
      return;
    }
    setBusy(true);
    setFailure(null);
    try {
      const positions = await api.replayFlow(flowId, built.request);
      setResult(positions);
      notify("success", `Replay set on ${positions.topic}. Start the flow to process the messages again.`);
    } catch (error) {
      setFailure(error instanceof ApiError ? [error.message, ...detailLines(error.details)] : [errorText(error)]);
    } finally {
      setBusy(false);
    }
  };

  const footer = result ? (
    <button type="button" className="button button-primary" onClick={onClose}>
      Done
    </button>
  ) : (
    <>
      <button type="button" className="button" onClick={onClose}>
        Cancel
      </button>
      <button type="button" className="button button-danger" onClick={() => void submit()} disabled={busy || active}>
        Replay
      </button>
    </>
  );

  return (
    <Dialog title="Replay messages" size="medium" onClose={onClose} footer={footer}>
      {result ? (
        <ReplayPositions result={result} />
      ) : (
        <>
          {active && (
            <div className="notice notice-warn" role="alert">
              <p>Stop the flow before replaying: the position of a consuming flow cannot be moved.</p>
              {onStop && (
                <button type="button" className="button button-small" onClick={onStop}>
                  <Icon name="stop" size={13} /> Stop the flow
                </button>
              )}
            </div>
          )}
          <p className="notice notice-warn" id={`${id}-warning`}>
            <Icon name="alert" size={14} /> Messages from the chosen position on are processed again when the flow starts, and{" "}
            <strong>sent to the destinations again</strong>: the record of what was delivered is cleared for this flow.
          </p>
          <fieldset className="form-field choice-group">
            <legend className="field-label">Start reading</legend>
            {REPLAY_CHOICES.map((choice) => (
              <div key={choice.value} className="choice">
                <input
                  id={`${id}-position-${choice.value}`}
                  type="radio"
                  name={`${id}-position`}
                  value={choice.value}
                  checked={form.position === choice.value}
                  disabled={busy}
                  aria-describedby={`${id}-position-${choice.value}-hint`}
                  onChange={() => change({ position: choice.value })}
                />
                <label htmlFor={`${id}-position-${choice.value}`} className="choice-label">
                  {choice.label}
                </label>
                <p id={`${id}-position-${choice.value}-hint`} className="field-description choice-description">
                  {choice.description}
                </p>
              </div>
            ))}
          </fieldset>
          {form.position === "timestamp" && (
            <div className={`form-field${errors.timestamp ? " is-invalid" : ""}`}>
              <label htmlFor={`${id}-timestamp`} className="field-label">
                Date and time
              </label>
              <input
                id={`${id}-timestamp`}
                type="datetime-local"
                step={1}
                value={form.timestamp}
                disabled={busy}
                aria-invalid={errors.timestamp ? true : undefined}
                aria-describedby={errors.timestamp ? `${id}-timestamp-error` : undefined}
                onChange={(e) => change({ timestamp: e.target.value })}
              />
              {errors.timestamp && (
                <p id={`${id}-timestamp-error`} className="field-error">
                  {errors.timestamp}
                </p>
              )}
            </div>
          )}
          {form.position === "offsets" && (
            <div className="form-field">
              <OffsetRowsEditor rows={form.offsets} errors={errors.rows} disabled={busy} onChange={(offsets) => change({ offsets })} />
              {errors.offsets && <p className="field-error">{errors.offsets}</p>}
            </div>
          )}
          {failure && (
            <div className="form-error" role="alert">
              {failure.map((line, index) => (
                <p key={index}>{line}</p>
              ))}
            </div>
          )}
        </>
      )}
    </Dialog>
  );
}
