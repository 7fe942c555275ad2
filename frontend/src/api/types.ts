/** Shapes of the Tributary HTTP API (`/api/v1/`), as the back end serialises them. */

export type JSONValue = string | number | boolean | null | JSONValue[] | { [key: string]: JSONValue };
export type JSONObject = { [key: string]: JSONValue };

export interface User {
  id: number;
  username: string;
  is_staff: boolean;
}

export interface WorkspaceRef {
  id: number;
  name: string;
  role: string | null;
}

export interface Session {
  user: User;
  workspaces: WorkspaceRef[];
}

/** A JSON Schema as the component descriptors use it (a practical subset). */
export interface JSONSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  enum?: JSONValue[];
  default?: JSONValue;
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  properties?: Record<string, JSONSchema>;
  required?: string[];
  additionalProperties?: boolean | JSONSchema;
  items?: JSONSchema;
  /** Credential fields only: write-only, never returned. */
  secret?: boolean;
}

export type ComponentKind = "trigger" | "action";

export interface ComponentDescriptor {
  name: string;
  kind: ComponentKind;
  title: string;
  description: string;
  config_schema: JSONSchema;
  credential_type: string | null;
  credential_schema: JSONSchema | null;
  sample_config: JSONObject;
  delivers?: boolean;
}

/** How an action retries transient failures (timeouts, 429, 5xx); absent keys take the defaults. */
export interface RetryPolicy {
  /** 1..20, default 3. */
  attempts?: number;
  /** 0..600, default 2: the first wait, doubled each attempt. */
  backoff_seconds?: number;
  /** 0..3600, default 60: the longest wait between two attempts. */
  max_delay_seconds?: number;
}

export interface GraphNode {
  id: string;
  component: string;
  config: JSONObject;
  credential: number | null;
  position: { x: number; y: number };
  /** Action nodes only. */
  retry?: RetryPolicy;
}

export interface GraphEdge {
  source: string;
  target: string;
}

/** What happens when a destination fails every attempt. */
export type OutagePolicy = "pause" | "fail";

/** Flow-level error handling, saved and published with the graph. */
export interface FlowSettings {
  /** Kafka topic for failed messages; "" for none. */
  dead_letter_topic?: string;
  /** Default "pause": consumption pauses and retries; "fail": messages are recorded as failed. */
  on_outage?: OutagePolicy;
}

export interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
  settings?: FlowSettings;
}

/** `retrying`: a destination is down; consumption is paused and resumes by itself. */
export type FlowStatus = "draft" | "running" | "retrying" | "stopped" | "failed";

export interface LastHour {
  in: number;
  out: number;
  failed: number;
}

export interface Flow {
  id: number;
  workspace: number;
  name: string;
  graph: Graph;
  status: FlowStatus;
  status_reason?: string;
  active_version: number | null;
  created_at: string;
  updated_at: string;
  last_hour?: LastHour;
  last_activity?: string | null;
  consuming?: boolean;
}

export interface FlowVersion {
  id: number;
  number: number;
  graph: Graph;
  created_at: string;
}

