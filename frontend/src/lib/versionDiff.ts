/**
 * What the versions dialog shows of a diff: the API's answer (`GraphDiff`, which names the
 * changed fields by dotted path) joined with the two graphs, so each change reads as
 * "before → after", and multi-line text (transform code) as a line diff. Pure.
 */
import type { ComponentDescriptor, GraphDiff, GraphEdge, JSONSchema, JSONValue } from "../api/types";

export type LineKind = "same" | "added" | "removed";

export interface DiffLine {
  kind: LineKind;
  text: string;
  /** 1-based line number in the older text; null for an added line. */
  oldNumber: number | null;
  /** 1-based line number in the newer text; null for a removed line. */
  newNumber: number | null;
}

/** A run of unchanged lines left out between two changes. */
export interface SkippedLines {
  kind: "skipped";
  count: number;
}

export type LineDiffItem = DiffLine | SkippedLines;

export interface FieldChange {
  /** As the API names it: "config.url", "retry.attempts", "dead_letter_topic". */
  path: string;
  /** For people: the schema's title where there is one ("URL"), else the path in words. */
  label: string;
  /** undefined: the field is not set on that side. */
  before: JSONValue | undefined;
  after: JSONValue | undefined;
  /** Multi-line text (code): the line diff, unchanged runs collapsed; null for other values. */
  lines: LineDiffItem[] | null;
}

export interface NodeSummary {
  id: string;
  component: string;
  /** The component's title ("Code"), or its name when the catalog does not know it. */
  title: string;
}

export interface NodeChange extends NodeSummary {
  fields: FieldChange[];
}

export interface VersionDiffModel {
  nodesAdded: NodeSummary[];
  nodesRemoved: NodeSummary[];
  nodesChanged: NodeChange[];
  edgesAdded: GraphEdge[];
  edgesRemoved: GraphEdge[];
  settings: FieldChange[];
  empty: boolean;
}

/** A graph as the versions list and the flow carry it; loose, since old versions may predate fields. */
export interface LooseGraph {
  nodes?: unknown;
  edges?: unknown;
  settings?: unknown;
}

type Obj = { [key: string]: unknown };

function isObject(value: unknown): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function nodesById(graph: LooseGraph): Map<string, Obj> {
  const found = new Map<string, Obj>();
  for (const node of Array.isArray(graph.nodes) ? graph.nodes : []) {
    if (isObject(node) && typeof node.id === "string") found.set(node.id, node);
  }
  return found;
}

/**
 * The value at a dotted path, or undefined. A key may itself contain dots (a header named
 * "x.trace"), so each step tries the longest key that exists first.
 */
export function valueAt(root: unknown, path: string): JSONValue | undefined {
  const walk = (value: unknown, parts: string[]): unknown => {
    if (parts.length === 0) return value;
    if (!isObject(value)) return undefined;
    for (let take = parts.length; take >= 1; take--) {
      const key = parts.slice(0, take).join(".");
      if (Object.prototype.hasOwnProperty.call(value, key)) {
        const found = walk(value[key], parts.slice(take));
        if (found !== undefined) return found;
      }
    }
    return undefined;
  };
  return walk(root, path.split(".")) as JSONValue | undefined;
}

/** A value as one line of text: "not set", a quoted string, or compact JSON; long ones cut. */
export function formatValue(value: JSONValue | undefined, max = 200): string {
  if (value === undefined || value === null) return "not set";
  const text = JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function isMultiline(value: JSONValue | undefined): value is string {
  return typeof value === "string" && value.includes("\n");
}

// Past this many cells of the comparison table, a change is shown as all lines removed then
// all added: still right, only less precise, and the browser stays responsive.
const MAX_CELLS = 4_000_000;

/** The lines of `before` and `after`, each kept, removed or added (a longest common subsequence). */
export function diffLines(before: string, after: string): DiffLine[] {
  // No text at all is no lines (not one empty line).
  const a = before === "" ? [] : before.split("\n");
  const b = after === "" ? [] : after.split("\n");
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const result: DiffLine[] = [];
  const same = (i: number, j: number) => result.push({ kind: "same", text: a[i]!, oldNumber: i + 1, newNumber: j + 1 });
  const removed = (i: number) => result.push({ kind: "removed", text: a[i]!, oldNumber: i + 1, newNumber: null });
  const added = (j: number) => result.push({ kind: "added", text: b[j]!, oldNumber: null, newNumber: j + 1 });

  for (let i = 0; i < start; i++) same(i, i);
  const n = endA - start;
  const m = endB - start;
  if (n * m > MAX_CELLS) {
    for (let i = start; i < endA; i++) removed(i);
    for (let j = start; j < endB; j++) added(j);
  } else {
    // lengths[i][j]: the longest common subsequence of a[start+i..endA) and b[start+j..endB).
    const width = m + 1;
    const lengths = new Uint32Array((n + 1) * width);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lengths[i * width + j] =
          a[start + i] === b[start + j]
            ? lengths[(i + 1) * width + j + 1]! + 1
            : Math.max(lengths[(i + 1) * width + j]!, lengths[i * width + j + 1]!);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n && j < m) {
      if (a[start + i] === b[start + j]) {
        same(start + i++, start + j++);
      } else if (lengths[(i + 1) * width + j]! >= lengths[i * width + j + 1]!) {
        removed(start + i++);
      } else {
        added(start + j++);
      }
    }
    while (i < n) removed(start + i++);
    while (j < m) added(start + j++);
  }
  for (let k = 0; k < a.length - endA; k++) same(endA + k, endB + k);
  return result;
}

