/**
 * The sentence under the designer header when the flow's status needs one: amber while it
 * retries by itself (a destination is failing), red once it stopped with an error.
 */
import type { FlowStatus } from "../../api/types";
import { flowStatusDisplay } from "../../lib/flowStatus";
import { Icon } from "./Icon";

export function FlowStatusNotice({ status, reason }: { status: FlowStatus; reason?: string | null }) {
  const display = flowStatusDisplay(status, reason);
  if (!display.notice) return null;
  const retrying = status === "retrying";
  return (
    <div
      className={`status-reason${retrying ? " status-reason-retrying" : ""}`}
      role={retrying ? "status" : "alert"}
      data-testid="flow-status-reason"
    >
      <Icon name={retrying ? "refresh" : "alert"} /> <strong>{display.notice}</strong>{" "}
      {reason?.trim() || "the destination has not answered yet."}
    </div>
  );
}
