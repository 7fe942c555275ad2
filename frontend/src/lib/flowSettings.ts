/**
 * Flow-level error handling (`graph.settings`) as a form: the dead-letter topic and what an
 * outage does. Defaults stay implicit: a graph whose settings are all default carries none, so
 * opening the dialog and closing it changes nothing.
 */
import type { FlowSettings, GraphProblem, OutagePolicy } from "../api/types";

export interface FlowSettingsForm {
  deadLetterTopic: string;
  onOutage: OutagePolicy;
}

export const DEFAULT_OUTAGE: OutagePolicy = "pause";

export const OUTAGE_CHOICES: { value: OutagePolicy; label: string; description: string }[] = [
  {
    value: "pause",
    label: "Pause and retry",
    description: "Consumption pauses and the flow retries by itself until the destination answers; no message is lost or failed.",
  },
  {
    value: "fail",
    label: "Fail the messages",
    description: "Messages that fail every attempt are recorded as failed (and dead-lettered) and the flow moves on.",
  },
];

export function settingsForm(settings: FlowSettings | undefined): FlowSettingsForm {
  return {
    deadLetterTopic: typeof settings?.dead_letter_topic === "string" ? settings.dead_letter_topic : "",
    onOutage: settings?.on_outage === "fail" ? "fail" : DEFAULT_OUTAGE,
  };
}

/**
 * The settings for a form, keeping keys this UI does not know; `undefined` when nothing but
 * defaults is left.
 */
export function settingsFromForm(form: FlowSettingsForm, previous?: FlowSettings): FlowSettings | undefined {
  const next: Record<string, unknown> = { ...(previous ?? {}) };
  delete next.dead_letter_topic;
  delete next.on_outage;
  if (form.deadLetterTopic !== "") next.dead_letter_topic = form.deadLetterTopic;
  if (form.onOutage !== DEFAULT_OUTAGE) next.on_outage = form.onOutage;
  return Object.keys(next).length === 0 ? undefined : (next as FlowSettings);
}

const TOPIC_CHARS = /^[A-Za-z0-9._-]+$/;

/** Kafka's own rules for a topic name, checked before the server does; null when fine or empty. */
export function topicProblem(topic: string): string | null {
  if (topic === "") return null;
  if (topic.length > 249) return "must be at most 249 characters";
  if (topic === "." || topic === "..") return "cannot be “.” or “..”";
  if (!TOPIC_CHARS.test(topic)) return "may contain only letters, digits, “.”, “_” and “-”";
  return null;
}

export interface SettingsProblems {
  /** By setting key: `dead_letter_topic`, `on_outage`. */
  fields: Record<string, string[]>;
  general: string[];
}

/** The server's problems about `settings.*` (node null), for the dialog. */
export function settingsProblems(problems: GraphProblem[]): SettingsProblems {
  const result: SettingsProblems = { fields: {}, general: [] };
  for (const problem of problems) {
    if (problem.node || !problem.field) continue;
    if (problem.field === "settings") result.general.push(problem.message);
    else if (problem.field.startsWith("settings.")) {
      const key = problem.field.slice("settings.".length);
      (result.fields[key] ??= []).push(problem.message);
    }
  }
  return result;
}

export function isSettingsField(field: string | null): boolean {
  return field === "settings" || Boolean(field?.startsWith("settings."));
}
