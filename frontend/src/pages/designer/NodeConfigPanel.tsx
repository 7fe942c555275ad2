/**
 * The selected node's settings: input, credential (with "New credential…" inline), the form
 * generated from the component's config schema, and the server's messages on their fields.
 */
import { useId, useState } from "react";
import type { ComponentDescriptor, Credential, GraphNode, JSONValue } from "../../api/types";
import { CodeField } from "../../components/code/CodeField";
import { CredentialForm } from "../../components/credentials/CredentialForm";
import { SchemaForm, type FieldRenderProps } from "../../components/forms/SchemaForm";
import { componentLook, Icon } from "../../components/ui/Icon";
import type { NodeProblems } from "../../lib/graphErrors";
import { humanize } from "../../lib/schemaForm";
import type { CredentialType } from "../../stores/catalog";
import { RetryPolicySection } from "./RetryPolicySection";

const NEW_CREDENTIAL = "__new__";

export interface NodeConfigPanelProps {
  node: GraphNode;
  descriptor: ComponentDescriptor | undefined;
  problems: NodeProblems | undefined;
  credentials: Credential[];
  credentialTypes: CredentialType[];
  flowId: number | null;
  workspaceId: number | null;
  parent: string | null;
  possibleParents: string[];
  expanded: boolean;
  readOnly?: boolean;
  onToggleExpanded: () => void;
  onConfigChange: (key: string, value: JSONValue | undefined) => void;
  onCredentialChange: (credential: number | null) => void;
  /** One field of the retry policy (action steps); undefined restores its default. */
  onRetryChange?: (key: string, value: JSONValue | undefined) => void;
  onCredentialCreated: (credential: Credential) => void;
  onParentChange: (parent: string | null) => void;
  onDelete: () => void;
  onClose: () => void;
}

