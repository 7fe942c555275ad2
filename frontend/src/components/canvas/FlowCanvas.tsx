/**
 * The presentational canvas: takes a graph and emits typed events; it owns no flow state.
 * React Flow's own node list lives here only to carry what React Flow measures (sizes) and
 * positions mid-drag; the graph prop stays the truth and is re-synced whenever it changes.
 */
import {
  applyNodeChanges,
  Background,
  BackgroundVariant,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useReactFlow,
  type Connection,
  type Edge,
  type EdgeChange,
  type NodeChange,
  type OnSelectionChangeParams,
} from "@xyflow/react";
import { useCallback, useEffect, useImperativeHandle, useMemo, useRef, useState, type DragEvent, type Ref } from "react";
import type { ComponentDescriptor, Graph, GraphEdge } from "../../api/types";
import type { ProblemIndex } from "../../lib/graphErrors";
import { componentLook, Icon } from "../ui/Icon";
import { FlowNode } from "./FlowNode";
import { toFlowEdges, toFlowNodes, type FlowNodeType } from "./model";

import { COMPONENT_MIME } from "./model";

export { COMPONENT_MIME };

export interface CanvasHandle {
  fitView: () => void;
  zoomIn: () => void;
  zoomOut: () => void;
}

export interface FlowCanvasProps {
  graph: Graph;
  descriptors: ComponentDescriptor[];
  problems: ProblemIndex;
  selectedNodeId?: string | null;
  selectedEdgeId?: string | null;
  readOnly?: boolean;
  /** Animate edges (the flow is running). */
  live?: boolean;
  /** Pan this node into view (if it is not) whenever `seq` changes: a node just added or selected. */
  reveal?: { id: string; seq: number } | null;
  handle?: Ref<CanvasHandle>;
  ariaLabel?: string;
  onSelectNode?: (id: string | null) => void;
  onSelectEdge?: (id: string | null) => void;
  /** Whether a connection may be made (drives the handle feedback while dragging). */
  canConnect?: (edge: GraphEdge) => boolean;
  onConnect?: (edge: GraphEdge) => void;
  /** Final positions after a drag: one event per drag. */
  onMoveNodes?: (positions: Record<string, { x: number; y: number }>) => void;
  onDelete?: (nodeIds: string[], edgeIds: string[]) => void;
  onDropComponent?: (component: string, position: { x: number; y: number }) => void;
}

const nodeTypes = { component: FlowNode };

