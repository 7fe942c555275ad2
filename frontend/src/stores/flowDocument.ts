/**
 * The flow open in the designer: its draft graph with undo/redo, the selection, and the
 * autosave state machine (Saved → Unsaved changes → Saving… → Saved | Not saved: reason).
 *
 * The local draft is the truth while editing: a refused save keeps it, marks it unsaved and
 * keeps the server's problems so the canvas can flag the nodes concerned.
 */
import { create } from "zustand";
import {
  api,
  ApiError,
  type ComponentDescriptor,
  type Flow,
  type Graph,
  type GraphEdge,
  type GraphProblem,
  type JSONValue,
} from "../api/client";
import { settingsForm, settingsFromForm, type FlowSettingsForm } from "../lib/flowSettings";
import * as ops from "../lib/graph";
import { graphProblemsFrom } from "../lib/graphErrors";
import { canRedo, canUndo, emptyHistory, record, redo, undo, type History } from "../lib/history";
import { withRetryField } from "../lib/retryPolicy";

export const AUTOSAVE_MS = 800;
const RETRY_MS = 5000;

export type SaveState =
  | { kind: "saved" }
  | { kind: "dirty" }
  | { kind: "saving" }
  | { kind: "error"; reason: string };

export function saveStatusText(save: SaveState): string {
  switch (save.kind) {
    case "saved":
      return "Saved";
    case "dirty":
      return "Unsaved changes";
    case "saving":
      return "Saving…";
    case "error":
      return `Not saved: ${save.reason}`;
  }
}

type KindOf = ops.KindOf;

interface ChangeOptions {
  /** Coalesce with the previous change of the same key (typing into one field). */
  key?: string;
  /** Skip the history (drag in progress, undo itself). */
  record?: boolean;
}

export interface FlowDocumentState {
  flowId: number | null;
  flow: Flow | null;
  loadState: "idle" | "loading" | "ready" | "error";
  loadError: string | null;
  graph: Graph;
  savedGraph: Graph;
  history: History<Graph>;
  save: SaveState;
  problems: GraphProblem[];
  selectedNodeId: string | null;
  selectedEdgeId: string | null;
  kindOf: KindOf;

  load: (flowId: number) => Promise<void>;
  reset: () => void;
  setKindOf: (kindOf: KindOf) => void;
  /** Replace the draft with a graph the server holds (restore): a new baseline, no undo. */
  replaceFromServer: (flow: Flow) => void;
  setFlow: (flow: Partial<Flow>) => void;
  /** Problems reported by another call (publish) about the current draft. */
  setProblems: (problems: GraphProblem[]) => void;

  change: (next: Graph, options?: ChangeOptions) => void;
  addComponent: (descriptor: ComponentDescriptor, position?: { x: number; y: number }) => string;
  connect: (edge: GraphEdge) => string | null;
  setParent: (nodeId: string, parent: string | null) => string | null;
  removeNodes: (ids: string[]) => void;
  removeEdges: (ids: string[]) => void;
  remove: (nodeIds: string[], edgeIds: string[]) => void;
  moveNodes: (positions: Record<string, { x: number; y: number }>, options?: ChangeOptions) => void;
  /** Record the graph before a drag so the whole drag is one undo step. */
  commitDrag: (before: Graph) => void;
  updateConfig: (nodeId: string, key: string, value: JSONValue | undefined) => void;
  setCredential: (nodeId: string, credential: number | null) => void;
  /** One field of a node's retry policy; undefined restores its default. */
  updateRetry: (nodeId: string, key: string, value: JSONValue | undefined) => void;
  /** The flow's error handling (`graph.settings`), saved with the graph. */
  updateSettings: (patch: Partial<FlowSettingsForm>) => void;
  select: (nodeId: string | null) => void;
  selectEdge: (edgeId: string | null) => void;
  undo: () => void;
  redo: () => void;
  canUndo: () => boolean;
  canRedo: () => boolean;
  saveNow: () => Promise<boolean>;
}

let timer: ReturnType<typeof setTimeout> | null = null;
let inflight: Promise<boolean> | null = null;

