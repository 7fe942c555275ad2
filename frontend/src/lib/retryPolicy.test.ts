import { describe, expect, it } from "vitest";
import { fieldsFromSchema, localProblems } from "./schemaForm";
import { effectiveRetry, RETRY_DEFAULTS, RETRY_SCHEMA, retryErrors, retryFormValues, retrySummary, withRetryField } from "./retryPolicy";

describe("retry policy form", () => {
  it("shows only what is set; the defaults are the placeholders", () => {
    expect(retryFormValues(undefined)).toEqual({});
    expect(retryFormValues({ attempts: 5 })).toEqual({ attempts: 5 });
    const fields = fieldsFromSchema(RETRY_SCHEMA);
    expect(fields.map((f) => [f.key, f.label, f.kind, f.default])).toEqual([
      ["attempts", "Attempts", "integer", 3],
      ["backoff_seconds", "Backoff (seconds)", "number", 2],
      ["max_delay_seconds", "Max delay (seconds)", "number", 60],
    ]);
  });

  it("adds and replaces keys", () => {
    const one = withRetryField(undefined, "attempts", 5);
    expect(one).toEqual({ attempts: 5 });
    expect(withRetryField(one, "backoff_seconds", 0.5)).toEqual({ attempts: 5, backoff_seconds: 0.5 });
    expect(withRetryField(one, "attempts", 7)).toEqual({ attempts: 7 });
  });

  it("drops an emptied key and the whole policy once empty", () => {
    expect(withRetryField({ attempts: 5, max_delay_seconds: 10 }, "attempts", undefined)).toEqual({ max_delay_seconds: 10 });
    expect(withRetryField({ attempts: 5 }, "attempts", undefined)).toBeUndefined();
    expect(withRetryField({ attempts: 5 }, "attempts", null)).toBeUndefined();
    expect(withRetryField(undefined, "attempts", "")).toBeUndefined();
  });

  it("ignores keys it does not know", () => {
    const policy = { attempts: 2 };
    expect(withRetryField(policy, "jitter", 1)).toBe(policy);
  });

  it("fills defaults for what applies and summarises", () => {
    expect(effectiveRetry(undefined)).toEqual(RETRY_DEFAULTS);
    expect(effectiveRetry({ attempts: 8 })).toEqual({ ...RETRY_DEFAULTS, attempts: 8 });
    expect(retrySummary(undefined)).toBe("Defaults: 3 attempts, waits from 2 s up to 60 s");
    expect(retrySummary({ attempts: 1 })).toBe("1 attempt, no retry");
    expect(retrySummary({ backoff_seconds: 5, max_delay_seconds: 300 })).toBe("3 attempts, waits from 5 s up to 300 s");
  });

  it("checks the ranges locally", () => {
    const fields = fieldsFromSchema(RETRY_SCHEMA);
    expect(localProblems(fields, { attempts: 0, backoff_seconds: 601, max_delay_seconds: 1.5 })).toEqual({
      attempts: "must be at least 1",
      backoff_seconds: "must be at most 600",
    });
    expect(localProblems(fields, { attempts: 2.5 })).toEqual({ attempts: "must be a whole number" });
    expect(localProblems(fields, {})).toEqual({});
  });

  it("routes the server's retry.* messages to their inputs", () => {
    expect(retryErrors({ "retry.attempts": ["must be at most 20"], retry: ["must be an object"], topic: ["x"], "retry.jitter": ["unknown"] })).toEqual({
      fields: { attempts: ["must be at most 20"] },
      general: ["must be an object", "jitter: unknown"],
    });
    expect(retryErrors(undefined)).toEqual({ fields: {}, general: [] });
  });
});
