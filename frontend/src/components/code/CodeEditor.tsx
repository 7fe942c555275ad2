/**
 * CodeMirror 6 with Python: line numbers, bracket matching, indentation, search (Ctrl/Cmd+F),
 * and server-side problems shown as lint diagnostics on their line.
 */
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { python } from "@codemirror/lang-python";
import {
  bracketMatching,
  defaultHighlightStyle,
  foldGutter,
  foldKeymap,
  indentOnInput,
  indentUnit,
  syntaxHighlighting,
} from "@codemirror/language";
import { lintGutter, lintKeymap, setDiagnostics, type Diagnostic } from "@codemirror/lint";
import { highlightSelectionMatches, search, searchKeymap } from "@codemirror/search";
import { Compartment, EditorState, type Text } from "@codemirror/state";
import {
  crosshairCursor,
  drawSelection,
  dropCursor,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
  rectangularSelection,
} from "@codemirror/view";
import { useEffect, useRef } from "react";

export interface EditorProblem {
  line: number | null;
  message: string;
  severity?: "error" | "warning";
}

/** Problems (1-based lines, null: the whole code) → CodeMirror diagnostics within the document. */
export function toDiagnostics(doc: Text, problems: EditorProblem[]): Diagnostic[] {
  return problems.map((problem) => {
    const number = Math.min(Math.max(problem.line ?? 1, 1), doc.lines);
    const line = doc.line(number);
    return {
      from: line.from,
      to: Math.max(line.to, line.from),
      severity: problem.severity ?? "error",
      message: problem.line === null || /^line \d+/i.test(problem.message) ? problem.message : `line ${problem.line}: ${problem.message}`,
      source: "server",
    };
  });
}

const theme = EditorView.theme({
  "&": { fontSize: "13px", height: "100%", backgroundColor: "#fff" },
  ".cm-scroller": { fontFamily: "var(--font-mono)", lineHeight: "1.55" },
  ".cm-gutters": { backgroundColor: "#f8fafc", borderRight: "1px solid #e2e8f0", color: "#94a3b8" },
  ".cm-activeLineGutter": { backgroundColor: "#eef2ff", color: "#4338ca" },
  ".cm-activeLine": { backgroundColor: "#f5f7ff" },
  "&.cm-focused": { outline: "none" },
  ".cm-panels": { fontFamily: "var(--font-sans)" },
});

export function CodeEditor({
  value,
  onChange,
  problems = [],
  readOnly = false,
  ariaLabel = "Code editor",
  describedBy,
  minHeight = 200,
}: {
  value: string;
  onChange?: (value: string) => void;
  problems?: EditorProblem[];
  readOnly?: boolean;
  ariaLabel?: string;
  describedBy?: string;
  minHeight?: number;
}) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;
  const readOnlyCompartment = useRef(new Compartment());

  useEffect(() => {
    if (!host.current) return;
    const attributes: Record<string, string> = { "aria-label": ariaLabel, "aria-multiline": "true" };
    if (describedBy) attributes["aria-describedby"] = describedBy;
    const state = EditorState.create({
      doc: value,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        highlightSpecialChars(),
        history(),
        foldGutter(),
        drawSelection(),
        dropCursor(),
        EditorState.allowMultipleSelections.of(true),
        indentOnInput(),
        indentUnit.of("    "),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        bracketMatching(),
        closeBrackets(),
        autocompletion(),
        rectangularSelection(),
        crosshairCursor(),
        highlightActiveLine(),
        highlightSelectionMatches(),
        search({ top: true }),
        lintGutter(),
        keymap.of([
          ...closeBracketsKeymap,
          ...defaultKeymap,
          ...searchKeymap,
          ...historyKeymap,
          ...foldKeymap,
          ...completionKeymap,
          ...lintKeymap,
          indentWithTab,
        ]),
        python(),
        theme,
        EditorView.contentAttributes.of(attributes),
        readOnlyCompartment.current.of([EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly)]),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) onChangeRef.current?.(update.state.doc.toString());
        }),
      ],
    });
    view.current = new EditorView({ state, parent: host.current });
    return () => {
      view.current?.destroy();
      view.current = null;
    };
    // Created once; value, problems and readOnly are pushed in by the effects below.
  }, []);

  // A value from outside (undo, another node): replace the document, keep the cursor in range.
  useEffect(() => {
    const v = view.current;
    if (!v) return;
    const current = v.state.doc.toString();
    if (current === value) return;
    const head = Math.min(v.state.selection.main.head, value.length);
    v.dispatch({ changes: { from: 0, to: current.length, insert: value }, selection: { anchor: head } });
  }, [value]);

  useEffect(() => {
    const v = view.current;
    if (!v) return;
    v.dispatch({
      effects: readOnlyCompartment.current.reconfigure([EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly)]),
    });
  }, [readOnly]);

  useEffect(() => {
    const v = view.current;
    if (!v) return;
    v.dispatch(setDiagnostics(v.state, toDiagnostics(v.state.doc, problems)));
  }, [problems, value]);

  return <div ref={host} className="code-editor" style={{ minHeight }} />;
}
