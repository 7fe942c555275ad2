/**
 * "Retry all failed": counts the failed executions the current filters match, asks, then
 * retries them all on the server and says how many are on their way.
 */
import { useState } from "react";
import { ConfirmDialog } from "../../components/ui/ConfirmDialog";
import { Icon } from "../../components/ui/Icon";
import { formatCount } from "../../lib/format";
import { bulkRetryText, TIME_RANGES, useExecutions, type ExecutionFilterState } from "../../stores/executions";
import { errorText, notify } from "../../stores/toasts";

/** "in the last hour, matching “timeout”" — the scope the confirmation names. */
export function filterScope(filters: ExecutionFilterState): string {
  const parts: string[] = [];
  if (filters.range !== "all") parts.push(`in the ${TIME_RANGES.find((r) => r.value === filters.range)?.label.toLowerCase() ?? filters.range}`);
  const search = filters.search.trim();
  if (search) parts.push(`matching “${search}”`);
  return parts.length ? parts.join(", ") : "of all time";
}

export function BulkRetryButton() {
  const filters = useExecutions((s) => s.filters);
  const [counting, setCounting] = useState(false);
  const [pending, setPending] = useState<number | null>(null);
  const [last, setLast] = useState<string | null>(null);

  const ask = async () => {
    setCounting(true);
    setLast(null);
    try {
      const failed = await useExecutions.getState().countFailed();
      if (failed === 0) notify("info", `No failed executions ${filterScope(filters)}.`);
      else setPending(failed);
    } catch (error) {
      notify("error", `Could not count the failed executions: ${errorText(error)}`);
    } finally {
      setCounting(false);
    }
  };

  const plural = pending === 1 ? "execution" : "executions";

  return (
    <>
      <button type="button" className="button button-small" onClick={() => void ask()} disabled={counting} title="Retry every failed execution the current filters match">
        <Icon name="refresh" size={13} /> Retry all failed
      </button>
      {last && (
        <span className="muted small" role="status">
          {last}
        </span>
      )}
      {pending !== null && (
        <ConfirmDialog
          title="Retry all failed executions?"
          message={`${formatCount(pending)} failed ${plural} ${filterScope(filters)} will be run again from their failed step. Successful steps are not repeated.`}
          confirmLabel={`Retry ${formatCount(pending)} ${plural}`}
          onClose={() => setPending(null)}
          onConfirm={async () => {
            const result = await useExecutions.getState().retryFailed();
            const text = bulkRetryText(result);
            setLast(text);
            notify("success", text);
          }}
        />
      )}
    </>
  );
}
