import { describe, expect, it } from "vitest";
import { formField, graphProblemsFrom, indexProblems, nodeMessages } from "./graphErrors";

describe("graph problems", () => {
  const details = {
    graph: [
      { node: "kafka-1", field: "config.topic", message: "'bad topic' does not match" },
      { node: "kafka-1", field: "credential", message: "no such credential" },
      { node: "code-1", field: "edges", message: "an action takes input from exactly one step" },
      { node: "code-2", field: null, message: "not connected to the trigger" },
      { node: null, field: null, message: "a flow has exactly one trigger; found 2" },
    ],
  };

  it("reads details.graph", () => {
    expect(graphProblemsFrom(details)).toHaveLength(5);
    expect(graphProblemsFrom({ graph: "broken" })).toEqual([{ node: null, field: null, message: "broken" }]);
    expect(graphProblemsFrom({})).toEqual([]);
    expect(graphProblemsFrom(undefined)).toEqual([]);
  });

  it("maps server fields to form fields", () => {
    expect(formField("config.topic")).toBe("topic");
    expect(formField("config.headers.X-Id")).toBe("headers");
    expect(formField("credential")).toBe("credential");
    expect(formField("edges")).toBe("input");
    expect(formField("position")).toBeNull();
    expect(formField("retry.attempts")).toBe("retry.attempts");
    expect(formField("retry")).toBe("retry");
    expect(formField(null)).toBeNull();
  });

  it("groups problems by node and field", () => {
    const index = indexProblems(graphProblemsFrom(details));
    expect(index.general).toEqual(["a flow has exactly one trigger; found 2"]);
    expect(index.byNode["kafka-1"]?.fields).toEqual({
      topic: ["'bad topic' does not match"],
      credential: ["no such credential"],
    });
    expect(index.byNode["code-1"]?.fields.input).toEqual(["an action takes input from exactly one step"]);
    expect(index.byNode["code-2"]?.general).toEqual(["not connected to the trigger"]);
    expect(nodeMessages(index, "kafka-1")).toEqual(["topic: 'bad topic' does not match", "credential: no such credential"]);
    expect(nodeMessages(index, "nope")).toEqual([]);
  });

  it("keeps settings problems general, saying where they belong, and retry problems on the node", () => {
    const index = indexProblems([
      { node: null, field: "settings.dead_letter_topic", message: "not a valid topic name" },
      { node: "rest-1", field: "retry.attempts", message: "must be at most 20" },
    ]);
    expect(index.general).toEqual(["Flow settings: not a valid topic name"]);
    expect(index.byNode["rest-1"]?.fields).toEqual({ "retry.attempts": ["must be at most 20"] });
  });
});
