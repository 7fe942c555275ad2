/**
 * Create or edit a credential: name, type, and fields generated from the type's schema.
 * Secret fields are write-only: shown as "set"/"not set", never filled back; left empty they
 * keep their stored value.
 */
import { useId, useMemo, useState, type FormEvent } from "react";
import { api, ApiError, type Credential, type JSONObject, type JSONValue } from "../../api/client";
import { defaultsFromSchema, humanize } from "../../lib/schemaForm";
import type { CredentialType } from "../../stores/catalog";
import { SchemaForm } from "../forms/SchemaForm";

function fieldErrors(details: Record<string, unknown>): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const [key, value] of Object.entries(details)) {
    const name = key.startsWith("fields.") ? key.slice("fields.".length) : key;
    result[name] = Array.isArray(value) ? value.map(String) : [typeof value === "string" ? value : JSON.stringify(value)];
  }
  return result;
}

export function typeLabel(type: CredentialType | undefined, fallback: string): string {
  if (!type) return humanize(fallback);
  return `${humanize(type.type)} (${type.usedBy.join(", ")})`;
}

export function CredentialForm({
  types,
  fixedType,
  existing,
  workspaceId,
  onSaved,
  onCancel,
  compact = false,
}: {
  types: CredentialType[];
  fixedType?: string;
  existing?: Credential;
  workspaceId: number | null;
  onSaved: (credential: Credential) => void;
  onCancel: () => void;
  compact?: boolean;
}) {
  const id = useId();
  const [name, setName] = useState(existing?.name ?? "");
  const [type, setType] = useState(existing?.type ?? fixedType ?? types[0]?.type ?? "");
  const schemaOf = (t: string) => types.find((x) => x.type === t)?.schema;
  // Start from the schema's defaults: what the selects show is what gets sent.
  const [values, setValues] = useState<JSONObject>(() => {
    const defaults = defaultsFromSchema(schemaOf(existing?.type ?? fixedType ?? types[0]?.type ?? ""));
    for (const [key, prop] of Object.entries(schemaOf(existing?.type ?? fixedType ?? types[0]?.type ?? "")?.properties ?? {})) {
      if (prop.secret) delete defaults[key];
    }
    return { ...defaults, ...((existing?.public.fields ?? {}) as JSONObject) };
  });
  const [errors, setErrors] = useState<Record<string, string[]>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const schema = useMemo(() => types.find((t) => t.type === type)?.schema, [types, type]);
  const secretKeys = useMemo(
    () => Object.entries(schema?.properties ?? {}).filter(([, p]) => p.secret).map(([k]) => k),
    [schema],
  );

  const onChange = (key: string, value: JSONValue | undefined) => {
    setValues((current) => {
      const next = { ...current };
      if (value === undefined) delete next[key];
      else next[key] = value;
      return next;
    });
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!name.trim()) {
      setErrors({ name: ["required"] });
      return;
    }
    setBusy(true);
    setError(null);
    setErrors({});
    // Only fields of this type's schema; empty secrets are left out so they keep their value.
    const allowed = new Set(Object.keys(schema?.properties ?? {}));
    const fields: JSONObject = {};
    for (const [key, value] of Object.entries(values)) {
      if (!allowed.has(key)) continue;
      if (secretKeys.includes(key) && (value === "" || value === undefined)) continue;
      fields[key] = value;
    }
    try {
      const saved = existing
        ? await api.updateCredential(existing.id, { name: name.trim(), fields })
        : await api.createCredential({ name: name.trim(), type, fields, workspace: workspaceId });
      onSaved(saved);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      if (e instanceof ApiError) setErrors(fieldErrors(e.details));
      setBusy(false);
    }
  };

  const typeFixed = Boolean(existing || fixedType);

  return (
    <form className={`credential-form${compact ? " is-compact" : ""}`} onSubmit={(e) => void submit(e)} noValidate>
      <div className="form-field">
        <label htmlFor={`${id}-name`} className="field-label">
          Name
        </label>
        <input
          id={`${id}-name`}
          type="text"
          value={name}
          onChange={(e) => setName(e.target.value)}
          aria-invalid={errors.name ? true : undefined}
          aria-describedby={errors.name ? `${id}-name-error` : undefined}
          placeholder="e.g. Production Kafka"
          data-autofocus
          autoComplete="off"
        />
        {errors.name && (
          <p id={`${id}-name-error`} className="field-error">
            {errors.name.join("; ")}
          </p>
        )}
      </div>
      <div className="form-field">
        <label htmlFor={`${id}-type`} className="field-label">
          Type
        </label>
        <select
          id={`${id}-type`}
          value={type}
          disabled={typeFixed}
          onChange={(e) => {
            setType(e.target.value);
            setValues(defaultsFromSchema(schemaOf(e.target.value)));
          }}
        >
          {types.map((t) => (
            <option key={t.type} value={t.type}>
              {typeLabel(t, t.type)}
            </option>
          ))}
          {!types.some((t) => t.type === type) && <option value={type}>{humanize(type || "unknown")}</option>}
        </select>
      </div>
      {schema ? (
        <SchemaForm
          schema={schema}
          values={values}
          onChange={onChange}
          errors={errors}
          secretsSet={existing?.public.secrets_set ?? []}
          checkLocally={false}
        />
      ) : (
        <p className="form-note">Pick a type to see its fields.</p>
      )}
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <div className="form-actions">
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="button button-primary" disabled={busy}>
          {busy ? "Saving…" : "Save"}
        </button>
      </div>
    </form>
  );
}
