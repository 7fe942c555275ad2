/** A coloured status word: flows (draft/running/retrying/stopped/failed), executions and steps. */
export function StatusBadge({ status, testId, title }: { status: string; testId?: string; title?: string }) {
  return (
    <span className={`badge badge-${status}`} data-testid={testId} title={title}>
      <span className="badge-dot" aria-hidden="true" />
      {status}
    </span>
  );
}
