/**
 * The typed client of the Tributary API. Session auth with Django's CSRF protection: every
 * unsafe request carries the `csrftoken` cookie back as `X-CSRFToken`.
 */
import type {
  BulkRetryFilters,
  BulkRetryResult,
  CodeProblem,
  CodeRunResult,
  ComponentDescriptor,
  Credential,
  Execution,
  ExecutionDetail,
  ExecutionFilters,
  Flow,
  FlowStats,
  FlowTemplate,
  FlowTemplateDetail,
  FlowVersion,
  Graph,
  JSONValue,
  Page,
  ReplayRequest,
  ReplayResult,
  SampleMessage,
  Session,
  Throughput,
} from "./types";
import type { FlowStorageReport, GraphDiff, PruneRequest, PruneResult } from "./types";

export * from "./types";

export const API_BASE = "/api/v1";

/** An error answer of the API: `{"error": "...", "details": {...}}` with its HTTP status. */
export class ApiError extends Error {
  readonly status: number;
  readonly details: Record<string, unknown>;

  constructor(status: number, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.details = details;
  }

  get isAuth(): boolean {
    return this.status === 401 || this.status === 403;
  }
}

export function readCookie(name: string, cookies: string = document.cookie): string | null {
  for (const part of cookies.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

type Query = Record<string, string | number | boolean | null | undefined>;

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}${path.includes("?") ? "&" : "?"}${text}` : path;
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** Listeners told when any request answers 401/403 for lack of a session. */
const authListeners = new Set<() => void>();
export function onUnauthorized(listener: () => void): () => void {
  authListeners.add(listener);
  return () => authListeners.delete(listener);
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  query?: Query;
  signal?: AbortSignal;
  /** Do not notify the session store on 401/403 (the login check itself). */
  quietAuth?: boolean;
}

export async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const method = options.method ?? "GET";
  const headers: Record<string, string> = { Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (UNSAFE.has(method)) {
    const token = readCookie("csrftoken");
    if (token) headers["X-CSRFToken"] = token;
  }
  let response: Response;
  try {
    response = await fetch(withQuery(`${API_BASE}${path}`, options.query), {
      method,
      headers,
      credentials: "same-origin",
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new ApiError(0, "The server cannot be reached; check your connection.");
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  if (!response.ok) {
    const payload = (data ?? {}) as { error?: unknown; detail?: unknown; details?: unknown };
    const message =
      typeof payload.error === "string"
        ? payload.error
        : typeof payload.detail === "string"
          ? payload.detail
          : `${method} ${path} failed (HTTP ${response.status})`;
    const details =
      payload.details && typeof payload.details === "object"
        ? (payload.details as Record<string, unknown>)
        : {};
    const error = new ApiError(response.status, message, details);
    if (error.status === 401 && !options.quietAuth) authListeners.forEach((listener) => listener());
    throw error;
  }
  return data as T;
}

/** A list endpoint's items whether it answers a page or a bare array. */
export function items<T>(data: Page<T> | T[]): T[] {
  return Array.isArray(data) ? data : data.results;
}

export const api = {
  // Session
  getSession: () => request<Session>("/auth/session/", { quietAuth: true }),
  login: (username: string, password: string) =>
    request<Session>("/auth/session/", {
      method: "POST",
      body: { username, password },
      quietAuth: true,
    }),
  logout: () => request<void>("/auth/session/", { method: "DELETE", quietAuth: true }),
  /** Fallback while `auth/session/` is not deployed: the caller's workspaces. */
  listWorkspaces: () =>
    request<Page<{ id: number; name: string; role: string | null }>>("/workspaces/", {
      quietAuth: true,
    }),

  // Catalog
  listComponents: () => request<ComponentDescriptor[]>("/components/"),

  // Flows
  listFlows: async (workspace?: number | null, search?: string) =>
    items(
      await request<Page<Flow> | Flow[]>("/flows/", {
        query: { workspace, search, page_size: 500 },
      }),
    ),
  getFlow: (id: number) => request<Flow>(`/flows/${id}/`),
  createFlow: (name: string, workspace?: number | null, graph?: Graph) =>
    request<Flow>("/flows/", {
      method: "POST",
      body: { name, ...(workspace ? { workspace } : {}), graph: graph ?? { nodes: [], edges: [] } },
    }),
  updateFlow: (id: number, patch: { name?: string; graph?: Graph }, signal?: AbortSignal) =>
    request<Flow>(`/flows/${id}/`, { method: "PATCH", body: patch, signal }),
  deleteFlow: (id: number) => request<void>(`/flows/${id}/`, { method: "DELETE" }),
  duplicateFlow: (id: number) => request<Flow>(`/flows/${id}/duplicate/`, { method: "POST" }),
  publishFlow: (id: number) => request<FlowVersion>(`/flows/${id}/publish/`, { method: "POST" }),
  listVersions: async (id: number) =>
    items(
      await request<Page<FlowVersion> | FlowVersion[]>(`/flows/${id}/versions/`, {
        query: { page_size: 500 },
      }),
    ),
  restoreVersion: (id: number, number: number) =>
    request<Flow>(`/flows/${id}/versions/${number}/restore/`, { method: "POST" }),
  /** What changed from version `number` to version `other`, or to the draft as saved. */
  diffVersions: (id: number, number: number, other: number | "draft", signal?: AbortSignal) =>
    request<GraphDiff>(`/flows/${id}/versions/${number}/diff/${other}/`, { signal }),
  startFlow: (id: number) => request<Flow>(`/flows/${id}/start/`, { method: "POST" }),
  stopFlow: (id: number) => request<Flow>(`/flows/${id}/stop/`, { method: "POST" }),
  flowStats: (id: number, window = 3600) =>
    request<FlowStats>(`/flows/${id}/stats/`, { query: { window } }),
  flowThroughput: (id: number, window = 3600, bucket = 60) =>
    request<Throughput>(`/flows/${id}/throughput/`, { query: { window, bucket } }),
  /** Move the stopped flow's consumer position (409 while it runs or retries). */
  replayFlow: (id: number, body: ReplayRequest) =>
    request<ReplayResult>(`/flows/${id}/replay/`, { method: "POST", body }),
  fetchSamples: (id: number, count = 10) =>
    request<{ messages: SampleMessage[] }>(`/flows/${id}/samples/`, {
      method: "POST",
      body: { count },
    }),

  // Executions
  listExecutions: (flowId: number, filters: ExecutionFilters = {}, signal?: AbortSignal) =>
    request<Page<Execution>>(`/flows/${flowId}/executions/`, {
      query: { ...filters },
      signal,
    }),
  getExecution: (id: number, signal?: AbortSignal) =>
    request<ExecutionDetail>(`/executions/${id}/`, { signal }),
  retryExecution: (id: number) => request<Execution>(`/executions/${id}/retry/`, { method: "POST" }),
  /** Retry every failed execution of the flow that matches the filters. */
  retryFailedExecutions: (flowId: number, filters: BulkRetryFilters = {}) =>
    request<BulkRetryResult>(`/flows/${flowId}/executions/retry/`, { method: "POST", body: filters }),

  // Storage (workspace owners and staff)
  getStorage: (workspace?: number | null, signal?: AbortSignal) =>
    request<FlowStorageReport>("/storage/", { query: { workspace }, signal }),
  pruneFlow: (id: number, body: PruneRequest) =>
    request<PruneResult>(`/flows/${id}/prune/`, { method: "POST", body }),

  // Code
  runCode: (code: string, message: SampleMessage) =>
    request<CodeRunResult>("/code/run/", { method: "POST", body: { code, message } }),
  checkCode: (code: string, signal?: AbortSignal) =>
    request<{ problems: CodeProblem[] }>("/code/check/", {
      method: "POST",
      body: { code },
      signal,
    }),

  // Credentials
  listCredentials: async (workspace?: number | null) =>
    items(
      await request<Page<Credential> | Credential[]>("/credentials/", {
        query: { workspace, page_size: 500 },
      }),
    ),
  getCredential: (id: number) => request<Credential>(`/credentials/${id}/`),
  createCredential: (data: {
    name: string;
    type: string;
    fields: Record<string, JSONValue>;
    workspace?: number | null;
  }) =>
    request<Credential>("/credentials/", {
      method: "POST",
      body: {
        name: data.name,
        type: data.type,
        fields: data.fields,
        ...(data.workspace ? { workspace: data.workspace } : {}),
      },
    }),
  updateCredential: (id: number, data: { name?: string; fields?: Record<string, JSONValue> }) =>
    request<Credential>(`/credentials/${id}/`, { method: "PATCH", body: data }),
  deleteCredential: (id: number) => request<void>(`/credentials/${id}/`, { method: "DELETE" }),

  // Template gallery
  listTemplates: () => request<FlowTemplate[]>("/templates/"),
  getTemplate: (slug: string) => request<FlowTemplateDetail>(`/templates/${encodeURIComponent(slug)}/`),
  /** A draft flow from the template; without a name the server picks one unique in the workspace. */
  createFlowFromTemplate: (slug: string, workspace?: number | null, name?: string) =>
    request<Flow>(`/templates/${encodeURIComponent(slug)}/use/`, {
      method: "POST",
      body: { ...(workspace ? { workspace } : {}), ...(name ? { name } : {}) },
    }),
};

export type Api = typeof api;
