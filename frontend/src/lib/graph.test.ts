import { describe, expect, it } from "vitest";
import type { Graph } from "../api/types";
import {
  addNode,
  connect,
  connectionProblem,
  edgeId,
  moveNodes,
  nextNodeId,
  normalizeGraph,
  orderFromTrigger,
  placementFor,
  possibleParents,
  removeEdges,
  removeNodes,
  setParent,
  setRetry,
  setSettings,
  updateNode,
  type KindOf,
} from "./graph";

const kindOf: KindOf = (component) => (component === "kafka" ? "trigger" : "action");

function node(id: string, component = id.split("-")[0] ?? id, x = 0) {
  return { id, component, config: {}, credential: null, position: { x, y: 0 } };
}

const chain: Graph = {
  nodes: [node("kafka-1"), node("code-1", "code", 280), node("rest-1", "rest", 560)],
  edges: [
    { source: "kafka-1", target: "code-1" },
    { source: "code-1", target: "rest-1" },
  ],
};

describe("nextNodeId", () => {
  it("numbers from 1 for a component not yet in the graph", () => {
    expect(nextNodeId({ nodes: [], edges: [] }, "code")).toBe("code-1");
  });

  it("takes one more than the highest number used, so deleted ids are not reused", () => {
    const graph: Graph = { nodes: [node("code-1", "code"), node("code-7", "code"), node("code-x", "code")], edges: [] };
    expect(nextNodeId(graph, "code")).toBe("code-8");
  });

  it("does not confuse components whose names share a prefix", () => {
    const graph: Graph = { nodes: [node("kafka_produce-3", "kafka_produce")], edges: [] };
    expect(nextNodeId(graph, "kafka")).toBe("kafka-1");
  });
});

describe("addNode", () => {
  it("adds a node with the sample config (a copy) and a fresh id", () => {
    const sample = { code: "def run(msg): return msg.body", nested: { a: 1 } };
    const { graph, node: added } = addNode(chain, { name: "code", sample_config: sample }, { x: 10.4, y: 20.6 });
    expect(added.id).toBe("code-2");
    expect(added.config).toEqual(sample);
    expect(added.config).not.toBe(sample);
    expect(added.position).toEqual({ x: 10, y: 21 });
    expect(added.credential).toBeNull();
    expect(graph.nodes).toHaveLength(4);
    expect(chain.nodes).toHaveLength(3);
  });
});

describe("connect", () => {
  const loose: Graph = { nodes: [node("kafka-1"), node("code-1", "code"), node("code-2", "code")], edges: [] };

  it("adds an edge between a trigger and an action", () => {
    const result = connect(loose, { source: "kafka-1", target: "code-1" }, kindOf);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.graph.edges).toEqual([{ source: "kafka-1", target: "code-1" }]);
  });

  it("refuses a second input for an action", () => {
    const result = connect(chain, { source: "kafka-1", target: "rest-1" }, kindOf);
    expect(result).toEqual({ ok: false, reason: "rest-1 already takes its input from another step" });
  });

  it("refuses an edge into the trigger", () => {
    expect(connectionProblem(loose, { source: "code-1", target: "kafka-1" }, kindOf)).toMatch(/trigger/);
  });

  it("refuses self loops and cycles", () => {
    expect(connectionProblem(loose, { source: "code-1", target: "code-1" }, kindOf)).toMatch(/itself/);
    const twoActions: Graph = {
      nodes: [node("code-1", "code"), node("code-2", "code"), node("code-3", "code")],
      edges: [
        { source: "code-1", target: "code-2" },
        { source: "code-2", target: "code-3" },
      ],
    };
    expect(connectionProblem(twoActions, { source: "code-3", target: "code-1" }, kindOf)).toMatch(/cycle/);
  });

  it("allows fan-out from one step to several", () => {
    const result = connect(chain, { source: "code-1", target: "code-9" }, kindOf);
    expect(result.ok).toBe(false); // unknown node
    const withNode = { ...chain, nodes: [...chain.nodes, node("code-2", "code")] };
    expect(connect(withNode, { source: "code-1", target: "code-2" }, kindOf).ok).toBe(true);
  });

  it("refuses a duplicate edge", () => {
    expect(connectionProblem(chain, { source: "kafka-1", target: "code-1" }, kindOf)).toMatch(/already/);
  });
});

describe("setParent and possibleParents", () => {
  it("replaces the input of a node", () => {
    const withNode = { ...chain, nodes: [...chain.nodes, node("code-2", "code")] };
    const result = setParent(withNode, "rest-1", "code-2", kindOf);
    expect(result.ok && result.graph.edges).toEqual([
      { source: "kafka-1", target: "code-1" },
      { source: "code-2", target: "rest-1" },
    ]);
  });

  it("disconnects with null", () => {
    const result = setParent(chain, "rest-1", null, kindOf);
    expect(result.ok && result.graph.edges).toEqual([{ source: "kafka-1", target: "code-1" }]);
  });

  it("lists only parents that keep the graph valid", () => {
    expect(possibleParents(chain, "code-1", kindOf)).toEqual(["kafka-1"]);
    expect(possibleParents(chain, "kafka-1", kindOf)).toEqual([]);
  });
});

