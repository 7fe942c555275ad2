import { describe, expect, it } from "vitest";
import { flowStatusDisplay } from "./flowStatus";

describe("flowStatusDisplay", () => {
  it("treats retrying like running for Start/Stop, in amber, with its reason", () => {
    const reason = "Bloomreach Engagement (bloomreach-1): HTTP 503; trying again in 30 s";
    const display = flowStatusDisplay("retrying", reason);
    expect(display).toMatchObject({ label: "retrying", tone: "warn", active: true, canStart: false, canStop: true, title: reason });
    expect(display.notice).toMatch(/retries by itself/);
  });

  it("explains retrying even without a reason", () => {
    const display = flowStatusDisplay("retrying", "");
    expect(display.notice).not.toBeNull();
    expect(display.title).toMatch(/resumes by itself/);
  });

  it("maps the other statuses", () => {
    expect(flowStatusDisplay("running")).toMatchObject({ tone: "good", active: true, canStart: false, canStop: true, notice: null });
    expect(flowStatusDisplay("stopped")).toMatchObject({ tone: "neutral", active: false, canStart: true, canStop: false });
    expect(flowStatusDisplay("draft")).toMatchObject({ canStart: true, canStop: false });
    expect(flowStatusDisplay("failed", "boom")).toMatchObject({ tone: "bad", canStart: true, canStop: true, title: "boom" });
    expect(flowStatusDisplay("failed", "boom").notice).toMatch(/stopped with an error/);
    expect(flowStatusDisplay("failed", "").notice).toBeNull();
  });

  it("keeps an unknown status's word and treats it as inactive", () => {
    expect(flowStatusDisplay("paused")).toMatchObject({ label: "paused", active: false, canStop: false });
  });
});
