import { describe, expect, it } from "vitest";
import type { ComponentDescriptor, GraphDiff } from "../api/types";
import { buildVersionDiff, collapseUnchanged, diffLines, fieldLabel, formatValue, summarizeDiff, valueAt, type DiffLine } from "./versionDiff";

const REST: ComponentDescriptor = {
  name: "rest",
  kind: "action",
  title: "REST request",
  description: "",
  config_schema: { type: "object", properties: { url: { type: "string", title: "URL" }, headers: { type: "object", title: "Headers" } } },
  credential_type: null,
  credential_schema: null,
  sample_config: {},
};
const CODE: ComponentDescriptor = { ...REST, name: "code", title: "Code", config_schema: { type: "object", properties: { code: { type: "string", title: "Code" } } } };

const OLD = {
  nodes: [
    { id: "in", component: "kafka", config: { topic: "events" }, credential: null, position: { x: 0, y: 0 } },
    { id: "transform", component: "code", config: { code: "def run(msg):\n    b = msg.body\n    return b\n" }, credential: null, position: { x: 1, y: 0 } },
    { id: "send", component: "rest", config: { url: "https://a.example/events", headers: { "x.trace": "1" } }, credential: 3, position: { x: 2, y: 0 } },
    { id: "old", component: "rest", config: {}, credential: null, position: { x: 3, y: 0 } },
  ],
  edges: [
    { source: "in", target: "transform" },
    { source: "transform", target: "send" },
    { source: "transform", target: "old" },
  ],
  settings: { on_outage: "pause" },
};
const NEW = {
  nodes: [
    OLD.nodes[0],
    { ...OLD.nodes[1], config: { code: "def run(msg):\n    b = msg.body\n    log(b)\n    return b\n" } },
    { ...OLD.nodes[2], config: { url: "https://b.example/events", headers: { "x.trace": "2" } }, credential: null, retry: { attempts: 5 } },
    { id: "bloom", component: "bloomreach", config: {}, credential: null, position: { x: 4, y: 0 } },
  ],
  edges: [OLD.edges[0], OLD.edges[1], { source: "transform", target: "bloom" }],
  settings: { on_outage: "fail", dead_letter_topic: "dead" },
};
const DIFF: GraphDiff = {
  nodes: {
    added: ["bloom"],
    removed: ["old"],
    changed: [
      { id: "transform", fields: ["config.code"] },
      { id: "send", fields: ["config.url", "config.headers.x.trace", "credential", "retry.attempts"] },
    ],
  },
  edges: { added: [{ source: "transform", target: "bloom" }], removed: [{ source: "transform", target: "old" }] },
  settings_changed: ["on_outage", "dead_letter_topic"],
};

const kinds = (lines: DiffLine[]) => lines.map((l) => `${l.kind === "same" ? " " : l.kind === "added" ? "+" : "-"}${l.text}`);

describe("valueAt", () => {
  it("follows dotted paths, keys with dots included, and says undefined for what is missing", () => {
    expect(valueAt(OLD.nodes[2], "config.url")).toBe("https://a.example/events");
    expect(valueAt(OLD.nodes[2], "config.headers.x.trace")).toBe("1");
    expect(valueAt(OLD.nodes[2], "retry.attempts")).toBeUndefined();
    expect(valueAt(OLD.nodes[2], "position")).toEqual({ x: 2, y: 0 });
    expect(valueAt(undefined, "config")).toBeUndefined();
  });
});

describe("formatValue", () => {
  it("quotes strings, writes JSON compactly, names what is not set and cuts long values", () => {
    expect(formatValue("a")).toBe('"a"');
    expect(formatValue({ x: 1, y: 2 })).toBe('{"x":1,"y":2}');
    expect(formatValue(undefined)).toBe("not set");
    expect(formatValue(null)).toBe("not set");
    expect(formatValue(3)).toBe("3");
    expect(formatValue("x".repeat(300), 20)).toHaveLength(20);
  });
});

