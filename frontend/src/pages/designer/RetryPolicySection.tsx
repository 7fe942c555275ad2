/**
 * The collapsible "Retry policy" of an action step (`node.retry`): attempts and backoff for
 * transient failures. Empty inputs mean the defaults, shown as placeholders.
 */
import { useId, useState } from "react";
import type { JSONValue, RetryPolicy } from "../../api/types";
import { SchemaForm } from "../../components/forms/SchemaForm";
import { Icon } from "../../components/ui/Icon";
import { RETRY_SCHEMA, retryErrors, retryFormValues, retrySummary } from "../../lib/retryPolicy";

export function RetryPolicySection({
  policy,
  fieldErrors,
  readOnly = false,
  onChange,
}: {
  policy: RetryPolicy | undefined;
  /** The node's field problems; `retry` and `retry.*` are read. */
  fieldErrors: Record<string, string[]> | undefined;
  readOnly?: boolean;
  onChange: (key: string, value: JSONValue | undefined) => void;
}) {
  const id = useId();
  const errors = retryErrors(fieldErrors);
  const hasErrors = errors.general.length > 0 || Object.keys(errors.fields).length > 0;
  const [open, setOpen] = useState(() => policy !== undefined || hasErrors);
  const expanded = open || hasErrors;

  return (
    <section className={`config-section${hasErrors ? " is-invalid" : ""}`} aria-labelledby={`${id}-toggle`}>
      <h3 className="config-section-heading">
        <button
          type="button"
          id={`${id}-toggle`}
          className="section-toggle"
          aria-expanded={expanded}
          aria-controls={`${id}-body`}
          aria-describedby={`${id}-summary`}
          onClick={() => setOpen(!expanded)}
        >
          <Icon name={expanded ? "chevronDown" : "chevronRight"} size={14} />
          Retry policy
        </button>
      </h3>
      <p id={`${id}-summary`} className="field-description section-summary">
        {retrySummary(policy)}
      </p>
      {expanded && (
        <div id={`${id}-body`} className="config-section-body">
          <p className="field-description">
            Transient failures (timeouts, 429, 5xx) are retried this many times with exponential backoff; then the message fails (or the flow
            pauses, see Flow settings).
          </p>
          {errors.general.length > 0 && (
            <p className="field-error" role="alert">
              {errors.general.join("; ")}
            </p>
          )}
          <SchemaForm schema={RETRY_SCHEMA} values={retryFormValues(policy)} errors={errors.fields} disabled={readOnly} onChange={onChange} />
        </div>
      )}
    </section>
  );
}