export interface Credential {
  id: number;
  workspace: number;
  name: string;
  type: string;
  public: { fields?: Record<string, JSONValue>; secrets_set?: string[] } & Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

export type ExecutionStatus = "running" | "succeeded" | "filtered" | "failed";
export type StepStatus = "succeeded" | "filtered" | "failed" | "skipped";

export interface Execution {
  id: number;
  flow: number;
  version: number | null;
  status: ExecutionStatus;
  topic: string;
  partition: number | null;
  offset: number | null;
  message_key: string | null;
  message_timestamp: string | null;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  error: string;
  failed_node: string;
  summary: string;
  attempts: number;
  /** The OpenTelemetry trace of the message's batch; null while tracing is off. */
  trace_id?: string | null;
}

export interface StepRecord {
  position: number;
  node_id: string;
  component: string;
  status: StepStatus;
  started_at: string | null;
  duration_ms: number | null;
  input: JSONValue;
  output: JSONValue;
  logs: string[];
  error: string;
  error_details: JSONValue;
}

export interface ExecutionDetail extends Execution {
  steps: StepRecord[];
}

export interface Page<T> {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

export interface FlowStats {
  window_seconds: number;
  in: number;
  out: number;
  filtered: number;
  failed: number;
  running: number;
  rates_per_second?: { in: number; out: number; failed: number };
  latency_ms: { p50: number | null; p99: number | null };
  processing_ms?: { p50: number | null; p99: number | null };
  /** Messages re-sent after an attempt whose outcome was unknown: possible duplicate deliveries. */
  duplicates?: number;
  /** Messages written to the dead-letter topic. */
  dead_lettered?: number;
  /** Per partition read: records after the committed offset; empty while not consuming. */
  consumer_lag?: { topic: string; partition: number; lag: number }[];
}

export interface ThroughputPoint {
  t: string;
  in: number;
  out: number;
  failed: number;
}

export interface Throughput {
  bucket_seconds: number;
  points: ThroughputPoint[];
}

/** What a step receives; `code/run` takes this (headers and meta optional). */
export interface SampleMessage {
  id?: string;
  body: JSONValue;
  headers?: JSONObject;
  meta?: JSONObject;
}

export interface CodeRunResult {
  output: JSONValue[];
  logs: string[];
}

export interface CodeProblem {
  line: number | null;
  message: string;
}

/** One problem of an invalid graph, as `details.graph` lists them. */
export interface GraphProblem {
  node: string | null;
  field: string | null;
  message: string;
}

export interface ExecutionFilters {
  status?: ExecutionStatus | "";
  since?: string;
  until?: string;
  search?: string;
  page?: number;
  page_size?: number;
}

/** `POST /flows/{id}/executions/retry/`: the execution list's filters; only failed ones are retried. */
export interface BulkRetryFilters {
  since?: string;
  until?: string;
  search?: string;
}

export interface BulkRetryResult {
  retried: number;
  skipped: number;
}

export type ReplayPosition = "earliest" | "latest" | "timestamp" | "offsets";

/** `POST /flows/{id}/replay/`: where the stopped flow's consumer starts reading again. */
export interface ReplayRequest {
  position: ReplayPosition;
  /** ISO date-time, for `timestamp`. */
  timestamp?: string;
  /** Partition number → offset, for `offsets`. */
  offsets?: Record<string, number>;
}

export interface ReplayResult {
  topic: string;
  partitions: { partition: number; offset: number }[];
}

/** A step of a template's chain: its component and that component's title. */
export interface TemplateComponent {
  name: string;
  title: string;
}

/** A template of the gallery (`GET /templates/`). */
export interface FlowTemplate {
  slug: string;
  title: string;
  description: string;
  tags: string[];
  /** Trigger first, in the order the steps run. */
  components: TemplateComponent[];
  /** The name a flow made from it gets when none is given. */
  flow_name: string;
}

/** A message for the template's transform step and the bodies it sends on ([]: dropped). */
export interface TemplateSample {
  description: string;
  message: SampleMessage;
  expected_output: JSONValue[];
}

/** `GET /templates/{slug}/`. */
export interface FlowTemplateDetail extends FlowTemplate {
  graph: Graph;
  /** Node id → the credential it uses when the workspace has one of that name and type. */
  credentials: Record<string, { name: string; type: string }>;
  transform_node: string | null;
  samples: TemplateSample[];
}

/** `GET /flows/{id}/versions/{n}/diff/{m|draft}/`: what changed from version n to m (or the draft). */
export interface GraphDiff {
  nodes: {
    added: string[];
    removed: string[];
    /** Fields as dotted paths: "config.url", "retry.attempts", "credential", "position". */
    changed: { id: string; fields: string[] }[];
  };
  edges: { added: GraphEdge[]; removed: GraphEdge[] };
  /** Dotted paths under the graph's `settings`. */
  settings_changed: string[];
}

/** Approximate bytes of stored execution records: characters of their JSON and error texts. */
export interface StorageBytes {
  inputs: number;
  outputs: number;
  logs: number;
  errors: number;
  total: number;
}

export interface FlowRetention {
  /** Executions older than this are deleted. */
  days: number;
  /** True: the server's default; false: the flow's own retention_days. */
  default_days: boolean;
  /** Only the newest this many are kept. */
  max_executions: number;
}

/** One flow of `GET /storage/`. */
export interface FlowStorage {
  id: number;
  name: string;
  workspace: number;
  workspace_name: string;
  executions: number;
  step_records: number;
  bytes: StorageBytes;
  oldest_execution: string | null;
  newest_execution: string | null;
  retention: FlowRetention;
}

/** `GET /storage/?workspace=`: workspace owners (and staff) only. */
export interface FlowStorageReport {
  /** Biggest first. */
  flows: FlowStorage[];
  totals: { flows: number; executions: number; step_records: number; bytes: StorageBytes };
  defaults: { retention_days: number; max_executions: number };
}

/** `POST /flows/{id}/prune/`: delete executions older than N days, or all of them. */
export type PruneRequest = { older_than_days: number } | { all: true };

export interface PruneResult {
  deleted: number;
}
