/**
 * Pure operations on a flow graph. Every function returns a new graph and never mutates its
 * input, so the flow document can keep old graphs for undo.
 *
 * Rules (the same the server enforces): exactly one trigger, which takes no input; every
 * action takes input from at most one step; no cycles.
 */
import type { ComponentDescriptor, FlowSettings, Graph, GraphEdge, GraphNode, JSONObject, RetryPolicy } from "../api/types";

export const EMPTY_GRAPH: Graph = { nodes: [], edges: [] };

function isObject(value: unknown): value is Record<string, unknown> {
  return Boolean(value) && typeof value === "object" && !Array.isArray(value);
}

/** A graph as the server may send it: fill in what an older or hand-made graph lacks. */
export function normalizeGraph(raw: unknown): Graph {
  const value = (raw && typeof raw === "object" ? raw : {}) as Partial<Graph>;
  const nodes = Array.isArray(value.nodes) ? value.nodes : [];
  const edges = Array.isArray(value.edges) ? value.edges : [];
  const graph: Graph = {
    nodes: nodes.map((node, index) => {
      const normal: GraphNode = {
        id: String(node.id),
        component: String(node.component),
        config: (node.config && typeof node.config === "object" ? node.config : {}) as JSONObject,
        credential: typeof node.credential === "number" ? node.credential : null,
        position:
          node.position && typeof node.position.x === "number" && typeof node.position.y === "number"
            ? { x: node.position.x, y: node.position.y }
            : { x: 80 + index * 280, y: 120 },
      };
      if (isObject(node.retry)) normal.retry = { ...node.retry };
      return normal;
    }),
    edges: edges.map((edge) => ({ source: String(edge.source), target: String(edge.target) })),
  };
  if (isObject(value.settings)) graph.settings = { ...value.settings };
  return graph;
}