describe("removing", () => {
  it("removes a node and its edges", () => {
    const graph = removeNodes(chain, ["code-1"]);
    expect(graph.nodes.map((n) => n.id)).toEqual(["kafka-1", "rest-1"]);
    expect(graph.edges).toEqual([]);
  });

  it("removes edges by id", () => {
    const graph = removeEdges(chain, [edgeId({ source: "code-1", target: "rest-1" })]);
    expect(graph.edges).toEqual([{ source: "kafka-1", target: "code-1" }]);
    expect(graph.nodes).toHaveLength(3);
  });
});

describe("moveNodes and updateNode", () => {
  it("returns the same graph when nothing moved", () => {
    expect(moveNodes(chain, { "code-1": { x: 280, y: 0 } })).toBe(chain);
  });

  it("rounds moved positions", () => {
    const graph = moveNodes(chain, { "code-1": { x: 300.7, y: 10.2 } });
    expect(graph.nodes[1]?.position).toEqual({ x: 301, y: 10 });
  });

  it("updates config and credential of one node", () => {
    const graph = updateNode(chain, "rest-1", { config: { url: "https://x" }, credential: 4 });
    expect(graph.nodes[2]).toMatchObject({ config: { url: "https://x" }, credential: 4 });
    expect(chain.nodes[2]?.config).toEqual({});
  });
});

describe("normalizeGraph", () => {
  it("fills in missing parts", () => {
    expect(normalizeGraph(null)).toEqual({ nodes: [], edges: [] });
    const graph = normalizeGraph({ nodes: [{ id: "a", component: "code" }] });
    expect(graph.nodes[0]).toEqual({ id: "a", component: "code", config: {}, credential: null, position: { x: 80, y: 120 } });
  });
});

describe("placement and order", () => {
  it("places a new node right of the given one, stepping down past occupants", () => {
    expect(placementFor(chain, "kafka-1")).toEqual({ x: 280, y: 120 });
    expect(placementFor({ nodes: [], edges: [] })).toEqual({ x: 80, y: 160 });
    expect(placementFor(chain)).toEqual({ x: 840, y: 0 });
  });

  it("orders nodes from the trigger, unconnected ones last", () => {
    const graph = { ...chain, nodes: [node("lonely", "code"), ...chain.nodes] };
    expect(orderFromTrigger(graph, kindOf)).toEqual(["kafka-1", "code-1", "rest-1", "lonely"]);
  });
});

describe("error-handling settings in the graph", () => {
  const withSettings: Graph = { ...chain, settings: { dead_letter_topic: "dlq", on_outage: "fail" } };

  it("keeps settings and retry policies when normalising", () => {
    const raw = {
      nodes: [{ ...node("rest-1"), retry: { attempts: 5 } }, { ...node("code-1"), retry: "junk" }],
      edges: [],
      settings: { dead_letter_topic: "dlq" },
    };
    const graph = normalizeGraph(raw);
    expect(graph.settings).toEqual({ dead_letter_topic: "dlq" });
    expect(graph.nodes[0]?.retry).toEqual({ attempts: 5 });
    expect(graph.nodes[1]).not.toHaveProperty("retry");
    expect(normalizeGraph({ nodes: [], edges: [] })).not.toHaveProperty("settings");
  });

  it("keeps settings through every edit", () => {
    const { graph: added } = addNode(withSettings, { name: "rest", sample_config: {} }, { x: 0, y: 0 });
    const edits = [
      added,
      removeNodes(withSettings, ["rest-1"]),
      removeEdges(withSettings, [edgeId({ source: "kafka-1", target: "code-1" })]),
      moveNodes(withSettings, { "code-1": { x: 9, y: 9 } }),
      updateNode(withSettings, "code-1", { config: { a: 1 } }),
      setRetry(withSettings, "rest-1", { attempts: 2 }),
    ];
    for (const graph of edits) expect(graph.settings).toEqual(withSettings.settings);
    const rewired = setParent(withSettings, "rest-1", "kafka-1", kindOf);
    expect(rewired.ok && rewired.graph.settings).toEqual(withSettings.settings);
  });

  it("sets and removes a node's retry policy and the settings", () => {
    const set = setRetry(chain, "rest-1", { attempts: 4 });
    expect(set.nodes.find((n) => n.id === "rest-1")?.retry).toEqual({ attempts: 4 });
    const cleared = setRetry(set, "rest-1", undefined);
    expect(cleared.nodes.find((n) => n.id === "rest-1")).not.toHaveProperty("retry");
    expect(JSON.stringify(cleared)).toBe(JSON.stringify(chain));
    expect(setSettings(chain, { on_outage: "fail" }).settings).toEqual({ on_outage: "fail" });
    expect(setSettings(withSettings, undefined)).not.toHaveProperty("settings");
  });
});
