import { describe, expect, it } from "vitest";
import { DEFAULT_SAMPLE, messageFrom, parseSample, sampleText } from "./samples";

describe("parseSample", () => {
  it("takes an object with body as the whole message", () => {
    const parsed = parseSample('{"body": {"a": 1}, "meta": {"key": "k"}}');
    expect(parsed).toEqual({ ok: true, message: { body: { a: 1 }, meta: { key: "k" } } });
  });

  it("takes anything else as the body", () => {
    expect(parseSample('{"a": 1}')).toEqual({ ok: true, message: { body: { a: 1 } } });
    expect(parseSample("[1, 2]")).toEqual({ ok: true, message: { body: [1, 2] } });
  });

  it("explains bad input", () => {
    expect(parseSample("")).toMatchObject({ ok: false });
    expect(parseSample("{oops")).toMatchObject({ ok: false, error: expect.stringMatching(/not valid JSON/) });
    expect(parseSample('{"body": 1, "meta": 3}')).toEqual({ ok: false, error: '"meta" must be an object' });
  });

  it("round-trips the default sample", () => {
    expect(parseSample(sampleText(DEFAULT_SAMPLE))).toEqual({ ok: true, message: DEFAULT_SAMPLE });
  });
});

describe("messageFrom", () => {
  it("reads a trigger step output", () => {
    expect(messageFrom({ id: "t-0-1", body: { a: 1 }, headers: {}, meta: { offset: 1 } })).toEqual({
      body: { a: 1 },
      headers: {},
      meta: { offset: 1 },
    });
  });

  it("rejects truncated and shapeless values", () => {
    expect(messageFrom({ truncated: true, size: 10, preview: "{" })).toBeNull();
    expect(messageFrom("text")).toBeNull();
    expect(messageFrom([])).toBeNull();
  });
});
