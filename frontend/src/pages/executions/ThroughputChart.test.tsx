import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { ThroughputChart } from "./ThroughputChart";

describe("ThroughputChart", () => {
  it("draws an svg named Throughput with a description", () => {
    const points = Array.from({ length: 60 }, (_, i) => ({ t: new Date(i * 60_000).toISOString(), in: i, out: i, failed: 0 }));
    render(<ThroughputChart data={{ bucket_seconds: 60, points }} />);
    const chart = screen.getByRole("img", { name: "Throughput" });
    expect(chart.tagName.toLowerCase()).toBe("svg");
    expect(chart.querySelectorAll("path.chart-line")).toHaveLength(3);
    expect(chart.querySelector("desc")?.textContent).toMatch(/1770 in/);
  });

  it("keeps the svg while loading", () => {
    render(<ThroughputChart data={null} />);
    expect(screen.getByRole("img", { name: "Throughput" })).toBeInTheDocument();
  });
});
