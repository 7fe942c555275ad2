import { describe, expect, it } from "vitest";
import { isSettingsField, settingsForm, settingsFromForm, settingsProblems, topicProblem } from "./flowSettings";

describe("flow settings form", () => {
  it("reads defaults when there are no settings", () => {
    expect(settingsForm(undefined)).toEqual({ deadLetterTopic: "", onOutage: "pause" });
    expect(settingsForm({ dead_letter_topic: "dlq", on_outage: "fail" })).toEqual({ deadLetterTopic: "dlq", onOutage: "fail" });
  });

  it("writes only what differs from the defaults", () => {
    expect(settingsFromForm({ deadLetterTopic: "", onOutage: "pause" })).toBeUndefined();
    expect(settingsFromForm({ deadLetterTopic: "orders.dlq", onOutage: "pause" })).toEqual({ dead_letter_topic: "orders.dlq" });
    expect(settingsFromForm({ deadLetterTopic: "", onOutage: "fail" })).toEqual({ on_outage: "fail" });
  });

  it("drops defaults the server filled in and keeps keys it does not know", () => {
    const previous = { dead_letter_topic: "", on_outage: "pause" as const, future: 1 } as never;
    expect(settingsFromForm({ deadLetterTopic: "", onOutage: "pause" }, previous)).toEqual({ future: 1 });
    expect(settingsFromForm({ deadLetterTopic: "", onOutage: "pause" }, { dead_letter_topic: "", on_outage: "pause" })).toBeUndefined();
  });

  it("round-trips", () => {
    const settings = { dead_letter_topic: "dlq", on_outage: "fail" as const };
    expect(settingsFromForm(settingsForm(settings), settings)).toEqual(settings);
  });

  it("checks topic names as Kafka does", () => {
    expect(topicProblem("")).toBeNull();
    expect(topicProblem("orders-dlq_v1.x")).toBeNull();
    expect(topicProblem("has space")).toMatch(/only letters/);
    expect(topicProblem("..")).toMatch(/cannot be/);
    expect(topicProblem("a".repeat(250))).toMatch(/at most 249/);
  });

  it("collects the server's settings.* problems", () => {
    const problems = [
      { node: null, field: "settings.dead_letter_topic", message: "topic does not exist" },
      { node: null, field: "settings", message: "must be an object" },
      { node: "rest-1", field: "settings.x", message: "not mine" },
      { node: null, field: null, message: "no trigger" },
    ];
    expect(settingsProblems(problems)).toEqual({ fields: { dead_letter_topic: ["topic does not exist"] }, general: ["must be an object"] });
    expect(isSettingsField("settings.on_outage")).toBe(true);
    expect(isSettingsField("settingsX")).toBe(false);
    expect(isSettingsField(null)).toBe(false);
  });
});