export function NodeConfigPanel(props: NodeConfigPanelProps) {
  const { node, descriptor, problems, credentials, credentialTypes, parent, possibleParents, readOnly = false } = props;
  const id = useId();
  const [creating, setCreating] = useState(false);
  const look = componentLook(node.component);
  const fieldErrors = problems?.fields ?? {};
  const credentialType = descriptor?.credential_type ?? null;
  const matching = credentials.filter((c) => c.type === credentialType);
  const isTrigger = descriptor?.kind === "trigger";
  const hasCode = Object.values(descriptor?.config_schema.properties ?? {}).some((p) => p.format === "python");

  const renderField = ({ field, value, setValue, describedBy }: FieldRenderProps) => {
    if (field.kind !== "python") return undefined;
    return (
      <CodeField
        key={`${props.flowId}:${node.id}`}
        value={typeof value === "string" ? value : ""}
        onChange={(code) => setValue(code)}
        flowId={props.flowId}
        nodeKey={`${props.flowId}:${node.id}`}
        describedBy={describedBy}
        serverErrors={fieldErrors[field.key] ?? []}
        readOnly={readOnly}
      />
    );
  };

  return (
    <aside className={`config-panel${props.expanded ? " is-expanded" : ""}${hasCode ? " has-code" : ""}`} role="region" aria-label="Node configuration">
      <header className="config-header" style={{ ["--accent" as string]: look.color }}>
        <span className="config-icon" aria-hidden="true">
          <Icon name={look.icon} size={18} />
        </span>
        <div className="config-heading">
          <h2>{descriptor?.title ?? node.component}</h2>
          <span className="config-node-id">{node.id}</span>
        </div>
        <button
          type="button"
          className="icon-button"
          aria-label={props.expanded ? "Narrow panel" : "Widen panel"}
          title={props.expanded ? "Narrow panel" : "Widen panel"}
          aria-pressed={props.expanded}
          onClick={props.onToggleExpanded}
        >
          <Icon name={props.expanded ? "collapse" : "expand"} />
        </button>
        <button type="button" className="icon-button" aria-label="Close configuration" title="Close (Esc)" onClick={props.onClose}>
          <Icon name="close" />
        </button>
      </header>
      <div className="config-body">
        {!descriptor && (
          <p className="form-error" role="alert">
            Unknown component “{node.component}”: it is not installed on this server.
          </p>
        )}
        {descriptor?.description && <p className="config-description">{descriptor.description}</p>}
        {problems && problems.general.length > 0 && (
          <ul className="node-problems" aria-label="Problems with this step">
            {problems.general.map((message, index) => (
              <li key={index}>
                <Icon name="alert" size={14} /> {message}
              </li>
            ))}
          </ul>
        )}

        {!isTrigger && (
          <div className={`form-field${fieldErrors.input ? " is-invalid" : ""}`}>
            <label htmlFor={`${id}-input`} className="field-label">
              Input from
            </label>
            <select
              id={`${id}-input`}
              value={parent ?? ""}
              disabled={readOnly}
              aria-describedby={fieldErrors.input ? `${id}-input-error` : `${id}-input-hint`}
              onChange={(e) => props.onParentChange(e.target.value || null)}
            >
              <option value="">— not connected —</option>
              {[...new Set([...(parent ? [parent] : []), ...possibleParents])].map((candidate) => (
                <option key={candidate} value={candidate}>
                  {candidate}
                </option>
              ))}
            </select>
            {fieldErrors.input ? (
              <p id={`${id}-input-error`} className="field-error">
                {fieldErrors.input.join("; ")}
              </p>
            ) : (
              <p id={`${id}-input-hint`} className="field-description">
                The step whose output this step receives (or drag between the handles on the canvas).
              </p>
            )}
          </div>
        )}

        {credentialType && (
          <div className={`form-field${fieldErrors.credential ? " is-invalid" : ""}`}>
            <label htmlFor={`${id}-credential`} className="field-label">
              Credential
            </label>
            <select
              id={`${id}-credential`}
              value={creating ? NEW_CREDENTIAL : node.credential === null ? "" : String(node.credential)}
              disabled={readOnly}
              aria-invalid={fieldErrors.credential ? true : undefined}
              aria-describedby={fieldErrors.credential ? `${id}-credential-error` : undefined}
              onChange={(e) => {
                if (e.target.value === NEW_CREDENTIAL) {
                  setCreating(true);
                  return;
                }
                setCreating(false);
                props.onCredentialChange(e.target.value ? Number(e.target.value) : null);
              }}
            >
              <option value="">None</option>
              {matching.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name}
                </option>
              ))}
              {node.credential !== null && !matching.some((c) => c.id === node.credential) && (
                <option value={node.credential}>Credential #{node.credential} (not in this workspace)</option>
              )}
              <option value={NEW_CREDENTIAL}>New credential…</option>
            </select>
            {fieldErrors.credential && (
              <p id={`${id}-credential-error`} className="field-error">
                {fieldErrors.credential.join("; ")}
              </p>
            )}
            {creating && (
              // Labelled without the word "credential": the select above owns that name.
              <div className="inline-credential" role="group" aria-labelledby={`${id}-new-access`}>
                <h3 id={`${id}-new-access`}>New {humanize(credentialType)} access</h3>
                <CredentialForm
                  types={credentialTypes}
                  fixedType={credentialType}
                  workspaceId={props.workspaceId}
                  compact
                  onCancel={() => setCreating(false)}
                  onSaved={(credential) => {
                    setCreating(false);
                    props.onCredentialCreated(credential);
                    props.onCredentialChange(credential.id);
                  }}
                />
              </div>
            )}
          </div>
        )}

        {descriptor && (
          <SchemaForm
            schema={descriptor.config_schema}
            values={node.config}
            onChange={props.onConfigChange}
            errors={fieldErrors}
            disabled={readOnly}
            renderField={renderField}
          />
        )}

        {descriptor?.kind === "action" && props.onRetryChange && (
          <RetryPolicySection policy={node.retry} fieldErrors={fieldErrors} readOnly={readOnly} onChange={props.onRetryChange} />
        )}
      </div>
      {!readOnly && (
        <footer className="config-footer">
          <button type="button" className="button button-danger-outline" onClick={props.onDelete}>
            <Icon name="trash" size={14} /> Delete node
          </button>
        </footer>
      )}
    </aside>
  );
}
