import { describe, expect, it } from "vitest";
import type { JSONSchema } from "../api/types";
import {
  defaultsFromSchema,
  effectiveValue,
  fieldsFromSchema,
  humanize,
  localProblems,
  objectFromRows,
  rowsFromObject,
  valueFromInput,
} from "./schemaForm";

const restSchema: JSONSchema = {
  type: "object",
  properties: {
    method: { type: "string", enum: ["GET", "POST"], default: "POST" },
    url: { type: "string", minLength: 1, description: "May contain placeholders" },
    headers: { type: "object", additionalProperties: { type: "string" }, default: {} },
    body: { type: ["string", "null"], default: null },
    timeout_seconds: { type: "number", exclusiveMinimum: 0, maximum: 300, default: 10 },
    retries: { type: "integer", minimum: 0, maximum: 20, default: 5, title: "Retries" },
    code: { type: "string", format: "python", title: "Python code" },
    pem: { type: "string", format: "textarea" },
    enabled: { type: "boolean" },
    password: { type: "string", secret: true },
    extra: { type: "array", items: { type: "string" } },
  },
  required: ["url"],
};

describe("fieldsFromSchema", () => {
  const fields = fieldsFromSchema(restSchema);
  const byKey = Object.fromEntries(fields.map((f) => [f.key, f]));

  it("keeps the schema's property order", () => {
    expect(fields.map((f) => f.key)).toEqual(Object.keys(restSchema.properties!));
  });

  it("maps types to field kinds", () => {
    expect(byKey.method?.kind).toBe("enum");
    expect(byKey.url?.kind).toBe("string");
    expect(byKey.headers?.kind).toBe("keyvalue");
    expect(byKey.body?.kind).toBe("string");
    expect(byKey.body?.nullable).toBe(true);
    expect(byKey.timeout_seconds?.kind).toBe("number");
    expect(byKey.retries?.kind).toBe("integer");
    expect(byKey.code?.kind).toBe("python");
    expect(byKey.pem?.kind).toBe("text");
    expect(byKey.enabled?.kind).toBe("boolean");
    expect(byKey.extra?.kind).toBe("json");
  });

  it("labels by title, falling back to the key", () => {
    expect(byKey.retries?.label).toBe("Retries");
    expect(byKey.url?.label).toBe("url");
  });

  it("carries required, secret, bounds and description", () => {
    expect(byKey.url?.required).toBe(true);
    expect(byKey.method?.required).toBe(false);
    expect(byKey.password?.secret).toBe(true);
    expect(byKey.timeout_seconds?.minimum).toBe(0);
    expect(byKey.timeout_seconds?.maximum).toBe(300);
    expect(byKey.url?.description).toBe("May contain placeholders");
  });

  it("returns nothing for a schema without properties", () => {
    expect(fieldsFromSchema(null)).toEqual([]);
    expect(fieldsFromSchema({ type: "object" })).toEqual([]);
  });
});

describe("defaults and values", () => {
  it("collects defaults as copies", () => {
    const defaults = defaultsFromSchema(restSchema);
    expect(defaults).toEqual({ method: "POST", headers: {}, body: null, timeout_seconds: 10, retries: 5 });
    expect(defaults.headers).not.toBe(restSchema.properties!.headers!.default);
  });

  it("shows the configured value, else the default", () => {
    const [method] = fieldsFromSchema(restSchema);
    expect(effectiveValue(method!, {})).toBe("POST");
    expect(effectiveValue(method!, { method: "GET" })).toBe("GET");
  });

  it("converts inputs by kind", () => {
    const byKey = Object.fromEntries(fieldsFromSchema(restSchema).map((f) => [f.key, f]));
    expect(valueFromInput(byKey.retries!, "7")).toBe(7);
    expect(valueFromInput(byKey.retries!, "")).toBeUndefined();
    expect(valueFromInput(byKey.body!, "")).toBeNull();
    expect(valueFromInput(byKey.url!, "")).toBe("");
    expect(valueFromInput(byKey.extra!, '["a"]')).toEqual(["a"]);
    expect(valueFromInput(byKey.method!, "GET")).toBe("GET");
  });
});

describe("localProblems", () => {
  const fields = fieldsFromSchema(restSchema);

  it("flags missing required fields and out-of-range numbers", () => {
    expect(localProblems(fields, { retries: 50 })).toEqual({ url: "required", retries: "must be at most 20" });
    expect(localProblems(fields, { url: "https://x", retries: 1.5 })).toEqual({ retries: "must be a whole number" });
    expect(localProblems(fields, { url: "https://x" })).toEqual({});
  });

  it("checks patterns", () => {
    const topic = fieldsFromSchema({ properties: { topic: { type: "string", pattern: "^[a-z.]+$" } } });
    expect(localProblems(topic, { topic: "bad topic" })).toEqual({ topic: "does not match ^[a-z.]+$" });
  });
});

describe("key/value rows", () => {
  it("round-trips and drops rows without a key", () => {
    const rows = rowsFromObject({ "X-Id": "{{ meta.key }}", Accept: "application/json" });
    expect(rows).toEqual([
      { key: "X-Id", value: "{{ meta.key }}" },
      { key: "Accept", value: "application/json" },
    ]);
    expect(objectFromRows([...rows, { key: " ", value: "x" }])).toEqual({ "X-Id": "{{ meta.key }}", Accept: "application/json" });
  });
});

it("humanizes names", () => {
  expect(humanize("http_auth")).toBe("Http auth");
});
