/** Graph ⇄ React Flow: the only place that knows both shapes. */
import type { Edge, Node } from "@xyflow/react";
import { MarkerType } from "@xyflow/react";
import type { ComponentDescriptor, Graph, GraphNode } from "../../api/types";
import { edgeId } from "../../lib/graph";
import { nodeMessages, type ProblemIndex } from "../../lib/graphErrors";

/** The drag payload type of a palette item. */
export const COMPONENT_MIME = "application/x-tributary-component";

export interface FlowNodeData extends Record<string, unknown> {
  nodeId: string;
  component: string;
  title: string;
  kind: "trigger" | "action" | "unknown";
  subtitle: string;
  problems: string[];
  readOnly: boolean;
}

export type FlowNodeType = Node<FlowNodeData, "component">;

/** One line that tells nodes of the same component apart on the canvas. */
export function nodeSubtitle(node: GraphNode): string {
  const c = node.config;
  const text = (v: unknown) => (typeof v === "string" ? v : "");
  switch (node.component) {
    case "kafka":
      return text(c.topic) ? `topic ${text(c.topic)}` : "no topic yet";
    case "kafka_produce":
      return text(c.topic) ? `to ${text(c.topic)}` : "no topic yet";
    case "rest":
      return `${text(c.method) || "POST"} ${text(c.url).replace(/^https?:\/\//, "")}`.trim();
    case "code": {
      const lines = text(c.code).split("\n").filter((l) => l.trim()).length;
      return `${lines} line${lines === 1 ? "" : "s"} of Python`;
    }
    case "bloomreach":
      return text(c.operation) === "update_customer" ? "update customer" : "track event";
    default:
      return "";
  }
}

export function toFlowNodes(
  graph: Graph,
  descriptors: ComponentDescriptor[],
  problems: ProblemIndex,
  selectedNodeId: string | null,
  readOnly = false,
): FlowNodeType[] {
  return graph.nodes.map((node) => {
    const descriptor = descriptors.find((d) => d.name === node.component);
    const title = descriptor?.title ?? node.component;
    return {
      id: node.id,
      type: "component",
      position: node.position,
      selected: node.id === selectedNodeId,
      ariaLabel: `${title} ${node.id}`,
      data: {
        nodeId: node.id,
        component: node.component,
        title,
        kind: descriptor?.kind ?? "unknown",
        subtitle: nodeSubtitle(node),
        problems: nodeMessages(problems, node.id),
        readOnly,
      },
    };
  });
}

export function toFlowEdges(graph: Graph, selectedEdgeId: string | null, animated = false): Edge[] {
  return graph.edges.map((edge) => {
    const id = edgeId(edge);
    return {
      id,
      source: edge.source,
      target: edge.target,
      selected: id === selectedEdgeId,
      animated,
      markerEnd: { type: MarkerType.ArrowClosed, width: 18, height: 18 },
      ariaLabel: `Connection from ${edge.source} to ${edge.target}`,
    };
  });
}