function clearTimer() {
  if (timer !== null) clearTimeout(timer);
  timer = null;
}

const initial = {
  flowId: null,
  flow: null,
  loadState: "idle" as const,
  loadError: null,
  graph: ops.EMPTY_GRAPH,
  savedGraph: ops.EMPTY_GRAPH,
  history: emptyHistory<Graph>(),
  save: { kind: "saved" } as SaveState,
  problems: [] as GraphProblem[],
  selectedNodeId: null,
  selectedEdgeId: null,
};

export const useFlowDocument = create<FlowDocumentState>((set, get) => {
  function schedule(ms = AUTOSAVE_MS) {
    clearTimer();
    timer = setTimeout(() => {
      timer = null;
      void get().saveNow();
    }, ms);
  }

  /** Keep the selection pointing at things that exist. */
  function selectionFor(graph: Graph) {
    const { selectedNodeId, selectedEdgeId } = get();
    return {
      selectedNodeId: selectedNodeId && graph.nodes.some((n) => n.id === selectedNodeId) ? selectedNodeId : null,
      selectedEdgeId: selectedEdgeId && graph.edges.some((e) => ops.edgeId(e) === selectedEdgeId) ? selectedEdgeId : null,
    };
  }

  function applyGraph(next: Graph, history: History<Graph>) {
    const saved = ops.graphsEqual(next, get().savedGraph);
    set({
      graph: next,
      history,
      ...selectionFor(next),
      save: saved ? { kind: "saved" } : { kind: "dirty" },
      ...(saved ? { problems: [] } : {}),
    });
    if (!saved) schedule();
    else clearTimer();
  }

  return {
    ...initial,
    kindOf: () => undefined,

    load: async (flowId) => {
      // Back to the same flow with a draft the server has not taken (session expired, a refused
      // save): keep the local draft and try to save it again rather than drop it.
      const current = get();
      if (current.flowId === flowId && current.loadState === "ready" && current.save.kind !== "saved") {
        schedule(0);
        return;
      }
      clearTimer();
      set({ ...initial, flowId, loadState: "loading" });
      try {
        const flow = await api.getFlow(flowId);
        if (get().flowId !== flowId) return;
        const graph = ops.normalizeGraph(flow.graph);
        set({ flow, graph, savedGraph: graph, loadState: "ready" });
      } catch (error) {
        if (get().flowId !== flowId) return;
        set({ loadState: "error", loadError: error instanceof Error ? error.message : String(error) });
      }
    },

    reset: () => {
      clearTimer();
      set({ ...initial });
    },

    setKindOf: (kindOf) => set({ kindOf }),

    replaceFromServer: (flow) => {
      clearTimer();
      const graph = ops.normalizeGraph(flow.graph);
      set({
        flow,
        graph,
        savedGraph: graph,
        history: emptyHistory<Graph>(),
        save: { kind: "saved" },
        problems: [],
        selectedNodeId: null,
        selectedEdgeId: null,
      });
    },

    setFlow: (patch) => {
      const flow = get().flow;
      if (flow) set({ flow: { ...flow, ...patch, graph: flow.graph } });
    },

    setProblems: (problems) => set({ problems }),

    change: (next, options = {}) => {
      const { graph, history } = get();
      if (next === graph) return;
      const nextHistory =
        options.record === false ? history : record(history, graph, options.key ? { key: options.key } : {});
      applyGraph(next, nextHistory);
    },

    addComponent: (descriptor, position) => {
      const { graph, selectedNodeId } = get();
      const at = position ?? ops.placementFor(graph, selectedNodeId);
      const { graph: next, node } = ops.addNode(graph, descriptor, at);
      // Not selected: the configuration panel opens when the user picks the node, so adding
      // several steps in a row keeps the canvas wide.
      get().change(next);
      return node.id;
    },

    connect: (edge) => {
      const result = ops.connect(get().graph, edge, get().kindOf);
      if (!result.ok) return result.reason;
      get().change(result.graph);
      return null;
    },

    setParent: (nodeId, parent) => {
      const result = ops.setParent(get().graph, nodeId, parent, get().kindOf);
      if (!result.ok) return result.reason;
      get().change(result.graph);
      return null;
    },

    removeNodes: (ids) => get().remove(ids, []),
    removeEdges: (ids) => get().remove([], ids),
    remove: (nodeIds, edgeIds) => {
      const next = ops.removeEdges(ops.removeNodes(get().graph, nodeIds), edgeIds);
      get().change(next);
    },

    moveNodes: (positions, options = {}) => {
      const next = ops.moveNodes(get().graph, positions);
      if (next !== get().graph) get().change(next, options);
    },

    commitDrag: (before) => {
      const { graph, history } = get();
      if (ops.graphsEqual(before, graph)) return;
      set({ history: record(history, before) });
    },

    updateConfig: (nodeId, key, value) => {
      const node = get().graph.nodes.find((n) => n.id === nodeId);
      if (!node) return;
      const config = { ...node.config };
      if (value === undefined) delete config[key];
      else config[key] = value;
      get().change(ops.updateNode(get().graph, nodeId, { config }), { key: `config:${nodeId}:${key}` });
    },

    setCredential: (nodeId, credential) => {
      get().change(ops.updateNode(get().graph, nodeId, { credential }));
    },

    updateRetry: (nodeId, key, value) => {
      const node = get().graph.nodes.find((n) => n.id === nodeId);
      if (!node) return;
      const retry = withRetryField(node.retry, key, value);
      if (retry === node.retry) return;
      get().change(ops.setRetry(get().graph, nodeId, retry), { key: `retry:${nodeId}:${key}` });
    },

    updateSettings: (patch) => {
      const { graph } = get();
      const settings = settingsFromForm({ ...settingsForm(graph.settings), ...patch }, graph.settings);
      const next = ops.setSettings(graph, settings);
      if (ops.graphsEqual(next, graph)) return;
      get().change(next, { key: `settings:${Object.keys(patch).join(",")}` });
    },

    select: (nodeId) => set({ selectedNodeId: nodeId, selectedEdgeId: null }),
    // Deselecting an edge leaves the node selection alone (React Flow reports both on one click).
    selectEdge: (edgeId) => set(edgeId ? { selectedEdgeId: edgeId, selectedNodeId: null } : { selectedEdgeId: null }),

    undo: () => {
      const result = undo(get().history, get().graph);
      if (result) applyGraph(result.state, result.history);
    },

    redo: () => {
      const result = redo(get().history, get().graph);
      if (result) applyGraph(result.state, result.history);
    },

    canUndo: () => canUndo(get().history),
    canRedo: () => canRedo(get().history),

    saveNow: async () => {
      clearTimer();
      if (inflight) await inflight;
      const { flowId, graph, savedGraph } = get();
      if (flowId === null) return true;
      if (ops.graphsEqual(graph, savedGraph)) {
        set({ save: { kind: "saved" }, problems: [] });
        return true;
      }
      set({ save: { kind: "saving" } });
      const sent = graph;
      const attempt = api
        .updateFlow(flowId, { graph: sent })
        .then((flow) => {
          if (get().flowId !== flowId) return true;
          const current = get().graph;
          const upToDate = ops.graphsEqual(current, sent);
          set({
            savedGraph: sent,
            problems: [],
            save: upToDate ? { kind: "saved" } : { kind: "dirty" },
            flow: { ...flow, graph: sent },
          });
          if (!upToDate) schedule();
          return true;
        })
        .catch((error: unknown) => {
          if (get().flowId !== flowId) return false;
          const reason = error instanceof Error ? error.message : String(error);
          const problems = error instanceof ApiError ? graphProblemsFrom(error.details) : [];
          set({ save: { kind: "error", reason }, problems });
          // The server or the network hiccuped: try again by itself. A refused graph waits for
          // the next edit instead.
          if (!(error instanceof ApiError) || error.status === 0 || error.status >= 500) schedule(RETRY_MS);
          return false;
        })
        .finally(() => {
          inflight = null;
        });
      inflight = attempt;
      return attempt;
    },
  };
});
