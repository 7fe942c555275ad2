/** Edits an object of strings (HTTP headers) as name/value rows. */
import { useEffect, useState } from "react";
import type { JSONObject, JSONValue } from "../../api/types";
import { objectFromRows, rowsFromObject, type KeyValueRow } from "../../lib/schemaForm";
import { Icon } from "../ui/Icon";

export function KeyValueEditor({
  id,
  label,
  value,
  onChange,
  describedBy,
  disabled = false,
}: {
  id: string;
  label: string;
  value: JSONValue | undefined;
  onChange: (value: JSONObject) => void;
  describedBy?: string;
  disabled?: boolean;
}) {
  // Rows are local so a half-typed row (no name yet) survives a round trip through the object.
  const [rows, setRows] = useState<KeyValueRow[]>(() => rowsFromObject(value));
  useEffect(() => {
    const incoming = JSON.stringify(value ?? {});
    if (incoming !== JSON.stringify(objectFromRows(rows))) setRows(rowsFromObject(value));
    // Only when the value changes from outside (undo, another node).
  }, [value]);

  const update = (next: KeyValueRow[]) => {
    setRows(next);
    onChange(objectFromRows(next));
  };

  return (
    <div className="kv-editor" id={id} role="group" aria-label={label} aria-describedby={describedBy}>
      {rows.length === 0 && <p className="kv-empty">No entries.</p>}
      {rows.map((row, index) => (
        <div className="kv-row" key={index}>
          <input
            type="text"
            aria-label={`${label} name ${index + 1}`}
            placeholder="Name"
            value={row.key}
            disabled={disabled}
            onChange={(e) => update(rows.map((r, i) => (i === index ? { ...r, key: e.target.value } : r)))}
          />
          <input
            type="text"
            aria-label={`${label} value ${index + 1}`}
            placeholder="Value"
            value={row.value}
            disabled={disabled}
            onChange={(e) => update(rows.map((r, i) => (i === index ? { ...r, value: e.target.value } : r)))}
          />
          <button
            type="button"
            className="icon-button"
            aria-label={`Remove ${label} entry ${row.key || index + 1}`}
            disabled={disabled}
            onClick={() => update(rows.filter((_, i) => i !== index))}
          >
            <Icon name="close" size={14} />
          </button>
        </div>
      ))}
      <button type="button" className="button button-small" disabled={disabled} onClick={() => setRows([...rows, { key: "", value: "" }])}>
        <Icon name="plus" size={14} /> Add {label} entry
      </button>
    </div>
  );
}
