/**
 * The per-step retry policy (`node.retry`) as a small form: a JSON Schema the generic form
 * renders (defaults as placeholders, range checks), and the rules for turning edits back into
 * the node's value — an empty input drops its key so the server's default applies, and a policy
 * with no keys left disappears from the node.
 */
import type { JSONObject, JSONSchema, JSONValue, RetryPolicy } from "../api/types";

export type RetryKey = keyof RetryPolicy;

export const RETRY_DEFAULTS: Required<RetryPolicy> = {
  attempts: 3,
  backoff_seconds: 2,
  max_delay_seconds: 60,
};

const RETRY_KEYS: RetryKey[] = ["attempts", "backoff_seconds", "max_delay_seconds"];

/** Labels avoid the words of the component fields next to them ("Retries", "Timeout"). */
export const RETRY_SCHEMA: JSONSchema = {
  type: "object",
  properties: {
    attempts: {
      type: "integer",
      title: "Attempts",
      minimum: 1,
      maximum: 20,
      default: RETRY_DEFAULTS.attempts,
      description: "Tries in all, the first included (1–20).",
    },
    backoff_seconds: {
      type: "number",
      title: "Backoff (seconds)",
      minimum: 0,
      maximum: 600,
      default: RETRY_DEFAULTS.backoff_seconds,
      description: "The first wait; it doubles after each failed attempt (0–600).",
    },
    max_delay_seconds: {
      type: "number",
      title: "Max delay (seconds)",
      minimum: 0,
      maximum: 3600,
      default: RETRY_DEFAULTS.max_delay_seconds,
      description: "The longest wait between two attempts (0–3600).",
    },
  },
};

export function isRetryKey(key: string): key is RetryKey {
  return (RETRY_KEYS as string[]).includes(key);
}

/** The node's policy as form values (only what is set). */
export function retryFormValues(policy: RetryPolicy | undefined): JSONObject {
  const values: JSONObject = {};
  for (const key of RETRY_KEYS) {
    const value = policy?.[key];
    if (value !== undefined) values[key] = value;
  }
  return values;
}

/**
 * The policy after one field changed; `undefined` (an emptied input) removes the key, and the
 * result is `undefined` when nothing is left. Text that is not a number is kept as typed, for the
 * form to flag and the server to refuse, rather than silently dropped.
 */
export function withRetryField(policy: RetryPolicy | undefined, key: string, value: JSONValue | undefined): RetryPolicy | undefined {
  if (!isRetryKey(key)) return policy;
  const next: Record<string, JSONValue> = { ...retryFormValues(policy) };
  if (value === undefined || value === null || value === "") delete next[key];
  else next[key] = value;
  return Object.keys(next).length === 0 ? undefined : (next as RetryPolicy);
}

/** What applies: the policy with defaults filled in. */
export function effectiveRetry(policy: RetryPolicy | undefined): Required<RetryPolicy> {
  return { ...RETRY_DEFAULTS, ...retryFormValues(policy) } as Required<RetryPolicy>;
}

function seconds(value: number): string {
  return `${value} s`;
}

/** "3 attempts, waits from 2 s up to 60 s" — the collapsed section's one-line summary. */
export function retrySummary(policy: RetryPolicy | undefined): string {
  const { attempts, backoff_seconds, max_delay_seconds } = effectiveRetry(policy);
  const custom = policy !== undefined && Object.keys(retryFormValues(policy)).length > 0;
  const tries = attempts === 1 ? "1 attempt, no retry" : `${attempts} attempts, waits from ${seconds(backoff_seconds)} up to ${seconds(max_delay_seconds)}`;
  return custom ? tries : `Defaults: ${tries}`;
}

/** Server messages about the policy (field `retry` or `retry.<key>`), by form key and overall. */
export function retryErrors(fields: Record<string, string[]> | undefined): { fields: Record<string, string[]>; general: string[] } {
  const result: { fields: Record<string, string[]>; general: string[] } = { fields: {}, general: [] };
  for (const [field, messages] of Object.entries(fields ?? {})) {
    if (field === "retry") result.general.push(...messages);
    else if (field.startsWith("retry.")) {
      const key = field.slice("retry.".length);
      if (isRetryKey(key)) (result.fields[key] ??= []).push(...messages);
      else result.general.push(...messages.map((m) => `${key}: ${m}`));
    }
  }
  return result;
}