/** Keep `context` unchanged lines around each change; longer unchanged runs become one "skipped" item. */
export function collapseUnchanged(lines: DiffLine[], context = 3): LineDiffItem[] {
  const near = lines.map(() => false);
  lines.forEach((line, index) => {
    if (line.kind === "same") return;
    for (let k = Math.max(0, index - context); k <= Math.min(lines.length - 1, index + context); k++) near[k] = true;
  });
  const items: LineDiffItem[] = [];
  let skipped = 0;
  lines.forEach((line, index) => {
    if (near[index]) {
      if (skipped) items.push({ kind: "skipped", count: skipped });
      skipped = 0;
      items.push(line);
    } else {
      skipped++;
    }
  });
  if (skipped) items.push({ kind: "skipped", count: skipped });
  return items;
}

function words(key: string): string {
  const text = key.replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const NODE_FIELD_LABELS: Record<string, string> = {
  component: "Component",
  credential: "Credential",
  position: "Position on the canvas",
  retry: "Retry",
};

const SETTING_LABELS: Record<string, string> = {
  dead_letter_topic: "Dead-letter topic",
  on_outage: "When a destination is down",
};

/** "config.url" → "URL" (the config schema's title), "retry.attempts" → "Retry › Attempts". */
export function fieldLabel(path: string, descriptor?: ComponentDescriptor): string {
  const [head = "", ...rest] = path.split(".");
  if (head === "config" && rest.length > 0) {
    const properties: Record<string, JSONSchema> = descriptor?.config_schema.properties ?? {};
    const title = properties[rest[0]!]?.title;
    return [title ?? words(rest[0]!), ...rest.slice(1)].join(" › ");
  }
  return [NODE_FIELD_LABELS[head] ?? words(head), ...rest.map(words)].join(" › ");
}

export function settingLabel(path: string): string {
  return SETTING_LABELS[path] ?? path.split(".").map(words).join(" › ");
}

function fieldChange(path: string, label: string, before: JSONValue | undefined, after: JSONValue | undefined): FieldChange {
  const lines = isMultiline(before) || isMultiline(after)
    ? collapseUnchanged(diffLines(typeof before === "string" ? before : "", typeof after === "string" ? after : ""))
    : null;
  return { path, label, before, after, lines };
}

function summary(node: Obj | undefined, id: string, descriptors: ComponentDescriptor[]): NodeSummary {
  const component = typeof node?.component === "string" ? node.component : "";
  const title = descriptors.find((d) => d.name === component)?.title ?? (component || "unknown component");
  return { id, component, title };
}

/** The API's diff from `before` to `after`, with each change's values and labels. */
export function buildVersionDiff(
  diff: GraphDiff,
  before: LooseGraph,
  after: LooseGraph,
  descriptors: ComponentDescriptor[] = [],
): VersionDiffModel {
  const oldNodes = nodesById(before);
  const newNodes = nodesById(after);
  const descriptorOf = (node: Obj | undefined) => descriptors.find((d) => d.name === node?.component);
  const nodesChanged = diff.nodes.changed.map(({ id, fields }) => {
    const oldNode = oldNodes.get(id);
    const newNode = newNodes.get(id);
    const descriptor = descriptorOf(newNode) ?? descriptorOf(oldNode);
    return {
      ...summary(newNode ?? oldNode, id, descriptors),
      fields: fields.map((path) => fieldChange(path, fieldLabel(path, descriptor), valueAt(oldNode, path), valueAt(newNode, path))),
    };
  });
  const oldSettings = isObject(before.settings) ? before.settings : {};
  const newSettings = isObject(after.settings) ? after.settings : {};
  const model = {
    nodesAdded: diff.nodes.added.map((id) => summary(newNodes.get(id), id, descriptors)),
    nodesRemoved: diff.nodes.removed.map((id) => summary(oldNodes.get(id), id, descriptors)),
    nodesChanged,
    edgesAdded: diff.edges.added,
    edgesRemoved: diff.edges.removed,
    settings: diff.settings_changed.map((path) => fieldChange(path, settingLabel(path), valueAt(oldSettings, path), valueAt(newSettings, path))),
  };
  const empty = [model.nodesAdded, model.nodesRemoved, model.nodesChanged, model.edgesAdded, model.edgesRemoved, model.settings].every(
    (list) => list.length === 0,
  );
  return { ...model, empty };
}

function plural(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** "2 steps added, 1 changed": the first count names the noun, the others follow it. */
function counted(one: string, many: string, counts: [number, string][]): string | null {
  const present = counts.filter(([count]) => count > 0);
  if (present.length === 0) return null;
  return present.map(([count, verb], index) => (index === 0 ? `${plural(count, one, many)} ${verb}` : `${count} ${verb}`)).join(", ");
}

/** One line for the whole diff: "2 steps added, 1 changed · 1 connection removed · 1 setting changed". */
export function summarizeDiff(model: VersionDiffModel): string {
  if (model.empty) return "No differences";
  return [
    counted("step", "steps", [
      [model.nodesAdded.length, "added"],
      [model.nodesRemoved.length, "removed"],
      [model.nodesChanged.length, "changed"],
    ]),
    counted("connection", "connections", [
      [model.edgesAdded.length, "added"],
      [model.edgesRemoved.length, "removed"],
    ]),
    counted("setting", "settings", [[model.settings.length, "changed"]]),
  ]
    .filter((part): part is string => part !== null)
    .join(" · ");
}
