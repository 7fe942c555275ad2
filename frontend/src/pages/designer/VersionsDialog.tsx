/**
 * Published versions: view one (read-only canvas or its JSON), compare two of them or one with
 * the draft, or restore one into the draft.
 */
import { useEffect, useState } from "react";
import { api, type ComponentDescriptor, type Flow, type FlowVersion } from "../../api/client";
import { FlowCanvas } from "../../components/canvas/FlowCanvas";
import { ConfirmDialog } from "../../components/ui/ConfirmDialog";
import { Dialog } from "../../components/ui/Dialog";
import { EmptyState, ErrorBanner, Spinner } from "../../components/ui/EmptyState";
import { formatDateTime } from "../../lib/format";
import { normalizeGraph } from "../../lib/graph";
import { indexProblems } from "../../lib/graphErrors";
import { useFlowDocument } from "../../stores/flowDocument";
import { VersionDiffView, type DiffTarget } from "./VersionDiffView";

const NO_PROBLEMS = indexProblems([]);

export function VersionsDialog({
  flow,
  descriptors,
  onRestore,
  onClose,
}: {
  flow: Flow;
  descriptors: ComponentDescriptor[];
  onRestore: (version: FlowVersion) => Promise<void>;
  onClose: () => void;
}) {
  const [versions, setVersions] = useState<FlowVersion[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [viewing, setViewing] = useState<FlowVersion | null>(null);
  const [asJson, setAsJson] = useState(false);
  const [restoring, setRestoring] = useState<FlowVersion | null>(null);
  const [comparing, setComparing] = useState<{ from: number; to: DiffTarget } | null>(null);

  // The comparison with the draft is made by the server: send the designer's pending edits first.
  const saveDraft = async () => {
    const draft = useFlowDocument.getState();
    if (draft.flowId === flow.id) await draft.saveNow();
  };

  const load = () => {
    setError(null);
    api
      .listVersions(flow.id)
      .then((list) => setVersions([...list].sort((a, b) => b.number - a.number)))
      .catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)));
  };
  useEffect(load, [flow.id]);

  if (restoring) {
    return (
      <ConfirmDialog
        title={`Restore v${restoring.number}?`}
        message={`The draft is replaced by version ${restoring.number}. The running flow keeps its published version until you publish again.`}
        confirmLabel="Restore"
        onConfirm={() => onRestore(restoring)}
        onClose={() => setRestoring(null)}
      />
    );
  }

  const title = comparing ? "Compare versions" : viewing ? `Version ${viewing.number}` : "Versions";
  return (
    <Dialog title={title} onClose={onClose} size={viewing || comparing ? "large" : "medium"}>
      {comparing && versions ? (
        <div className="version-view">
          <div className="version-view-bar">
            <button type="button" className="button button-small" onClick={() => setComparing(null)}>
              ← All versions
            </button>
          </div>
          <VersionDiffView
            key={`${comparing.from}:${comparing.to}`}
            flowId={flow.id}
            versions={versions}
            descriptors={descriptors}
            initialFrom={comparing.from}
            initialTo={comparing.to}
            prepareDraft={saveDraft}
          />
        </div>
      ) : viewing ? (
        <div className="version-view">
          <div className="version-view-bar">
            <button type="button" className="button button-small" onClick={() => setViewing(null)}>
              ← All versions
            </button>
            <div className="segmented" role="group" aria-label="Show version as">
              <button type="button" aria-pressed={!asJson} onClick={() => setAsJson(false)}>
                Canvas
              </button>
              <button type="button" aria-pressed={asJson} onClick={() => setAsJson(true)}>
                JSON
              </button>
            </div>
            <span className="muted">Published {formatDateTime(viewing.created_at)} · read-only</span>
            <button
              type="button"
              className="button button-small"
              onClick={() => {
                setComparing({ from: viewing.number, to: "draft" });
                setViewing(null);
              }}
            >
              Compare with draft
            </button>
            <button type="button" className="button button-small" onClick={() => setRestoring(viewing)}>
              Restore
            </button>
          </div>
          {asJson ? (
            <pre className="json-raw version-json" aria-label={`Version ${viewing.number} graph JSON`} tabIndex={0}>
              {JSON.stringify(viewing.graph, null, 2)}
            </pre>
          ) : (
            <div className="version-canvas">
              <FlowCanvas
                graph={normalizeGraph(viewing.graph)}
                descriptors={descriptors}
                problems={NO_PROBLEMS}
                readOnly
                ariaLabel={`Version ${viewing.number} (read-only)`}
              />
            </div>
          )}
        </div>
      ) : error ? (
        <ErrorBanner message={error} onRetry={load} />
      ) : versions === null ? (
        <Spinner />
      ) : versions.length === 0 ? (
        <EmptyState icon="history" title="No versions yet">
          Publish the flow to freeze the draft into version 1. A running flow always runs a published version.
        </EmptyState>
      ) : (
        <table className="table versions-table">
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Published</th>
              <th scope="col">Steps</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {versions.map((version) => (
              <tr key={version.id}>
                <td>
                  <strong id={`version-${version.id}`}>v{version.number}</strong>
                  {flow.active_version === version.number && <span className="tag tag-active">active</span>}
                </td>
                <td>{formatDateTime(version.created_at)}</td>
                <td>{normalizeGraph(version.graph).nodes.length}</td>
                <td className="actions-cell">
<div className="row-actions">
                  <button type="button" className="button button-small" onClick={() => setViewing(version)} aria-describedby={`version-${version.id}`}>
                    View
                  </button>
                  <button
                    type="button"
                    className="button button-small"
                    onClick={() => setComparing({ from: version.number, to: "draft" })}
                    aria-describedby={`version-${version.id}`}
                    title="Compare with the draft or another version"
                  >
                    Compare
                  </button>
                  <button type="button" className="button button-small" onClick={() => setRestoring(version)} aria-describedby={`version-${version.id}`}>
                    Restore
                  </button>
                </div>
</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Dialog>
  );
}