/** `<component>-<n>` with n one more than the highest already used for that component. */
export function nextNodeId(graph: Graph, component: string): string {
  const prefix = `${component}-`;
  let highest = 0;
  for (const node of graph.nodes) {
    if (!node.id.startsWith(prefix)) continue;
    const n = Number(node.id.slice(prefix.length));
    if (Number.isInteger(n) && n > highest) highest = n;
  }
  return `${prefix}${highest + 1}`;
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

export function addNode(
  graph: Graph,
  descriptor: Pick<ComponentDescriptor, "name" | "sample_config">,
  position: { x: number; y: number },
): { graph: Graph; node: GraphNode } {
  const node: GraphNode = {
    id: nextNodeId(graph, descriptor.name),
    component: descriptor.name,
    config: clone(descriptor.sample_config ?? {}),
    credential: null,
    position: { x: Math.round(position.x), y: Math.round(position.y) },
  };
  return { graph: { ...graph, nodes: [...graph.nodes, node] }, node };
}

/** Where a node added without a drop position goes: right of `after` or of the rightmost node. */
export function placementFor(graph: Graph, afterId?: string | null): { x: number; y: number } {
  const after = afterId ? graph.nodes.find((n) => n.id === afterId) : undefined;
  if (after) {
    const x = after.position.x + 280;
    let y = after.position.y;
    // Step down while another node already sits there, so fan-outs do not overlap.
    while (graph.nodes.some((n) => Math.abs(n.position.x - x) < 200 && Math.abs(n.position.y - y) < 90)) {
      y += 120;
    }
    return { x, y };
  }
  if (graph.nodes.length === 0) return { x: 80, y: 160 };
  const rightmost = graph.nodes.reduce((a, b) => (b.position.x > a.position.x ? b : a));
  return { x: rightmost.position.x + 280, y: rightmost.position.y };
}

export type KindOf = (component: string) => "trigger" | "action" | undefined;

export type ConnectResult = { ok: true; graph: Graph } | { ok: false; reason: string };

function parentOf(graph: Graph, nodeId: string): string | undefined {
  return graph.edges.find((e) => e.target === nodeId)?.source;
}

/** Whether `target` is `source` or one of its ancestors (a new edge would close a cycle). */
function isAncestorOrSelf(graph: Graph, candidate: string, of: string): boolean {
  const seen = new Set<string>();
  let current: string | undefined = of;
  while (current !== undefined && !seen.has(current)) {
    if (current === candidate) return true;
    seen.add(current);
    current = parentOf(graph, current);
  }
  return false;
}

/** Why `source → target` may not be added, or null when it may. */
export function connectionProblem(graph: Graph, edge: GraphEdge, kindOf: KindOf): string | null {
  const { source, target } = edge;
  const ids = new Set(graph.nodes.map((n) => n.id));
  if (!ids.has(source) || !ids.has(target)) return "both ends must be nodes of this flow";
  if (source === target) return "a node cannot connect to itself";
  const targetNode = graph.nodes.find((n) => n.id === target);
  if (targetNode && kindOf(targetNode.component) === "trigger") {
    return "a trigger cannot take input; it starts the flow";
  }
  if (graph.edges.some((e) => e.source === source && e.target === target)) {
    return "these steps are connected already";
  }
  if (graph.edges.some((e) => e.target === target)) {
    return `${target} already takes its input from another step`;
  }
  if (isAncestorOrSelf(graph, target, source)) return "the connection would form a cycle";
  return null;
}

export function connect(graph: Graph, edge: GraphEdge, kindOf: KindOf): ConnectResult {
  const problem = connectionProblem(graph, edge, kindOf);
  if (problem) return { ok: false, reason: problem };
  return {
    ok: true,
    graph: { ...graph, edges: [...graph.edges, { source: edge.source, target: edge.target }] },
  };
}

/** Make `parent` (or nothing, with null) the only input of `nodeId`. */
export function setParent(graph: Graph, nodeId: string, parent: string | null, kindOf: KindOf): ConnectResult {
  const without: Graph = { ...graph, edges: graph.edges.filter((e) => e.target !== nodeId) };
  if (parent === null) return { ok: true, graph: without };
  return connect(without, { source: parent, target: nodeId }, kindOf);
}

/** Steps that could feed `nodeId` without breaking a rule. */
export function possibleParents(graph: Graph, nodeId: string, kindOf: KindOf): string[] {
  const without: Graph = { ...graph, edges: graph.edges.filter((e) => e.target !== nodeId) };
  return graph.nodes
    .map((n) => n.id)
    .filter((id) => connectionProblem(without, { source: id, target: nodeId }, kindOf) === null);
}

export function removeNodes(graph: Graph, ids: Iterable<string>): Graph {
  const gone = new Set(ids);
  if (gone.size === 0) return graph;
  return {
    ...graph,
    nodes: graph.nodes.filter((n) => !gone.has(n.id)),
    edges: graph.edges.filter((e) => !gone.has(e.source) && !gone.has(e.target)),
  };
}

export function edgeId(edge: GraphEdge): string {
  return `${edge.source}->${edge.target}`;
}

export function removeEdges(graph: Graph, ids: Iterable<string>): Graph {
  const gone = new Set(ids);
  if (gone.size === 0) return graph;
  return { ...graph, edges: graph.edges.filter((e) => !gone.has(edgeId(e))) };
}

export function moveNodes(graph: Graph, positions: Record<string, { x: number; y: number }>): Graph {
  let changed = false;
  const nodes = graph.nodes.map((node) => {
    const position = positions[node.id];
    if (!position) return node;
    const x = Math.round(position.x);
    const y = Math.round(position.y);
    if (x === node.position.x && y === node.position.y) return node;
    changed = true;
    return { ...node, position: { x, y } };
  });
  return changed ? { ...graph, nodes } : graph;
}

export function updateNode(
  graph: Graph,
  id: string,
  patch: Partial<Pick<GraphNode, "config" | "credential">>,
): Graph {
  return { ...graph, nodes: graph.nodes.map((node) => (node.id === id ? { ...node, ...patch } : node)) };
}

/** Set (or, with undefined, remove) a node's retry policy. */
export function setRetry(graph: Graph, id: string, retry: RetryPolicy | undefined): Graph {
  return {
    ...graph,
    nodes: graph.nodes.map((node) => {
      if (node.id !== id) return node;
      const { retry: _previous, ...rest } = node;
      return retry === undefined ? rest : { ...rest, retry };
    }),
  };
}

/** Set (or, with undefined, remove) the flow's error-handling settings. */
export function setSettings(graph: Graph, settings: FlowSettings | undefined): Graph {
  const { settings: _previous, ...rest } = graph;
  return settings === undefined ? rest : { ...rest, settings };
}

export function triggerCount(graph: Graph, kindOf: KindOf): number {
  return graph.nodes.filter((n) => kindOf(n.component) === "trigger").length;
}

/** The node ids in execution order from the trigger (for ordering lists); others last. */
export function orderFromTrigger(graph: Graph, kindOf: KindOf): string[] {
  const trigger = graph.nodes.find((n) => kindOf(n.component) === "trigger");
  const order: string[] = [];
  if (trigger) {
    const queue = [trigger.id];
    while (queue.length) {
      const id = queue.shift() as string;
      if (order.includes(id)) continue;
      order.push(id);
      queue.push(...graph.edges.filter((e) => e.source === id).map((e) => e.target));
    }
  }
  for (const node of graph.nodes) if (!order.includes(node.id)) order.push(node.id);
  return order;
}

export function graphsEqual(a: Graph, b: Graph): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