describe("diffLines", () => {
  it("keeps common lines and marks the added and removed ones with their numbers", () => {
    const lines = diffLines("a\nb\nc\nd", "a\nc\nx\nd");
    expect(kinds(lines)).toEqual([" a", "-b", " c", "+x", " d"]);
    expect(lines[1]).toMatchObject({ oldNumber: 2, newNumber: null });
    expect(lines[3]).toMatchObject({ oldNumber: null, newNumber: 3 });
    expect(lines[4]).toMatchObject({ oldNumber: 4, newNumber: 4 });
  });

  it("handles text appearing from nothing or going away", () => {
    expect(kinds(diffLines("", "a\nb"))).toEqual(["+a", "+b"]);
    expect(kinds(diffLines("a\n", ""))).toEqual(["-a", "-"]);
    expect(kinds(diffLines("same", "same"))).toEqual([" same"]);
  });

  it("stays linear on very long texts: every old line removed, every new one added", () => {
    const before = Array.from({ length: 3000 }, (_, i) => `old ${i}`).join("\n");
    const after = Array.from({ length: 3000 }, (_, i) => `new ${i}`).join("\n");
    const lines = diffLines(before, after);
    expect(lines).toHaveLength(6000);
    expect(lines.filter((l) => l.kind === "removed")).toHaveLength(3000);
  });
});

describe("collapseUnchanged", () => {
  it("keeps context around changes and counts the unchanged lines left out", () => {
    const before = Array.from({ length: 20 }, (_, i) => `line ${i}`).join("\n");
    const after = before.replace("line 10", "line ten");
    const items = collapseUnchanged(diffLines(before, after), 2);
    expect(items[0]).toEqual({ kind: "skipped", count: 8 });
    expect(items.filter((i) => i.kind !== "skipped")).toHaveLength(6);
    expect(items[items.length - 1]).toEqual({ kind: "skipped", count: 7 });
  });
});

describe("fieldLabel", () => {
  it("takes the config schema's title and spells the other fields out", () => {
    expect(fieldLabel("config.url", REST)).toBe("URL");
    expect(fieldLabel("config.headers.x.trace", REST)).toBe("Headers › x › trace");
    expect(fieldLabel("config.method", REST)).toBe("Method");
    expect(fieldLabel("retry.attempts")).toBe("Retry › Attempts");
    expect(fieldLabel("credential")).toBe("Credential");
    expect(fieldLabel("position")).toBe("Position on the canvas");
  });
});

describe("buildVersionDiff", () => {
  const model = buildVersionDiff(DIFF, OLD, NEW, [REST, CODE]);

  it("names added and removed steps with their component", () => {
    expect(model.nodesAdded).toEqual([{ id: "bloom", component: "bloomreach", title: "bloomreach" }]);
    expect(model.nodesRemoved).toEqual([{ id: "old", component: "rest", title: "REST request" }]);
    expect(model.edgesAdded).toEqual([{ source: "transform", target: "bloom" }]);
    expect(model.edgesRemoved).toEqual([{ source: "transform", target: "old" }]);
    expect(model.empty).toBe(false);
  });

  it("gives each changed field its value before and after", () => {
    const send = model.nodesChanged.find((n) => n.id === "send")!;
    expect(send.title).toBe("REST request");
    expect(send.fields.map((f) => [f.label, f.before, f.after])).toEqual([
      ["URL", "https://a.example/events", "https://b.example/events"],
      ["Headers › x › trace", "1", "2"],
      ["Credential", 3, null],
      ["Retry › Attempts", undefined, 5],
    ]);
    expect(send.fields.every((f) => f.lines === null)).toBe(true);
  });

  it("shows code as a line diff", () => {
    const [code] = model.nodesChanged.find((n) => n.id === "transform")!.fields;
    expect(code!.label).toBe("Code");
    const lines = code!.lines!.filter((l): l is DiffLine => l.kind !== "skipped");
    expect(lines.filter((l) => l.kind === "added").map((l) => l.text)).toEqual(["    log(b)"]);
    expect(lines.some((l) => l.kind === "removed")).toBe(false);
  });

  it("lists the flow settings that changed", () => {
    expect(model.settings.map((f) => [f.label, f.before, f.after])).toEqual([
      ["When a destination is down", "pause", "fail"],
      ["Dead-letter topic", undefined, "dead"],
    ]);
  });

  it("sums the diff up in one line", () => {
    expect(summarizeDiff(model)).toBe("1 step added, 1 removed, 2 changed · 1 connection added, 1 removed · 2 settings changed");
    const none = buildVersionDiff({ nodes: { added: [], removed: [], changed: [] }, edges: { added: [], removed: [] }, settings_changed: [] }, OLD, OLD);
    expect(none.empty).toBe(true);
    expect(summarizeDiff(none)).toBe("No differences");
  });
});
