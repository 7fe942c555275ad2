/** A collapsible JSON tree (native <details>, so it is keyboard and screen-reader friendly). */
import { useState } from "react";
import type { JSONValue } from "../../api/types";

const MAX_CHILDREN = 200;

function Scalar({ value }: { value: JSONValue }) {
  if (value === null) return <span className="json-null">null</span>;
  if (typeof value === "string") return <span className="json-string">"{value}"</span>;
  if (typeof value === "number") return <span className="json-number">{String(value)}</span>;
  if (typeof value === "boolean") return <span className="json-boolean">{String(value)}</span>;
  return null;
}

function preview(value: JSONValue): string {
  if (Array.isArray(value)) return `[${value.length}]`;
  if (value && typeof value === "object") return `{${Object.keys(value).length}}`;
  return "";
}

function Node({ name, value, depth, openDepth }: { name: string | null; value: JSONValue; depth: number; openDepth: number }) {
  const label = name !== null ? <span className="json-key">{name}: </span> : null;
  if (value === null || typeof value !== "object") {
    return (
      <div className="json-line">
        {label}
        <Scalar value={value} />
      </div>
    );
  }
  const entries: [string, JSONValue][] = Array.isArray(value)
    ? value.map((v, i) => [String(i), v])
    : Object.entries(value);
  return (
    <details className="json-node" open={depth < openDepth}>
      <summary>
        {label}
        <span className="json-preview">{preview(value)}</span>
      </summary>
      <div className="json-children">
        {entries.slice(0, MAX_CHILDREN).map(([key, child]) => (
          <Node key={key} name={key} value={child} depth={depth + 1} openDepth={openDepth} />
        ))}
        {entries.length > MAX_CHILDREN && <div className="json-more">… {entries.length - MAX_CHILDREN} more</div>}
      </div>
    </details>
  );
}

export function JsonViewer({ value, openDepth = 2, label }: { value: JSONValue | undefined; openDepth?: number; label?: string }) {
  const [raw, setRaw] = useState(false);
  if (value === undefined) return <div className="json-viewer json-empty">—</div>;
  const text = JSON.stringify(value, null, 2);
  return (
    <div className="json-viewer" aria-label={label} role={label ? "group" : undefined}>
      <div className="json-tools">
        <button type="button" className="link-button" onClick={() => setRaw(!raw)}>
          {raw ? "Tree" : "Raw"}
        </button>
        <button
          type="button"
          className="link-button"
          onClick={() => void navigator.clipboard?.writeText(text)}
        >
          Copy
        </button>
      </div>
      {raw ? <pre className="json-raw">{text}</pre> : <Node name={null} value={value} depth={0} openDepth={openDepth} />}
    </div>
  );
}
