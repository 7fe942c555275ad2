import { Text } from "@codemirror/state";
import { describe, expect, it } from "vitest";
import { toDiagnostics } from "./CodeEditor";

describe("toDiagnostics", () => {
  const doc = Text.of(["def run(msg):", "    return msg.body", ""]);

  it("puts a problem on its line", () => {
    const [d] = toDiagnostics(doc, [{ line: 2, message: "name 'x' is not defined" }]);
    expect(d).toMatchObject({ from: doc.line(2).from, to: doc.line(2).to, severity: "error" });
    expect(d?.message).toBe("line 2: name 'x' is not defined");
  });

  it("clamps lines outside the document and puts line-less problems on line 1", () => {
    const [far, none] = toDiagnostics(doc, [
      { line: 99, message: "x" },
      { line: null, message: "y", severity: "warning" },
    ]);
    expect(far?.from).toBe(doc.line(3).from);
    expect(none).toMatchObject({ from: 0, severity: "warning", message: "y" });
  });
});
