/**
 * A form generated from a JSON Schema: string, number/integer, enum → select, boolean →
 * checkbox, object of strings → key/value list, `format: "python"` → whatever `renderField`
 * supplies (the code editor). Field messages come from the server (`errors`) and from quick
 * local checks.
 */
import { useId, useMemo, type ReactNode } from "react";
import type { JSONObject, JSONSchema, JSONValue } from "../../api/types";
import {
  effectiveValue,
  fieldsFromSchema,
  localProblems,
  valueFromInput,
  type FieldModel,
} from "../../lib/schemaForm";
import { KeyValueEditor } from "./KeyValueEditor";

export interface FieldRenderProps {
  field: FieldModel;
  id: string;
  value: JSONValue | undefined;
  setValue: (value: JSONValue | undefined) => void;
  describedBy: string | undefined;
  invalid: boolean;
}

export interface SchemaFormProps {
  schema: JSONSchema | null | undefined;
  values: JSONObject;
  onChange: (key: string, value: JSONValue | undefined) => void;
  /** Server messages per field key. */
  errors?: Record<string, string[]>;
  /** Credential forms: which secret fields hold a value on the server. */
  secretsSet?: string[];
  /** Show "required" and range problems before the server says so. */
  checkLocally?: boolean;
  disabled?: boolean;
  /** Replace the input of some fields (return undefined to keep the default). */
  renderField?: (props: FieldRenderProps) => ReactNode | undefined;
  /** Leave out these keys (rendered elsewhere). */
  omit?: string[];
}

function displayText(value: JSONValue | undefined): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value, null, 2);
}

export function SchemaForm({
  schema,
  values,
  onChange,
  errors = {},
  secretsSet = [],
  checkLocally = true,
  disabled = false,
  renderField,
  omit = [],
}: SchemaFormProps) {
  const prefix = useId();
  const fields = useMemo(() => fieldsFromSchema(schema).filter((f) => !omit.includes(f.key)), [schema, omit]);
  const local = checkLocally ? localProblems(fields.filter((f) => !f.secret), values) : {};

  if (fields.length === 0) return <p className="form-note">This component has no settings.</p>;

  return (
    <div className="schema-form">
      {fields.map((field) => {
        const id = `${prefix}-${field.key}`;
        // Selects, checkboxes and lists show the default in effect; typed inputs show only what is
        // configured, with the default as placeholder, so clearing an input does not snap back.
        const showsDefault = field.kind === "enum" || field.kind === "boolean" || field.kind === "keyvalue";
        const value = showsDefault && !field.secret ? effectiveValue(field, values) : values[field.key];
        const messages = [...(errors[field.key] ?? []), ...(errors[field.key] ? [] : local[field.key] ? [local[field.key]!] : [])];
        const invalid = messages.length > 0;
        const descriptionId = field.description ? `${id}-description` : undefined;
        const errorId = invalid ? `${id}-error` : undefined;
        const describedBy = [descriptionId, errorId].filter(Boolean).join(" ") || undefined;
        const setValue = (v: JSONValue | undefined) => onChange(field.key, v);
        const custom = renderField?.({ field, id, value, setValue, describedBy, invalid });

        let control: ReactNode;
        if (custom !== undefined) {
          control = custom;
        } else if (field.kind === "boolean") {
          control = null; // rendered with its label below
        } else if (field.kind === "enum") {
          control = (
            <select
              id={id}
              value={displayText(value)}
              disabled={disabled}
              aria-invalid={invalid || undefined}
              aria-describedby={describedBy}
              onChange={(e) => setValue(valueFromInput(field, e.target.value))}
            >
              {(value === undefined || value === null || (!field.required && field.default === undefined)) && <option value="">—</option>}
              {field.options?.map((option) => (
                <option key={String(option)} value={String(option)}>
                  {String(option)}
                </option>
              ))}
            </select>
          );
        } else if (field.kind === "keyvalue") {
          control = (
            <KeyValueEditor
              id={id}
              label={field.label}
              value={value}
              disabled={disabled}
              describedBy={describedBy}
              onChange={(v) => setValue(v)}
            />
          );
        } else if (field.kind === "text" || field.kind === "json" || field.kind === "python") {
          control = (
            <textarea
              id={id}
              className={field.kind === "text" ? "" : "mono"}
              rows={field.kind === "python" ? 12 : 4}
              value={field.secret ? displayText(value) : displayText(value)}
              placeholder={field.secret ? (secretsSet.includes(field.key) ? "set — type to replace" : "not set") : undefined}
              spellCheck={false}
              disabled={disabled}
              aria-invalid={invalid || undefined}
              aria-describedby={describedBy}
              onChange={(e) => setValue(field.secret && e.target.value === "" ? undefined : valueFromInput(field, e.target.value))}
            />
          );
        } else {
          const numeric = field.kind === "number" || field.kind === "integer";
          control = (
            <input
              id={id}
              type={field.secret ? "password" : numeric ? "number" : "text"}
              inputMode={numeric ? (field.kind === "integer" ? "numeric" : "decimal") : undefined}
              step={field.kind === "integer" ? 1 : numeric ? "any" : undefined}
              min={numeric ? field.minimum : undefined}
              max={numeric ? field.maximum : undefined}
              autoComplete={field.secret ? "new-password" : "off"}
              value={displayText(value)}
              placeholder={
                field.secret
                  ? secretsSet.includes(field.key)
                    ? "set — type to replace"
                    : "not set"
                  : field.default !== undefined && field.default !== null && field.default !== ""
                    ? String(field.default)
                    : undefined
              }
              disabled={disabled}
              aria-invalid={invalid || undefined}
              aria-describedby={describedBy}
              onChange={(e) => setValue(field.secret && e.target.value === "" ? undefined : valueFromInput(field, e.target.value))}
            />
          );
        }

        return (
          <div key={field.key} className={`form-field field-${field.kind}${invalid ? " is-invalid" : ""}`}>
            {field.kind === "boolean" ? (
              <label className="checkbox-label">
                <input
                  id={id}
                  type="checkbox"
                  checked={value === true}
                  disabled={disabled}
                  aria-describedby={describedBy}
                  onChange={(e) => setValue(e.target.checked)}
                />
                {field.label}
              </label>
            ) : (
              <div className="field-label-row">
                {field.kind === "keyvalue" ? (
                  <span className="field-label" id={`${id}-label`}>{field.label}</span>
                ) : (
                  <label htmlFor={id} className="field-label">
                    {field.label}
                  </label>
                )}
                {field.required && <span className="field-required" aria-hidden="true">required</span>}
                {field.secret && (
                  <span className={`secret-state${secretsSet.includes(field.key) ? " is-set" : ""}`}>
                    {secretsSet.includes(field.key) ? "set" : "not set"}
                  </span>
                )}
              </div>
            )}
            {field.kind === "python" && field.description && (
              <p id={descriptionId} className="field-description">
                {field.description}
              </p>
            )}
            {control}
            {field.kind !== "python" && field.description && (
              <p id={descriptionId} className="field-description">
                {field.description}
              </p>
            )}
            {invalid && (
              <p id={errorId} className="field-error">
                {messages.join("; ")}
              </p>
            )}
          </div>
        );
      })}
    </div>
  );
}
