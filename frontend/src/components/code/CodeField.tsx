/** The `format: "python"` field: the editor, live diagnostics from /code/check/, and the test run. */
import { useEffect, useMemo, useState } from "react";
import { api, ApiError } from "../../api/client";
import { CodeEditor, type EditorProblem } from "./CodeEditor";
import { CodeTestPanel, type RunFailure } from "./CodeTestPanel";

export const CHECK_DEBOUNCE_MS = 500;

/** Set once the server says it has no /code/check/ (older back end): stop asking. */
let checkUnavailable = false;

export function CodeField({
  value,
  onChange,
  flowId,
  nodeKey,
  describedBy,
  serverErrors = [],
  readOnly = false,
}: {
  value: string;
  onChange: (value: string) => void;
  flowId: number | null;
  nodeKey: string;
  describedBy?: string;
  serverErrors?: string[];
  readOnly?: boolean;
}) {
  const [checkProblems, setCheckProblems] = useState<EditorProblem[]>([]);
  const [runFailure, setRunFailure] = useState<RunFailure | null>(null);

  useEffect(() => {
    if (checkUnavailable || !value.trim()) {
      setCheckProblems([]);
      return;
    }
    const controller = new AbortController();
    const timer = setTimeout(() => {
      api
        .checkCode(value, controller.signal)
        .then((answer) => setCheckProblems((answer.problems ?? []).map((p) => ({ line: p.line, message: p.message }))))
        .catch((error: unknown) => {
          if (error instanceof ApiError && (error.status === 404 || error.status === 405)) checkUnavailable = true;
        });
    }, CHECK_DEBOUNCE_MS);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [value]);

  // A run failure belongs to the code it ran: editing clears it.
  useEffect(() => setRunFailure(null), [value]);

  const problems = useMemo(() => {
    const all: EditorProblem[] = [...checkProblems];
    const strip = (message: string) => message.replace(/^line \d+:\s*/i, "");
    if (runFailure && !checkProblems.some((p) => p.line === runFailure.line && strip(p.message) === strip(runFailure.message))) {
      all.push({ line: runFailure.line, message: strip(runFailure.message) });
    }
    // Server graph errors on this field (e.g. a violation found at save time) without a line.
    for (const message of serverErrors) {
      const match = /line (\d+)/i.exec(message);
      if (!all.some((p) => message.includes(strip(p.message)))) all.push({ line: match ? Number(match[1]) : null, message });
    }
    return all;
  }, [checkProblems, runFailure, serverErrors]);

  return (
    <div className="code-field">
      <div className="code-editor-frame">
        <CodeEditor value={value} onChange={onChange} problems={problems} readOnly={readOnly} describedBy={describedBy} minHeight={220} />
      </div>
      {problems.length > 0 && (
        <ul className="code-problems" aria-label="Code problems">
          {problems.map((p, i) => (
            <li key={i}>
              {p.line !== null && <span className="code-problem-line">line {p.line}</span>} {p.line !== null ? p.message.replace(/^line \d+:\s*/i, "") : p.message}
            </li>
          ))}
        </ul>
      )}
      {!readOnly && <CodeTestPanel code={value} flowId={flowId} nodeKey={nodeKey} onRunFailure={setRunFailure} />}
    </div>
  );
}
