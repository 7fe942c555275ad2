/** Geometry of the small throughput chart: events per second per bucket as SVG paths. */
import type { ThroughputPoint } from "../api/types";

export type Series = "in" | "out" | "failed";

export interface ChartGeometry {
  /** Highest rate shown (events/s), the top of the chart. */
  max: number;
  paths: Record<Series, string>;
  /** Closed path under the `in` line, for a soft fill. */
  area: string;
  totals: Record<Series, number>;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

export function chartGeometry(
  points: ThroughputPoint[],
  bucketSeconds: number,
  width: number,
  height: number,
): ChartGeometry {
  const bucket = bucketSeconds > 0 ? bucketSeconds : 60;
  const series: Series[] = ["in", "out", "failed"];
  const rates = points.map((p) => ({ in: p.in / bucket, out: p.out / bucket, failed: p.failed / bucket }));
  const highest = Math.max(0, ...rates.flatMap((r) => [r.in, r.out, r.failed]));
  const max = highest > 0 ? highest * 1.15 : 1;
  const step = points.length > 1 ? width / (points.length - 1) : 0;
  const x = (i: number) => round(points.length > 1 ? i * step : width / 2);
  const y = (v: number) => round(height - (v / max) * height);
  const paths = {} as Record<Series, string>;
  const totals = {} as Record<Series, number>;
  for (const name of series) {
    paths[name] = rates.map((r, i) => `${i === 0 ? "M" : "L"}${x(i)},${y(r[name])}`).join(" ");
    totals[name] = points.reduce((sum, p) => sum + p[name], 0);
  }
  const area = rates.length
    ? `${paths.in} L${x(rates.length - 1)},${height} L${x(0)},${height} Z`
    : "";
  return { max, paths, area, totals };
}
