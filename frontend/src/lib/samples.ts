/** Sample messages for the code test run: parse what the user typed, or take one from a record. */
import type { JSONObject, JSONValue, SampleMessage } from "../api/types";

/** The first event of flows/demo/events-1k.jsonl, as the Kafka trigger hands it on. */
export const DEFAULT_SAMPLE: SampleMessage = {
  body: {
    event_id: "1818e811-892f-902b-d23f-0824128b2f33",
    user_id: "u-01236",
    email: "u.01236@Example.COM",
    type: "view_item",
    ts: 1764000000001,
    session: { id: "s-e80ed90475", device: "web", country: "AT" },
    item: { sku: "SKU-0215", price: "26.7", qty: 1, currency: "EUR" },
  },
  headers: {},
  meta: { topic: "shop-events", partition: 0, offset: 0, key: "u-01236", timestamp: 1764000000001 },
};

export function isObject(value: unknown): value is JSONObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export type ParsedSample = { ok: true; message: SampleMessage } | { ok: false; error: string };

/**
 * What the step will receive. A JSON object with a `body` key is a whole message (`headers`
 * and `meta` optional); anything else is taken as the body alone.
 */
export function parseSample(text: string): ParsedSample {
  if (!text.trim()) return { ok: false, error: "Type a sample message (JSON) first." };
  let value: JSONValue;
  try {
    value = JSON.parse(text) as JSONValue;
  } catch (error) {
    return { ok: false, error: `The sample message is not valid JSON: ${(error as Error).message}` };
  }
  if (isObject(value) && "body" in value) {
    const message: SampleMessage = { body: value.body ?? null };
    if (value.headers !== undefined) {
      if (!isObject(value.headers)) return { ok: false, error: '"headers" must be an object' };
      message.headers = value.headers;
    }
    if (value.meta !== undefined) {
      if (!isObject(value.meta)) return { ok: false, error: '"meta" must be an object' };
      message.meta = value.meta;
    }
    return { ok: true, message };
  }
  return { ok: true, message: { body: value } };
}

/** A message from a record (a trigger step's output, a fetched sample), or null. */
export function messageFrom(value: JSONValue | undefined): SampleMessage | null {
  if (Array.isArray(value)) return value.length ? messageFrom(value[0]) : null;
  if (!isObject(value) || !("body" in value)) return null;
  if (value.truncated === true) return null;
  const message: SampleMessage = { body: value.body ?? null };
  if (isObject(value.headers)) message.headers = value.headers;
  if (isObject(value.meta)) message.meta = value.meta;
  return message;
}

export function sampleText(message: SampleMessage): string {
  const { id: _id, ...rest } = message;
  return JSON.stringify(rest, null, 2);
}
