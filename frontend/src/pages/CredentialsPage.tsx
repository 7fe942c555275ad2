/** Credentials of the workspace: list, create, edit, delete. Secrets are never shown back. */
import { useEffect, useMemo, useState } from "react";
import type { Credential } from "../api/types";
import { CredentialForm, typeLabel } from "../components/credentials/CredentialForm";
import { ConfirmDialog } from "../components/ui/ConfirmDialog";
import { Dialog } from "../components/ui/Dialog";
import { EmptyState, ErrorBanner, Spinner } from "../components/ui/EmptyState";
import { Icon } from "../components/ui/Icon";
import { formatDateTime } from "../lib/format";
import { humanize } from "../lib/schemaForm";
import { credentialTypes, useCatalog } from "../stores/catalog";
import { useCredentials } from "../stores/credentials";
import { useSession } from "../stores/session";
import { notify } from "../stores/toasts";

export function CredentialsPage() {
  const workspaceId = useSession((s) => s.workspaceId);
  const components = useCatalog((s) => s.components);
  const catalogStatus = useCatalog((s) => s.status);
  const loadCatalog = useCatalog((s) => s.load);
  const { items, status, error, load, upsert, remove } = useCredentials();
  const [editing, setEditing] = useState<Credential | "new" | null>(null);
  const [deleting, setDeleting] = useState<Credential | null>(null);
  const types = useMemo(() => credentialTypes(components), [components]);
  const titleOf = (type: string, key: string) => types.find((t) => t.type === type)?.schema.properties?.[key]?.title ?? key;

  useEffect(() => void loadCatalog(), [loadCatalog]);
  useEffect(() => void load(workspaceId, true), [load, workspaceId]);

  return (
    <div className="page">
      <header className="page-header">
        <div>
          <h1>Credentials</h1>
          <p className="page-subtitle">Secrets for components — Kafka SASL/TLS, HTTP auth, Bloomreach API keys. Encrypted at rest; never shown again.</p>
        </div>
        <div className="page-actions">
          <button type="button" className="button button-primary" onClick={() => setEditing("new")} disabled={catalogStatus !== "ready"}>
            <Icon name="plus" size={15} /> New credential
          </button>
        </div>
      </header>

      {status === "error" && <ErrorBanner message={`Credentials could not be loaded: ${error}`} onRetry={() => void load(workspaceId, true)} />}
      {status === "loading" && items.length === 0 ? (
        <Spinner label="Loading credentials…" />
      ) : status === "ready" && items.length === 0 ? (
        <EmptyState icon="key" title="No credentials yet">
          <p>
            Steps that talk to protected systems take a credential: a Kafka consumer on a SASL cluster, an HTTP request with a token, Bloomreach with an
            API key. Create one here with <strong>New credential</strong>, or from a step’s configuration.
          </p>
        </EmptyState>
      ) : items.length > 0 ? (
        <div className="card table-card">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Type</th>
                <th scope="col">Settings</th>
                <th scope="col">Secrets</th>
                <th scope="col">Updated</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((credential) => {
                const fields = Object.entries(credential.public.fields ?? {}).filter(([, v]) => v !== "" && v !== null);
                const secrets = credential.public.secrets_set ?? [];
                return (
                  <tr key={credential.id}>
                    <td>
                      <strong>{credential.name}</strong>
                    </td>
                    <td title={typeLabel(types.find((t) => t.type === credential.type), credential.type)}>{humanize(credential.type)}</td>
                    <td className="small">
                      {fields.length === 0 ? (
                        <span className="muted">—</span>
                      ) : (
                        fields.slice(0, 3).map(([k, v]) => (
                          <span key={k} className="kv-chip">
                            {titleOf(credential.type, k)}: <span className="mono">{String(v).slice(0, 40)}</span>
                          </span>
                        ))
                      )}
                    </td>
                    <td className="small">
                      {secrets.length === 0 ? (
                        <span className="muted">none set</span>
                      ) : (
                        secrets.map((s) => (
                          <span key={s} className="kv-chip kv-secret">
                            {titleOf(credential.type, s)}: set
                          </span>
                        ))
                      )}
                    </td>
                    <td className="nowrap">{formatDateTime(credential.updated_at)}</td>
                    <td className="actions-cell">
<div className="row-actions">
                      <button type="button" className="button button-small" onClick={() => setEditing(credential)}>
                        <Icon name="edit" size={13} /> Edit
                      </button>
                      <button type="button" className="button button-small button-danger-outline" onClick={() => setDeleting(credential)}>
                        <Icon name="trash" size={13} /> Delete
                      </button>
                    </div>
</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}

      {editing && (
        <Dialog title={editing === "new" ? "New credential" : `Edit “${editing.name}”`} onClose={() => setEditing(null)} size="medium">
          <CredentialForm
            types={types}
            existing={editing === "new" ? undefined : editing}
            workspaceId={workspaceId}
            onCancel={() => setEditing(null)}
            onSaved={(credential) => {
              upsert(credential);
              setEditing(null);
              notify("success", `Saved “${credential.name}”.`);
            }}
          />
        </Dialog>
      )}
      {deleting && (
        <ConfirmDialog
          title={`Delete “${deleting.name}”?`}
          message="Steps that use this credential would lose access. A credential still used by a flow cannot be deleted."
          confirmLabel="Delete"
          danger
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await remove(deleting.id);
            notify("success", `Deleted “${deleting.name}”.`);
          }}
        />
      )}
    </div>
  );
}
