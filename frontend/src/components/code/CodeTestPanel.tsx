/**
 * "Run test": the code against one sample message in the server's sandbox, with the input on
 * the left and output, printed lines and errors on the right. Samples are typed as JSON, taken
 * from recent executions (the trigger step's output), fetched from the trigger's topic or taken
 * from a template of the gallery.
 */
import { useId, useState } from "react";
import { api, ApiError, type Execution, type FlowTemplate, type JSONValue, type SampleMessage } from "../../api/client";
import { formatTime } from "../../lib/format";
import { DEFAULT_SAMPLE, messageFrom, parseSample, sampleText } from "../../lib/samples";
import { millisecondTimestamps } from "../../lib/timestamps";
import { Icon } from "../ui/Icon";
import { JsonViewer } from "../ui/JsonViewer";

export interface RunFailure {
  message: string;
  line: number | null;
  logs: string[];
}

type Result = { kind: "ok"; output: JSONValue[]; logs: string[]; ms: number } | { kind: "error"; failure: RunFailure; ms: number };

/** Sample text per node, so switching nodes and back keeps what was typed. */
const remembered = new Map<string, string>();

export function CodeTestPanel({
  code,
  flowId,
  nodeKey,
  onRunFailure,
}: {
  code: string;
  flowId: number | null;
  /** Identifies the node whose sample this is. */
  nodeKey: string;
  /** The line of a failed run, for the editor (null clears it). */
  onRunFailure: (failure: RunFailure | null) => void;
}) {
  const sampleId = useId();
  const [sample, setSampleState] = useState(() => remembered.get(nodeKey) ?? sampleText(DEFAULT_SAMPLE));
  const [result, setResult] = useState<Result | null>(null);
  const [running, setRunning] = useState(false);
  const [sampleError, setSampleError] = useState<string | null>(null);
  const [recent, setRecent] = useState<Execution[] | null>(null);
  const [recentState, setRecentState] = useState<"idle" | "loading" | "error">("idle");
  const [fetched, setFetched] = useState<SampleMessage[]>([]);
  const [fetching, setFetching] = useState(false);
  const [sourceNote, setSourceNote] = useState<string | null>(null);
  const [templates, setTemplates] = useState<FlowTemplate[] | null>(null);
  const [templatesState, setTemplatesState] = useState<"idle" | "loading" | "error">("idle");

  const setSample = (text: string) => {
    remembered.set(nodeKey, text);
    setSampleState(text);
  };

  const run = async () => {
    const parsed = parseSample(sample);
    if (!parsed.ok) {
      setSampleError(parsed.error);
      return;
    }
    setSampleError(null);
    setRunning(true);
    const started = performance.now();
    try {
      const answer = await api.runCode(code, parsed.message);
      setResult({ kind: "ok", output: answer.output ?? [], logs: answer.logs ?? [], ms: performance.now() - started });
      onRunFailure(null);
    } catch (error) {
      const details = error instanceof ApiError ? error.details : {};
      const failure: RunFailure = {
        message: error instanceof Error ? error.message : String(error),
        line: typeof details.line === "number" ? details.line : null,
        logs: Array.isArray(details.logs) ? details.logs.map(String) : [],
      };
      setResult({ kind: "error", failure, ms: performance.now() - started });
      onRunFailure(failure);
    } finally {
      setRunning(false);
    }
  };

  const loadRecent = async () => {
    if (flowId === null || recentState === "loading") return;
    setRecentState("loading");
    try {
      const page = await api.listExecutions(flowId, { page_size: 10 });
      setRecent(page.results);
      setRecentState("idle");
    } catch {
      setRecentState("error");
    }
  };

  const pickRecent = async (id: number) => {
    try {
      const detail = await api.getExecution(id);
      const trigger = detail.steps.find((s) => s.position === 0) ?? detail.steps[0];
      const message = messageFrom(trigger?.output ?? null);
      if (!message) {
        setSampleError("That execution kept no usable input (it may have been truncated).");
        return;
      }
      setSample(sampleText(message));
      setSampleError(null);
      setSourceNote(`From execution #${id} (${detail.topic}[${detail.partition ?? "?"}]@${detail.offset ?? "?"})`);
    } catch (error) {
      setSampleError(error instanceof Error ? error.message : String(error));
    }
  };

  const fetchSamples = async () => {
    if (flowId === null) return;
    setFetching(true);
    setSampleError(null);
    try {
      const answer = await api.fetchSamples(flowId, 10);
      const messages = answer.messages ?? [];
      setFetched(messages);
      if (messages[0]) {
        setSample(sampleText(messages[0]));
        setSourceNote(`Fetched ${messages.length} message${messages.length === 1 ? "" : "s"} from the topic; showing the first.`);
      } else {
        setSourceNote("The topic has no messages to sample yet.");
      }
    } catch (error) {
      setSampleError(`Could not fetch samples: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      setFetching(false);
    }
  };

  const loadTemplates = async () => {
    if (templatesState === "loading") return;
    setTemplatesState("loading");
    try {
      setTemplates(await api.listTemplates());
      setTemplatesState("idle");
    } catch {
      setTemplatesState("error");
    }
  };

  /** The gallery's sample messages for a template, offered like fetched ones. */
  const pickTemplate = async (slug: string) => {
    setSampleError(null);
    try {
      const detail = await api.getTemplate(slug);
      const messages = detail.samples.map((s) => s.message);
      setFetched(messages);
      if (messages[0]) {
        setSample(sampleText(messages[0]));
        setSourceNote(`${messages.length} sample${messages.length === 1 ? "" : "s"} of the template "${detail.title}"; showing the first.`);
      } else {
        setSourceNote(`The template "${detail.title}" has no samples.`);
      }
    } catch (error) {
      setSampleError(`Could not load the template's samples: ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  const warnings = result?.kind === "ok" ? millisecondTimestamps(result.output) : [];
  const logs = result?.kind === "ok" ? result.logs : result?.kind === "error" ? result.failure.logs : [];

  return (
    <div className="code-test">
      <div className="code-test-header">
        <h4>Test run</h4>
        <div className="code-test-sources">
          <select
            aria-label="Recent executions"
            value=""
            onFocus={() => recent === null && void loadRecent()}
            onMouseDown={() => recent === null && void loadRecent()}
            onChange={(e) => e.target.value && void pickRecent(Number(e.target.value))}
            disabled={flowId === null}
          >
            <option value="">
              {recentState === "loading" ? "Loading…" : recentState === "error" ? "Could not load executions" : "Sample from a recent execution…"}
            </option>
            {recent?.length === 0 && <option disabled>No executions yet</option>}
            {recent?.map((execution) => (
              <option key={execution.id} value={execution.id}>
                {formatTime(execution.started_at)} · {execution.status} · {execution.summary.slice(0, 60)}
              </option>
            ))}
          </select>
          <button type="button" className="button button-small" onClick={() => void fetchSamples()} disabled={fetching || flowId === null}>
            <Icon name="download" size={14} /> {fetching ? "Fetching…" : "Fetch samples"}
          </button>
          <select
            aria-label="Template samples"
            value=""
            onFocus={() => templates === null && void loadTemplates()}
            onMouseDown={() => templates === null && void loadTemplates()}
            onChange={(e) => e.target.value && void pickTemplate(e.target.value)}
          >
            <option value="">
              {templatesState === "loading" ? "Loading…" : templatesState === "error" ? "Could not load templates" : "Sample from a template…"}
            </option>
            {templates?.map((template) => (
              <option key={template.slug} value={template.slug}>
                {template.title}
              </option>
            ))}
          </select>
          {fetched.length > 1 && (
            <select
              aria-label="Fetched samples"
              onChange={(e) => {
                const message = fetched[Number(e.target.value)];
                if (message) setSample(sampleText(message));
              }}
            >
              {fetched.map((m, i) => (
                <option key={i} value={i}>
                  #{i + 1} {JSON.stringify(m.body).slice(0, 50)}
                </option>
              ))}
            </select>
          )}
        </div>
      </div>
      <div className="code-test-grid">
        <div className="code-test-input">
          <label htmlFor={sampleId} className="field-label">
            Sample message
          </label>
          <textarea
            id={sampleId}
            className="mono"
            rows={14}
            spellCheck={false}
            value={sample}
            onChange={(e) => setSample(e.target.value)}
            aria-describedby={`${sampleId}-hint`}
          />
          <p id={`${sampleId}-hint`} className="field-description">
            {sourceNote ?? 'JSON. An object with "body" (and optional "headers", "meta") is the whole message; anything else is the body.'}
          </p>
          {sampleError && (
            <p className="field-error" role="alert">
              {sampleError}
            </p>
          )}
          <button type="button" className="button button-primary" onClick={() => void run()} disabled={running || !code.trim()}>
            <Icon name="play" size={14} /> {running ? "Running…" : "Run test"}
          </button>
        </div>
        <div className="code-test-results">
          <section className="test-output" role="region" aria-label="Test output">
            <h5>
              Output
              {result && <span className="muted"> · {Math.round(result.ms)} ms</span>}
            </h5>
            {!result && <p className="muted">Run the test to see what the step would send on.</p>}
            {result?.kind === "error" && (
              <div className="run-error" role="alert">
                {result.failure.line && !/^line \d+/i.test(result.failure.message) && <strong>Line {result.failure.line}: </strong>}
                {result.failure.message}
              </div>
            )}
            {result?.kind === "ok" && result.output.length === 0 && (
              <p className="muted">No output: the message is filtered out (run returned None or an empty list).</p>
            )}
            {result?.kind === "ok" && result.output.length > 0 && (
              <>
                <p className="muted">
                  {result.output.length} message{result.output.length === 1 ? "" : "s"}
                </p>
                <JsonViewer value={result.output.length === 1 ? result.output[0] : result.output} openDepth={3} />
              </>
            )}
            {warnings.map((w) => (
              <div key={w.path} className="warning-box" role="status">
                <Icon name="alert" size={14} /> {w.message}
              </div>
            ))}
          </section>
          <section className="test-logs" role="region" aria-label="Test logs">
            <h5>Logs</h5>
            {logs.length === 0 ? (
              <p className="muted">{result ? "Nothing printed." : "print() and log() lines show here."}</p>
            ) : (
              <pre className="log-lines">{logs.join("\n")}</pre>
            )}
          </section>
        </div>
      </div>
    </div>
  );
}
