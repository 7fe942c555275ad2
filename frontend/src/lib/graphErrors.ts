/**
 * The server's graph problems (`details.graph` of a refused PATCH or publish), grouped by the
 * node they concern, so the canvas can flag the node and the panel the field.
 */
import type { GraphProblem } from "../api/types";
import { isSettingsField } from "./flowSettings";

export interface NodeProblems {
  /** Keyed by form field: `topic` for `config.topic`, `credential`, `input` for edges. */
  fields: Record<string, string[]>;
  /** Problems of the node as a whole. */
  general: string[];
}

export interface ProblemIndex {
  byNode: Record<string, NodeProblems>;
  /** Problems of the flow as a whole (no node). */
  general: string[];
}

/** Read `details.graph` from an API error's details, tolerating shapes other than the contract. */
export function graphProblemsFrom(details: Record<string, unknown> | undefined): GraphProblem[] {
  const raw = details?.graph;
  if (!Array.isArray(raw)) {
    if (typeof raw === "string") return [{ node: null, field: null, message: raw }];
    return [];
  }
  return raw.map((item): GraphProblem => {
    if (typeof item === "string") return { node: null, field: null, message: item };
    const value = (item ?? {}) as Partial<GraphProblem>;
    return {
      node: typeof value.node === "string" ? value.node : null,
      field: typeof value.field === "string" ? value.field : null,
      message: typeof value.message === "string" ? value.message : JSON.stringify(item),
    };
  });
}

/**
 * The form field a server field name belongs to, or null for the node as a whole. The retry
 * policy keeps its own prefix (`retry`, `retry.attempts`) so it cannot meet a config key.
 */
export function formField(field: string | null): string | null {
  if (!field) return null;
  if (field === "config") return null;
  if (field.startsWith("config.")) return field.slice("config.".length).split(".")[0] ?? null;
  if (field === "credential" || field.startsWith("credential.")) return "credential";
  if (field === "edges") return "input";
  if (field === "retry" || field.startsWith("retry.")) return field;
  return null;
}

export function indexProblems(problems: GraphProblem[]): ProblemIndex {
  const index: ProblemIndex = { byNode: {}, general: [] };
  for (const problem of problems) {
    if (!problem.node) {
      // Settings problems are shown in the Flow settings dialog too; here they say where to look.
      index.general.push(isSettingsField(problem.field) ? `Flow settings: ${problem.message}` : problem.message);
      continue;
    }
    const entry = (index.byNode[problem.node] ??= { fields: {}, general: [] });
    const field = formField(problem.field);
    if (field) (entry.fields[field] ??= []).push(problem.message);
    else entry.general.push(problem.field && problem.field !== "config" ? `${problem.field}: ${problem.message}` : problem.message);
  }
  return index;
}

/** All messages of one node, for the badge on the canvas. */
export function nodeMessages(index: ProblemIndex, nodeId: string): string[] {
  const entry = index.byNode[nodeId];
  if (!entry) return [];
  return [
    ...entry.general,
    ...Object.entries(entry.fields).flatMap(([field, messages]) => messages.map((m) => `${field}: ${m}`)),
  ];
}
