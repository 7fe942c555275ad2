/**
 * The flow designer: header (name, status, version, save state, tabs, publish/start/stop),
 * palette, canvas and the selected node's configuration. Wires the stores to the
 * presentational canvas and forms.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api, ApiError, type ComponentDescriptor, type Credential, type FlowVersion } from "../../api/client";
import { FlowCanvas, type CanvasHandle } from "../../components/canvas/FlowCanvas";
import { FlowNameDialog } from "../../components/FlowNameDialog";
import { Palette } from "../../components/palette/Palette";
import { EmptyState, ErrorBanner, Spinner } from "../../components/ui/EmptyState";
import { FlowStatusNotice } from "../../components/ui/FlowStatusNotice";
import { Icon } from "../../components/ui/Icon";
import { StatusBadge } from "../../components/ui/StatusBadge";
import { flowStatusDisplay } from "../../lib/flowStatus";
import { connectionProblem, edgeId, possibleParents as parentsFor, triggerCount } from "../../lib/graph";
import { graphProblemsFrom, indexProblems } from "../../lib/graphErrors";
import { flowPath, navigate } from "../../router";
import { credentialTypes, descriptorOf, kindFrom, useCatalog } from "../../stores/catalog";
import { useCredentials } from "../../stores/credentials";
import { saveStatusText, useFlowDocument } from "../../stores/flowDocument";
import { useSession } from "../../stores/session";
import { errorText, notify } from "../../stores/toasts";
import { ExecutionsView } from "../executions/ExecutionsView";
import { FlowSettingsDialog } from "./FlowSettingsDialog";
import { NodeConfigPanel } from "./NodeConfigPanel";
import { ReplayDialog } from "./ReplayDialog";
import { VersionsDialog } from "./VersionsDialog";

const STATUS_POLL_MS = 4000;

function isEditable(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName) || Boolean(target.closest(".cm-editor"));
}

export function FlowDesignerPage({
  flowId,
  tab,
  executionId,
}: {
  flowId: number;
  tab: "designer" | "executions";
  executionId: number | null;
}) {
  const workspaceId = useSession((s) => s.workspaceId);
  const components = useCatalog((s) => s.components);
  const catalogStatus = useCatalog((s) => s.status);
  const catalogError = useCatalog((s) => s.error);
  const loadCatalog = useCatalog((s) => s.load);
  const credentials = useCredentials((s) => s.items);
  const loadCredentials = useCredentials((s) => s.load);
  const upsertCredential = useCredentials((s) => s.upsert);

  const doc = useFlowDocument();
  const { flow, graph, problems, save, selectedNodeId, selectedEdgeId, loadState, loadError } = doc;

  const canvas = useRef<CanvasHandle>(null);
  const [reveal, setReveal] = useState<{ id: string; seq: number } | null>(null);
  const revealSeq = useRef(0);
  const revealNode = useCallback((id: string) => setReveal({ id, seq: ++revealSeq.current }), []);
  const [panelExpanded, setPanelExpanded] = useState(false);
  const [showVersions, setShowVersions] = useState(false);
  const [showSettings, setShowSettings] = useState(false);
  const [showReplay, setShowReplay] = useState(false);
  const [renaming, setRenaming] = useState(false);
  const [busy, setBusy] = useState<null | "publish" | "start" | "stop">(null);

  useEffect(() => void loadCatalog(), [loadCatalog]);

  useEffect(() => {
    void useFlowDocument.getState().load(flowId);
    return () => {
      // Leaving the designer: send what is not saved yet (fire and forget).
      const state = useFlowDocument.getState();
      if (state.save.kind === "dirty" || state.save.kind === "error") void state.saveNow();
    };
  }, [flowId]);

  const kindOf = useMemo(() => kindFrom(components), [components]);
  useEffect(() => useFlowDocument.getState().setKindOf(kindOf), [kindOf]);

  useEffect(() => {
    if (flow?.workspace !== undefined) void loadCredentials(flow.workspace);
  }, [flow?.workspace, loadCredentials]);

  // Switching workspace while a flow of another is open: back to the list.
  const flowWorkspace = flow?.workspace;
  useEffect(() => {
    if (workspaceId !== null && flowWorkspace !== undefined && workspaceId !== flowWorkspace) navigate("/flows");
  }, [workspaceId, flowWorkspace]);

  // Keep the status live: the trigger runner may fail a running flow at any time.
  useEffect(() => {
    if (loadState !== "ready") return;
    const timer = setInterval(() => {
      if (document.visibilityState === "hidden") return;
      api
        .getFlow(flowId)
        .then((fresh) => {
          if (useFlowDocument.getState().flowId !== flowId) return;
          useFlowDocument.getState().setFlow({
            status: fresh.status,
            status_reason: fresh.status_reason ?? "",
            active_version: fresh.active_version,
            name: fresh.name,
          });
        })
        .catch(() => undefined);
    }, STATUS_POLL_MS);
    return () => clearInterval(timer);
  }, [flowId, loadState]);

  // Warn before closing the tab with unsaved changes.
  useEffect(() => {
    const onBeforeUnload = (event: BeforeUnloadEvent) => {
      const kind = useFlowDocument.getState().save.kind;
      if (kind === "dirty" || kind === "saving" || kind === "error") {
        event.preventDefault();
        void useFlowDocument.getState().saveNow();
      }
    };
    window.addEventListener("beforeunload", onBeforeUnload);
    return () => window.removeEventListener("beforeunload", onBeforeUnload);
  }, []);

  // Shortcuts: Ctrl/Cmd+S save; Ctrl/Cmd+Z undo; Ctrl/Cmd+Shift+Z and Ctrl+Y redo. Text fields
  // and the code editor keep their own undo.
  useEffect(() => {
    const onKeyDown = (event: KeyboardEvent) => {
      const state = useFlowDocument.getState();
      const mod = event.ctrlKey || event.metaKey;
      const key = event.key.toLowerCase();
      if (mod && key === "s") {
        event.preventDefault();
        void state.saveNow();
        return;
      }
      if (tab !== "designer" || document.querySelector('[role="dialog"]')) return;
      if (!mod) {
        // On the canvas React Flow handles Escape itself (unselect); elsewhere it closes the panel.
        const onCanvas = event.target instanceof Element && Boolean(event.target.closest(".react-flow"));
        if (event.key === "Escape" && !onCanvas && !isEditable(event.target) && state.selectedNodeId) state.select(null);
        return;
      }
      if (isEditable(event.target)) return;
      if (key === "z" && !event.shiftKey) {
        event.preventDefault();
        state.undo();
      } else if ((key === "z" && event.shiftKey) || (key === "y" && !event.shiftKey)) {
        event.preventDefault();
        state.redo();
      }
    };
    window.addEventListener("keydown", onKeyDown);
    return () => window.removeEventListener("keydown", onKeyDown);
  }, [tab]);

  // The configuration panel narrows the canvas: keep the node being configured in view.
  useEffect(() => {
    if (selectedNodeId) revealNode(selectedNodeId);
  }, [selectedNodeId, revealNode]);

  const problemIndex = useMemo(() => indexProblems(problems), [problems]);
  const types = useMemo(() => credentialTypes(components), [components]);
  const hasTrigger = triggerCount(graph, kindOf) > 0;
  const selectedNode = graph.nodes.find((n) => n.id === selectedNodeId);
  const selectedEdge = graph.edges.find((e) => edgeId(e) === selectedEdgeId);

  const addComponent = useCallback(
    (descriptor: ComponentDescriptor, position?: { x: number; y: number }) => {
      const state = useFlowDocument.getState();
      if (descriptor.kind === "trigger" && triggerCount(state.graph, kindOf) > 0) {
        notify("error", "A flow starts from exactly one trigger; this one has its trigger already.");
        return;
      }
      const id = state.addComponent(descriptor, position);
      if (!position) revealNode(id);
    },
    [kindOf, revealNode],
  );

  const onDropComponent = useCallback(
    (name: string, position: { x: number; y: number }) => {
      const descriptor = descriptorOf(components, name);
      if (descriptor) addComponent(descriptor, position);
    },
    [components, addComponent],
  );

  const onConnect = useCallback((edge: { source: string; target: string }) => {
    const problem = useFlowDocument.getState().connect(edge);
    if (problem) notify("error", `Cannot connect: ${problem}.`);
  }, []);

  const canConnect = useCallback(
    (edge: { source: string; target: string }) => {
      return connectionProblem(useFlowDocument.getState().graph, edge, kindOf) === null;
    },
    [kindOf],
  );

  const onDeleteElements = useCallback((nodeIds: string[], edgeIds: string[]) => {
    useFlowDocument.getState().remove(nodeIds, edgeIds);
  }, []);

  /** Save first: publishing, starting and restoring act on what the server holds. */
  const flushed = async (): Promise<boolean> => {
    const ok = await useFlowDocument.getState().saveNow();
    if (!ok) notify("error", `The draft is not saved: ${saveStatusText(useFlowDocument.getState().save).replace(/^Not saved: /, "")}`);
    return ok;
  };

  const publish = async () => {
    if (!flow) return;
    setBusy("publish");
    try {
      if (!(await flushed())) return;
      const version = await api.publishFlow(flow.id);
      useFlowDocument.getState().setFlow({ active_version: version.number });
      useFlowDocument.getState().setProblems([]);
      notify("success", `Published v${version.number}${flowStatusDisplay(flow.status).active ? "; the running flow switches to it" : ""}.`);
    } catch (error) {
      if (error instanceof ApiError) useFlowDocument.getState().setProblems(graphProblemsFrom(error.details));
      notify("error", `Not published: ${errorText(error)}`);
    } finally {
      setBusy(null);
    }
  };

  const startStop = async (action: "start" | "stop") => {
    if (!flow) return;
    setBusy(action);
    try {
      const updated = action === "start" ? await api.startFlow(flow.id) : await api.stopFlow(flow.id);
      useFlowDocument.getState().setFlow({ status: updated.status, status_reason: updated.status_reason ?? "" });
      notify("success", action === "start" ? `Started: running v${updated.active_version ?? flow.active_version ?? "?"}.` : "Stopped.");
    } catch (error) {
      notify("error", `Could not ${action}: ${errorText(error)}`);
    } finally {
      setBusy(null);
    }
  };

  const restore = async (version: FlowVersion) => {
    if (!flow) return;
    await useFlowDocument.getState().saveNow();
    const restored = await api.restoreVersion(flow.id, version.number);
    useFlowDocument.getState().replaceFromServer(restored);
    setShowVersions(false);
    notify("success", `Restored v${version.number} into the draft. Publish to run it.`);
  };

  if (loadState === "error") {
    return (
      <div className="page">
        <ErrorBanner message={`Could not open the flow: ${loadError ?? "unknown error"}`} onRetry={() => void doc.load(flowId)} />
      </div>
    );
  }
  if (loadState !== "ready" || !flow) return <Spinner label="Opening the flow…" />;

  const saveText = saveStatusText(save);
  const running = flow.status === "running";
  const status = flowStatusDisplay(flow.status, flow.status_reason);

  return (
    <div className="designer">
      <header className="designer-header">
        <div className="designer-title">
          <h1 title={flow.name}>{flow.name}</h1>
          <button type="button" className="icon-button" aria-label="Rename flow" title="Rename flow" onClick={() => setRenaming(true)}>
            <Icon name="edit" size={14} />
          </button>
          <StatusBadge status={flow.status} testId="flow-status" title={status.title} />
          <span className="version-chip" data-testid="flow-version" title="The published version a running flow runs">
            {flow.active_version ? `v${flow.active_version}` : "not published"}
          </span>
          <span className={`save-status save-${save.kind}`} data-testid="save-status" role="status" aria-live="polite" title={saveText}>
            {saveText}
          </span>
        </div>
        <div className="tabs" role="tablist" aria-label="Flow views">
          <button
            type="button"
            role="tab"
            id="tab-designer"
            aria-selected={tab === "designer"}
            aria-controls="panel-designer"
            tabIndex={tab === "designer" ? 0 : -1}
            className="tab"
            onClick={() => navigate(flowPath(flowId))}
            onKeyDown={(e) => e.key === "ArrowRight" && navigate(flowPath(flowId, "executions"))}
          >
            Designer
          </button>
          <button
            type="button"
            role="tab"
            id="tab-executions"
            aria-selected={tab === "executions"}
            aria-controls="panel-executions"
            tabIndex={tab === "executions" ? 0 : -1}
            className="tab"
            onClick={() => navigate(flowPath(flowId, "executions"))}
            onKeyDown={(e) => e.key === "ArrowLeft" && navigate(flowPath(flowId))}
          >
            Executions
          </button>
        </div>
        <div className="designer-actions">
          <button type="button" className="button" onClick={() => setShowVersions(true)}>
            <Icon name="history" size={15} /> Versions
          </button>
          <button type="button" className="button button-collapsible" onClick={() => setShowSettings(true)} title="Flow settings: dead-letter topic and what a destination outage does">
            <Icon name="settings" size={15} /> <span className="button-text">Flow settings</span>
          </button>
          <button
            type="button"
            className="button button-collapsible"
            onClick={() => setShowReplay(true)}
            title={status.active ? "Replay: stop the flow first" : "Replay: read the topic again from an earlier position"}
          >
            <Icon name="replay" size={15} /> <span className="button-text">Replay…</span>
          </button>
          <button type="button" className="button" onClick={() => void publish()} disabled={busy !== null}>
            <Icon name="upload" size={15} /> Publish
          </button>
          <button
            type="button"
            className="button button-primary"
            onClick={() => void startStop("start")}
            disabled={busy !== null || !status.canStart}
            title={flow.active_version ? "Run the published version" : "Publish first: a flow runs a published version"}
          >
            <Icon name="play" size={14} /> Start
          </button>
          <button type="button" className="button" onClick={() => void startStop("stop")} disabled={busy !== null || !status.canStop}>
            <Icon name="stop" size={14} /> Stop
          </button>
        </div>
      </header>
      <FlowStatusNotice status={flow.status} reason={flow.status_reason} />

      {tab === "designer" ? (
        <div className="designer-body" role="tabpanel" id="panel-designer" aria-labelledby="tab-designer">
          {catalogStatus === "error" ? (
            <aside className="palette">
              <ErrorBanner message={`Components could not be loaded: ${catalogError}`} onRetry={() => void loadCatalog(true)} />
            </aside>
          ) : (
            <Palette components={components} onAdd={(c) => addComponent(c)} hasTrigger={hasTrigger} disabled={catalogStatus !== "ready"} />
          )}
          <div className="canvas-area">
            <div className="canvas-toolbar" role="toolbar" aria-label="Canvas">
              <button type="button" className="icon-button" aria-label="Undo" title="Undo (Ctrl/Cmd+Z)" onClick={doc.undo} disabled={!doc.canUndo()}>
                <Icon name="undo" />
              </button>
              <button type="button" className="icon-button" aria-label="Redo" title="Redo (Ctrl/Cmd+Shift+Z)" onClick={doc.redo} disabled={!doc.canRedo()}>
                <Icon name="redo" />
              </button>
              <span className="toolbar-separator" aria-hidden="true" />
              <button type="button" className="icon-button" aria-label="Fit view" title="Fit view" onClick={() => canvas.current?.fitView()}>
                <Icon name="fit" />
              </button>
              {selectedEdge && (
                <>
                  <span className="toolbar-separator" aria-hidden="true" />
                  <span className="toolbar-note">
                    {selectedEdge.source} → {selectedEdge.target}
                  </span>
                  <button type="button" className="button button-small" onClick={() => doc.removeEdges([edgeId(selectedEdge)])}>
                    Delete connection
                  </button>
                </>
              )}
            </div>
            {problemIndex.general.length > 0 && (
              <div className="canvas-problems" role="alert">
                <Icon name="alert" />
                <span>{problemIndex.general.join(" · ")}</span>
              </div>
            )}
            <FlowCanvas
              graph={graph}
              descriptors={components}
              problems={problemIndex}
              selectedNodeId={selectedNodeId}
              selectedEdgeId={selectedEdgeId}
              live={running}
              reveal={reveal}
              handle={canvas}
              onSelectNode={doc.select}
              onSelectEdge={doc.selectEdge}
              canConnect={canConnect}
              onConnect={onConnect}
              onMoveNodes={(positions) => doc.moveNodes(positions)}
              onDelete={onDeleteElements}
              onDropComponent={onDropComponent}
            />
            {graph.nodes.length === 0 && (
              <div className="canvas-empty">
                <EmptyState icon="flows" title="An empty flow">
                  <p>
                    Start with a <strong>trigger</strong>: drag <em>Kafka consumer</em> from the left onto the canvas (or select it and press Enter).
                    Then add actions — <em>Code</em> to transform, <em>Bloomreach Engagement</em> or <em>HTTP request</em> to deliver — and connect
                    them handle to handle.
                  </p>
                </EmptyState>
              </div>
            )}
          </div>
          {selectedNode && (
            <NodeConfigPanel
              key={selectedNode.id}
              node={selectedNode}
              descriptor={descriptorOf(components, selectedNode.component)}
              problems={problemIndex.byNode[selectedNode.id]}
              credentials={credentials}
              credentialTypes={types}
              flowId={flow.id}
              workspaceId={flow.workspace ?? workspaceId}
              parent={graph.edges.find((e) => e.target === selectedNode.id)?.source ?? null}
              possibleParents={parentsFor(graph, selectedNode.id, kindOf)}
              expanded={panelExpanded}
              onToggleExpanded={() => setPanelExpanded(!panelExpanded)}
              onConfigChange={(key, value) => doc.updateConfig(selectedNode.id, key, value)}
              onCredentialChange={(credential) => doc.setCredential(selectedNode.id, credential)}
              onRetryChange={(key, value) => doc.updateRetry(selectedNode.id, key, value)}
              onCredentialCreated={(credential: Credential) => upsertCredential(credential)}
              onParentChange={(parent) => {
                const problem = doc.setParent(selectedNode.id, parent);
                if (problem) notify("error", `Cannot connect: ${problem}.`);
              }}
              onDelete={() => doc.removeNodes([selectedNode.id])}
              onClose={() => doc.select(null)}
            />
          )}
        </div>
      ) : (
        <div className="executions-tab" role="tabpanel" id="panel-executions" aria-labelledby="tab-executions">
          <ExecutionsView flowId={flow.id} executionId={executionId} graph={graph} descriptors={components} />
        </div>
      )}

      {showSettings && (
        <FlowSettingsDialog
          settings={graph.settings}
          problems={problems}
          onChange={(patch) => doc.updateSettings(patch)}
          onClose={() => setShowSettings(false)}
        />
      )}
      {showReplay && (
        <ReplayDialog
          flowId={flow.id}
          status={flow.status}
          onStop={() => void startStop("stop")}
          onClose={() => setShowReplay(false)}
        />
      )}
      {showVersions && <VersionsDialog flow={flow} descriptors={components} onRestore={restore} onClose={() => setShowVersions(false)} />}
      {renaming && (
        <FlowNameDialog
          title="Rename flow"
          initial={flow.name}
          submitLabel="Rename"
          onClose={() => setRenaming(false)}
          onSubmit={async (name) => {
            const updated = await api.updateFlow(flow.id, { name });
            useFlowDocument.getState().setFlow({ name: updated.name });
            setRenaming(false);
          }}
        />
      )}
      {catalogStatus === "ready" && components.length === 0 && (
        <EmptyState title="No components installed">The server reports no components; check its installation.</EmptyState>
      )}
    </div>
  );
}
