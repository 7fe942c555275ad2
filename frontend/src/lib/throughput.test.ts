import { describe, expect, it } from "vitest";
import { chartGeometry } from "./throughput";

describe("chartGeometry", () => {
  const points = [
    { t: "2025-01-01T00:00:00Z", in: 60, out: 30, failed: 0 },
    { t: "2025-01-01T00:01:00Z", in: 120, out: 60, failed: 6 },
    { t: "2025-01-01T00:02:00Z", in: 0, out: 0, failed: 0 },
  ];

  it("plots rates per second across the width", () => {
    const g = chartGeometry(points, 60, 200, 100);
    expect(g.max).toBeCloseTo(2 * 1.15);
    expect(g.paths.in.startsWith("M0,")).toBe(true);
    expect(g.paths.in.split(" ")).toHaveLength(3);
    expect(g.paths.in).toContain("L200,100");
    expect(g.totals).toEqual({ in: 180, out: 90, failed: 6 });
    expect(g.area.endsWith("Z")).toBe(true);
  });

  it("copes with no data", () => {
    const g = chartGeometry([], 60, 200, 100);
    expect(g.max).toBe(1);
    expect(g.paths.in).toBe("");
    expect(g.area).toBe("");
  });
});
