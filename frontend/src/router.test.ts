import { describe, expect, it } from "vitest";
import { flowPath, matchRoute } from "./router";

describe("matchRoute", () => {
  it("matches every screen", () => {
    expect(matchRoute("/")).toEqual({ name: "flows" });
    expect(matchRoute("/flows/")).toEqual({ name: "flows" });
    expect(matchRoute("/credentials")).toEqual({ name: "credentials" });
    expect(matchRoute("/login")).toEqual({ name: "login" });
    expect(matchRoute("/flows/12")).toEqual({ name: "designer", flowId: 12, tab: "designer", executionId: null });
    expect(matchRoute("/flows/12/executions")).toEqual({ name: "designer", flowId: 12, tab: "executions", executionId: null });
    expect(matchRoute("/flows/12/executions/99")).toEqual({ name: "designer", flowId: 12, tab: "executions", executionId: 99 });
    expect(matchRoute("/nope")).toEqual({ name: "notFound", path: "/nope" });
  });

  it("builds paths that match back", () => {
    expect(matchRoute(flowPath(3, "executions", 7))).toMatchObject({ flowId: 3, tab: "executions", executionId: 7 });
    expect(flowPath(3)).toBe("/flows/3");
  });
});