function CanvasInner(props: FlowCanvasProps) {
  const {
    graph,
    descriptors,
    problems,
    selectedNodeId = null,
    selectedEdgeId = null,
    readOnly = false,
    live = false,
    reveal,
    handle,
    ariaLabel = "Flow canvas",
  } = props;
  const flow = useReactFlow<FlowNodeType, Edge>();
  const wrapper = useRef<HTMLDivElement>(null);
  const callbacks = useRef(props);
  callbacks.current = props;

  const derived = useMemo(
    () => toFlowNodes(graph, descriptors, problems, selectedNodeId, readOnly),
    [graph, descriptors, problems, selectedNodeId, readOnly],
  );
  const [nodes, setNodes] = useState<FlowNodeType[]>(derived);
  // Re-sync from the graph, keeping what React Flow measured so nodes do not flicker.
  useEffect(() => {
    setNodes((current) => {
      const measured = new Map(current.map((n) => [n.id, n.measured]));
      return derived.map((n) => {
        const size = measured.get(n.id);
        return size ? { ...n, measured: size } : n;
      });
    });
  }, [derived]);

  const edges = useMemo(() => toFlowEdges(graph, selectedEdgeId, live), [graph, selectedEdgeId, live]);

  useImperativeHandle(
    handle,
    () => ({
      fitView: () => void flow.fitView({ padding: 0.2, maxZoom: 1.2, duration: 200 }),
      zoomIn: () => void flow.zoomIn({ duration: 150 }),
      zoomOut: () => void flow.zoomOut({ duration: 150 }),
    }),
    [flow],
  );

  useEffect(() => {
    if (!reveal || !wrapper.current) return;
    const node = graph.nodes.find((n) => n.id === reveal.id);
    if (!node) return;
    const size = nodes.find((n) => n.id === reveal.id)?.measured ?? { width: 240, height: 90 };
    const width = size.width ?? 240;
    const height = size.height ?? 90;
    const rect = wrapper.current.getBoundingClientRect();
    const topLeft = flow.screenToFlowPosition({ x: rect.left, y: rect.top });
    const bottomRight = flow.screenToFlowPosition({ x: rect.right, y: rect.bottom });
    const inside =
      node.position.x >= topLeft.x &&
      node.position.y >= topLeft.y &&
      node.position.x + width <= bottomRight.x &&
      node.position.y + height <= bottomRight.y;
    if (!inside) void flow.setCenter(node.position.x + width / 2, node.position.y + height / 2, { zoom: flow.getZoom(), duration: 200 });
    // Only when asked to reveal, not on every graph change.
  }, [reveal?.seq]);

  const onNodesChange = useCallback((changes: NodeChange<FlowNodeType>[]) => {
    // Removals arrive through onDelete as one event; selection through onSelectionChange.
    const local = changes.filter((c) => c.type !== "remove");
    if (local.length) setNodes((current) => applyNodeChanges(local, current));
    // Moves that are not mid-drag (arrow keys on a focused node, the end of a drag) are final.
    const settled: Record<string, { x: number; y: number }> = {};
    for (const change of changes) {
      if (change.type === "position" && change.position && change.dragging === false) settled[change.id] = change.position;
    }
    if (Object.keys(settled).length) callbacks.current.onMoveNodes?.(settled);
  }, []);

  // Edges are derived from the graph; selection is the only edge change the canvas reports.
  const onEdgesChange = useCallback((changes: EdgeChange<Edge>[]) => {
    const { onSelectEdge, selectedEdgeId: current } = callbacks.current;
    for (const change of changes) {
      if (change.type !== "select") continue;
      if (change.selected) onSelectEdge?.(change.id);
      else if (change.id === current) onSelectEdge?.(null);
    }
  }, []);

  const onNodeDragStop = useCallback((_: unknown, _node: FlowNodeType, dragged: FlowNodeType[]) => {
    const positions: Record<string, { x: number; y: number }> = {};
    for (const n of dragged) positions[n.id] = { x: n.position.x, y: n.position.y };
    callbacks.current.onMoveNodes?.(positions);
  }, []);

  const onSelectionChange = useCallback(({ nodes: selectedNodes, edges: selectedEdges }: OnSelectionChangeParams) => {
    const { onSelectNode, onSelectEdge, selectedNodeId: currentNode, selectedEdgeId: currentEdge } = callbacks.current;
    const node = selectedNodes[0]?.id ?? null;
    const edge = selectedEdges[0]?.id ?? null;
    if (node) {
      if (node !== currentNode) onSelectNode?.(node);
    } else if (edge) {
      if (edge !== currentEdge) onSelectEdge?.(edge);
    } else if (currentNode || currentEdge) {
      onSelectNode?.(null);
    }
  }, []);

  const isValidConnection = useCallback((connection: Connection | Edge) => {
    const check = callbacks.current.canConnect;
    return check ? check({ source: connection.source, target: connection.target }) : true;
  }, []);

  const onConnect = useCallback((connection: Connection) => {
    callbacks.current.onConnect?.({ source: connection.source, target: connection.target });
  }, []);

  const onBeforeDelete = useCallback(async () => {
    // Delete/Backspace act only while the canvas has the focus, never from the palette or a form.
    const active = document.activeElement;
    return !active || active === document.body || Boolean(wrapper.current?.contains(active));
  }, []);

  const onDelete = useCallback(({ nodes: gone, edges: goneEdges }: { nodes: FlowNodeType[]; edges: Edge[] }) => {
    callbacks.current.onDelete?.(
      gone.map((n) => n.id),
      goneEdges.map((e) => e.id),
    );
  }, []);

  const onDragOver = useCallback((event: DragEvent) => {
    if (readOnly) return;
    if ([...event.dataTransfer.types].includes(COMPONENT_MIME) || [...event.dataTransfer.types].includes("text/plain")) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    }
  }, [readOnly]);

  const onDrop = useCallback(
    (event: DragEvent) => {
      if (readOnly) return;
      const component = event.dataTransfer.getData(COMPONENT_MIME) || event.dataTransfer.getData("text/plain");
      if (!component || !descriptors.some((d) => d.name === component)) return;
      event.preventDefault();
      // Centre the node under the pointer rather than hanging it from its corner.
      const position = flow.screenToFlowPosition({ x: event.clientX - 110, y: event.clientY - 32 });
      callbacks.current.onDropComponent?.(component, position);
      wrapper.current?.focus({ preventScroll: true });
    },
    [descriptors, flow, readOnly],
  );

  return (
    <div
      ref={wrapper}
      className="canvas"
      onDragOver={onDragOver}
      onDrop={onDrop}
      tabIndex={-1}
      aria-label={ariaLabel}
      role="application"
      aria-roledescription="flow canvas"
    >
      <ReactFlow<FlowNodeType, Edge>
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onNodeDragStop={onNodeDragStop}
        onSelectionChange={onSelectionChange}
        onConnect={onConnect}
        isValidConnection={isValidConnection}
        onBeforeDelete={onBeforeDelete}
        onDelete={onDelete}
        deleteKeyCode={readOnly ? null : ["Delete", "Backspace"]}
        nodesDraggable={!readOnly}
        nodesConnectable={!readOnly}
        elementsSelectable={!readOnly}
        edgesFocusable={!readOnly}
        nodesFocusable
        selectNodesOnDrag={false}
        multiSelectionKeyCode={["Shift", "Meta", "Control"]}
        snapToGrid
        snapGrid={[10, 10]}
        fitView
        fitViewOptions={{ padding: 0.25, maxZoom: 1.1 }}
        minZoom={0.2}
        maxZoom={2}
        defaultEdgeOptions={{ type: "smoothstep" }}
        connectionRadius={30}
        proOptions={{ hideAttribution: false }}
      >
        <Background variant={BackgroundVariant.Dots} gap={20} size={1.2} color="#cbd5e1" />
        <MiniMap
          pannable
          zoomable
          ariaLabel="Minimap"
          nodeColor={(node) => componentLook((node.data as { component?: string }).component ?? "").color}
          nodeStrokeWidth={2}
          maskColor="rgba(241, 245, 249, 0.7)"
        />
      </ReactFlow>
      <div className="canvas-zoom" role="group" aria-label="Zoom">
        <button type="button" className="icon-button" aria-label="Zoom in" title="Zoom in" onClick={() => void flow.zoomIn({ duration: 150 })}>
          <Icon name="zoomIn" />
        </button>
        <button type="button" className="icon-button" aria-label="Zoom out" title="Zoom out" onClick={() => void flow.zoomOut({ duration: 150 })}>
          <Icon name="zoomOut" />
        </button>
      </div>
    </div>
  );
}

export function FlowCanvas(props: FlowCanvasProps) {
  return (
    <ReactFlowProvider>
      <CanvasInner {...props} />
    </ReactFlowProvider>
  );
}
