/**
 * How a flow's status reads on screen: the badge's tone, whether Start/Stop apply, and the
 * sentence that goes with its reason. One mapping for the flows list and the designer.
 */
import type { FlowStatus } from "../api/types";

export type StatusTone = "neutral" | "good" | "warn" | "bad";

export interface FlowStatusDisplay {
  /** The word on the badge (the status itself: the browser test reads it). */
  label: string;
  tone: StatusTone;
  /** Consuming or about to resume by itself: Stop applies, Start does not. */
  active: boolean;
  canStart: boolean;
  canStop: boolean;
  /** The sentence before `status_reason` in a notice, or null when the status needs none. */
  notice: string | null;
  /** A tooltip: the reason when there is one, else what the status means. */
  title: string;
}

const MEANING: Record<FlowStatus, string> = {
  draft: "Not started yet",
  running: "Consuming and delivering messages",
  retrying: "A destination is failing: consumption is paused and resumes by itself",
  stopped: "Stopped by a user",
  failed: "Stopped with an error",
};

export function flowStatusDisplay(status: FlowStatus | string, reason?: string | null): FlowStatusDisplay {
  const known = (status in MEANING ? status : "draft") as FlowStatus;
  const active = known === "running" || known === "retrying";
  const text = reason?.trim() ?? "";
  return {
    label: status,
    tone: known === "running" ? "good" : known === "retrying" ? "warn" : known === "failed" ? "bad" : "neutral",
    active,
    canStart: !active,
    canStop: active || known === "failed",
    notice:
      known === "retrying"
        ? "Delivery is failing; the flow pauses and retries by itself:"
        : known === "failed" && text
          ? "The flow stopped with an error:"
          : null,
    title: text || MEANING[known] || status,
  };
}
