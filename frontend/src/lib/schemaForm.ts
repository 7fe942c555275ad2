/**
 * JSON Schema → a flat list of form fields. The config panel and the credential form render
 * these models; nothing here touches React.
 */
import type { JSONObject, JSONSchema, JSONValue } from "../api/types";

export type FieldKind =
  | "string"
  | "text"
  | "python"
  | "number"
  | "integer"
  | "enum"
  | "boolean"
  | "keyvalue"
  | "json";

export interface FieldModel {
  key: string;
  label: string;
  description?: string;
  kind: FieldKind;
  required: boolean;
  /** `type: ["string", "null"]`: an empty input means null. */
  nullable: boolean;
  secret: boolean;
  options?: JSONValue[];
  default?: JSONValue;
  minimum?: number;
  maximum?: number;
  pattern?: string;
}

function types(schema: JSONSchema): string[] {
  if (Array.isArray(schema.type)) return schema.type;
  return schema.type ? [schema.type] : [];
}

export function fieldKind(schema: JSONSchema): FieldKind {
  const t = types(schema).filter((x) => x !== "null");
  if (schema.enum && schema.enum.length > 0) return "enum";
  if (schema.format === "python") return "python";
  if (t.includes("boolean")) return "boolean";
  if (t.includes("integer")) return "integer";
  if (t.includes("number")) return "number";
  if (t.includes("object")) {
    const extra = schema.additionalProperties;
    const stringValues = typeof extra === "object" && types(extra).includes("string");
    if (stringValues && !schema.properties) return "keyvalue";
    return "json";
  }
  if (t.includes("array")) return "json";
  if (schema.format === "textarea") return "text";
  return "string";
}

export function fieldsFromSchema(schema: JSONSchema | null | undefined): FieldModel[] {
  if (!schema?.properties) return [];
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties).map(([key, prop]) => {
    const field: FieldModel = {
      key,
      label: prop.title ?? key,
      kind: fieldKind(prop),
      required: required.has(key),
      nullable: types(prop).includes("null"),
      secret: prop.secret === true,
    };
    if (prop.description) field.description = prop.description;
    if (prop.enum) field.options = prop.enum;
    if (prop.default !== undefined) field.default = prop.default;
    const minimum = prop.minimum ?? prop.exclusiveMinimum;
    if (minimum !== undefined) field.minimum = minimum;
    const maximum = prop.maximum ?? prop.exclusiveMaximum;
    if (maximum !== undefined) field.maximum = maximum;
    if (prop.pattern) field.pattern = prop.pattern;
    return field;
  });
}

/** The schema's defaults for every property that declares one. */
export function defaultsFromSchema(schema: JSONSchema | null | undefined): JSONObject {
  const result: JSONObject = {};
  for (const [key, prop] of Object.entries(schema?.properties ?? {})) {
    if (prop.default !== undefined) result[key] = structuredClone(prop.default);
  }
  return result;
}

/** What the form shows: the configured value, else the schema default. */
export function effectiveValue(field: FieldModel, config: JSONObject): JSONValue | undefined {
  return Object.prototype.hasOwnProperty.call(config, field.key) ? config[field.key] : field.default;
}

/**
 * The config value for what the user typed. `undefined` removes the key, so the server
 * applies its default (empty number inputs; empty optional strings stay "" unless nullable).
 */
export function valueFromInput(field: FieldModel, raw: string): JSONValue | undefined {
  switch (field.kind) {
    case "number":
    case "integer": {
      if (raw.trim() === "") return field.nullable ? null : undefined;
      const n = Number(raw);
      return Number.isFinite(n) ? n : raw;
    }
    case "enum": {
      if (raw === "") return undefined;
      const match = field.options?.find((option) => String(option) === raw);
      return match === undefined ? raw : match;
    }
    case "json": {
      if (raw.trim() === "") return undefined;
      try {
        return JSON.parse(raw) as JSONValue;
      } catch {
        return raw;
      }
    }
    default:
      if (raw === "" && field.nullable) return null;
      return raw;
  }
}

/** Problems the browser can see at once, before the server says more. Keys are field keys. */
export function localProblems(fields: FieldModel[], values: JSONObject): Record<string, string> {
  const problems: Record<string, string> = {};
  for (const field of fields) {
    const value = effectiveValue(field, values);
    if (field.required && field.kind !== "boolean" && (value === undefined || value === null || value === "")) {
      problems[field.key] = "required";
      continue;
    }
    if ((field.kind === "number" || field.kind === "integer") && value !== undefined && value !== null) {
      if (typeof value !== "number") {
        problems[field.key] = "must be a number";
      } else if (field.kind === "integer" && !Number.isInteger(value)) {
        problems[field.key] = "must be a whole number";
      } else if (field.minimum !== undefined && value < field.minimum) {
        problems[field.key] = `must be at least ${field.minimum}`;
      } else if (field.maximum !== undefined && value > field.maximum) {
        problems[field.key] = `must be at most ${field.maximum}`;
      }
    }
    if (field.kind === "json" && typeof value === "string") problems[field.key] = "must be valid JSON";
    if (field.pattern && typeof value === "string" && value !== "") {
      try {
        if (!new RegExp(field.pattern).test(value)) problems[field.key] = `does not match ${field.pattern}`;
      } catch {
        // A pattern JavaScript cannot read: leave the check to the server.
      }
    }
  }
  return problems;
}

/** A key/value object as ordered rows for the editor, and back. */
export type KeyValueRow = { key: string; value: string };

export function rowsFromObject(value: JSONValue | undefined): KeyValueRow[] {
  if (!value || typeof value !== "object" || Array.isArray(value)) return [];
  return Object.entries(value).map(([key, v]) => ({ key, value: typeof v === "string" ? v : JSON.stringify(v) }));
}

export function objectFromRows(rows: KeyValueRow[]): JSONObject {
  const result: JSONObject = {};
  for (const row of rows) if (row.key.trim() !== "") result[row.key] = row.value;
  return result;
}

/** Human label for a credential type key: `http_auth` → `Http auth`. */
export function humanize(name: string): string {
  const text = name.replace(/[_-]+/g, " ").trim();
  return text.charAt(0).toUpperCase() + text.slice(1);
}
