import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ComponentDescriptor, Flow } from "../api/types";
import { AUTOSAVE_MS, saveStatusText, useFlowDocument } from "./flowDocument";

function descriptor(name: string, kind: "trigger" | "action"): ComponentDescriptor {
  return {
    name,
    kind,
    title: name,
    description: "",
    config_schema: {},
    credential_type: null,
    credential_schema: null,
    sample_config: name === "kafka" ? { topic: "events" } : { code: "def run(msg): return msg.body" },
  };
}

const flow: Flow = {
  id: 7,
  workspace: 1,
  name: "Demo",
  graph: { nodes: [], edges: [] },
  status: "draft",
  active_version: null,
  created_at: "2025-01-01T00:00:00Z",
  updated_at: "2025-01-01T00:00:00Z",
};

function json(status: number, body: unknown) {
  return Promise.resolve(new Response(JSON.stringify(body), { status }));
}

describe("flow document", () => {
  let fetchMock: ReturnType<typeof vi.fn>;

  beforeEach(async () => {
    vi.useFakeTimers();
    fetchMock = vi.fn((_url: string, init?: RequestInit) => {
      if (!init?.method || init.method === "GET") return json(200, flow);
      return json(200, { ...flow, graph: JSON.parse(init.body as string).graph });
    });
    vi.stubGlobal("fetch", fetchMock);
    useFlowDocument.getState().reset();
    await useFlowDocument.getState().load(7);
    useFlowDocument.getState().setKindOf((name) => (name === "kafka" ? "trigger" : "action"));
  });

  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  const patches = () => fetchMock.mock.calls.filter(([, init]) => (init as RequestInit | undefined)?.method === "PATCH");

  it("autosaves once after edits settle, and reports each state", async () => {
    const doc = useFlowDocument.getState();
    expect(saveStatusText(doc.save)).toBe("Saved");
    const trigger = doc.addComponent(descriptor("kafka", "trigger"));
    const code = useFlowDocument.getState().addComponent(descriptor("code", "action"));
    expect(useFlowDocument.getState().connect({ source: trigger, target: code })).toBeNull();
    expect(saveStatusText(useFlowDocument.getState().save)).toBe("Unsaved changes");

    await vi.advanceTimersByTimeAsync(AUTOSAVE_MS - 100);
    expect(patches()).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(200);
    expect(patches()).toHaveLength(1);
    const sent = JSON.parse((patches()[0]![1] as RequestInit).body as string);
    expect(sent.graph.nodes.map((n: { id: string }) => n.id)).toEqual(["kafka-1", "code-1"]);
    expect(sent.graph.edges).toEqual([{ source: "kafka-1", target: "code-1" }]);
    expect(saveStatusText(useFlowDocument.getState().save)).toBe("Saved");
  });

  it("keeps the draft and the server's problems when a save is refused", async () => {
    fetchMock.mockImplementation((_url: string, init?: RequestInit) =>
      init?.method === "PATCH"
        ? json(400, {
            error: "invalid graph",
            details: { graph: [{ node: "kafka-1", field: "config.topic", message: "does not match" }] },
          })
        : json(200, flow),
    );
    useFlowDocument.getState().addComponent(descriptor("kafka", "trigger"));
    await vi.advanceTimersByTimeAsync(AUTOSAVE_MS + 10);
    const state = useFlowDocument.getState();
    expect(saveStatusText(state.save)).toBe("Not saved: invalid graph");
    expect(state.problems).toEqual([{ node: "kafka-1", field: "config.topic", message: "does not match" }]);
    expect(state.graph.nodes).toHaveLength(1);
    // A refused graph is not retried by itself: only the next edit tries again.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(patches()).toHaveLength(1);
  });

  it("undoes and redoes, typing into one field being one step", async () => {
    const doc = useFlowDocument.getState();
    const id = doc.addComponent(descriptor("kafka", "trigger"));
    useFlowDocument.getState().updateConfig(id, "topic", "o");
    useFlowDocument.getState().updateConfig(id, "topic", "or");
    useFlowDocument.getState().updateConfig(id, "topic", "orders");
    expect(useFlowDocument.getState().graph.nodes[0]?.config.topic).toBe("orders");

    useFlowDocument.getState().undo();
    expect(useFlowDocument.getState().graph.nodes[0]?.config.topic).toBe("events");
    useFlowDocument.getState().undo();
    expect(useFlowDocument.getState().graph.nodes).toHaveLength(0);
    expect(useFlowDocument.getState().canUndo()).toBe(false);

    useFlowDocument.getState().redo();
    useFlowDocument.getState().redo();
    expect(useFlowDocument.getState().graph.nodes[0]?.config.topic).toBe("orders");
  });

  it("refuses a second trigger input and drops edges with their node", () => {
    const doc = useFlowDocument.getState();
    const trigger = doc.addComponent(descriptor("kafka", "trigger"));
    const a = useFlowDocument.getState().addComponent(descriptor("code", "action"));
    const b = useFlowDocument.getState().addComponent(descriptor("code", "action"));
    expect(useFlowDocument.getState().connect({ source: trigger, target: a })).toBeNull();
    expect(useFlowDocument.getState().connect({ source: b, target: a })).toMatch(/already takes its input/);
    expect(useFlowDocument.getState().connect({ source: a, target: trigger })).toMatch(/trigger/);
    useFlowDocument.getState().select(a);
    useFlowDocument.getState().removeNodes([a]);
    const state = useFlowDocument.getState();
    expect(state.graph.edges).toEqual([]);
    expect(state.selectedNodeId).toBeNull();
  });

  it("saves at once on saveNow (Ctrl+S)", async () => {
    useFlowDocument.getState().addComponent(descriptor("kafka", "trigger"));
    await useFlowDocument.getState().saveNow();
    expect(patches()).toHaveLength(1);
    expect(useFlowDocument.getState().save.kind).toBe("saved");
  });

  it("keeps an unsaved draft when the same flow is opened again", async () => {
    useFlowDocument.getState().addComponent(descriptor("kafka", "trigger"));
    await useFlowDocument.getState().load(7);
    expect(useFlowDocument.getState().graph.nodes).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(10);
    expect(patches()).toHaveLength(1);
  });

  it("saves flow settings and retry policies with the graph", async () => {
    const code = useFlowDocument.getState().addComponent(descriptor("code", "action"));
    useFlowDocument.getState().updateSettings({ deadLetterTopic: "orders" });
    useFlowDocument.getState().updateSettings({ deadLetterTopic: "orders.dlq" });
    useFlowDocument.getState().updateSettings({ onOutage: "fail" });
    useFlowDocument.getState().updateRetry(code, "attempts", 5);
    await vi.advanceTimersByTimeAsync(AUTOSAVE_MS + 10);
    const sent = JSON.parse((patches().at(-1)![1] as RequestInit).body as string);
    expect(sent.graph.settings).toEqual({ dead_letter_topic: "orders.dlq", on_outage: "fail" });
    expect(sent.graph.nodes[0].retry).toEqual({ attempts: 5 });

    // Typing the topic was one undo step; back to defaults removes the settings.
    useFlowDocument.getState().undo();
    useFlowDocument.getState().undo();
    expect(useFlowDocument.getState().graph.settings).toEqual({ dead_letter_topic: "orders.dlq" });
    useFlowDocument.getState().updateSettings({ deadLetterTopic: "" });
    expect(useFlowDocument.getState().graph).not.toHaveProperty("settings");
    useFlowDocument.getState().updateRetry(code, "attempts", undefined);
    expect(useFlowDocument.getState().graph.nodes[0]).not.toHaveProperty("retry");
  });

  it("changes nothing when the settings stay at their defaults", () => {
    useFlowDocument.getState().updateSettings({ onOutage: "pause", deadLetterTopic: "" });
    expect(useFlowDocument.getState().save.kind).toBe("saved");
    expect(useFlowDocument.getState().canUndo()).toBe(false);
  });
});
