/** Events per second over the last hour, as a small inline SVG (in, out, failed). */
import type { Throughput } from "../../api/types";
import { formatRate } from "../../lib/format";
import { chartGeometry } from "../../lib/throughput";

const WIDTH = 560;
const HEIGHT = 96;

export function ThroughputChart({ data, error }: { data: Throughput | null; error?: string | null }) {
  if (!data) {
    return (
      <div className="chart chart-empty">
        <svg role="img" aria-label="Throughput" viewBox={`0 0 ${WIDTH} ${HEIGHT}`} className="chart-svg" preserveAspectRatio="none" />
        <span className="muted">{error ? `Throughput unavailable: ${error}` : "Loading throughput…"}</span>
      </div>
    );
  }
  const g = chartGeometry(data.points, data.bucket_seconds, WIDTH, HEIGHT);
  const seconds = data.points.length * data.bucket_seconds;
  const description = `Last ${Math.round(seconds / 60)} minutes: ${g.totals.in} in, ${g.totals.out} out, ${g.totals.failed} failed; peak ${formatRate(g.max / 1.15)}.`;
  return (
    <figure className="chart">
      <div className="chart-frame">
        <svg role="img" aria-label="Throughput" viewBox={`0 0 ${WIDTH} ${HEIGHT}`} className="chart-svg" preserveAspectRatio="none">
          <desc>{description}</desc>
          {[0.25, 0.5, 0.75].map((f) => (
            <line key={f} x1={0} x2={WIDTH} y1={HEIGHT * f} y2={HEIGHT * f} className="chart-grid" />
          ))}
          {g.area && <path d={g.area} className="chart-area" />}
          {g.paths.in && <path d={g.paths.in} className="chart-line chart-in" vectorEffect="non-scaling-stroke" />}
          {g.paths.out && <path d={g.paths.out} className="chart-line chart-out" vectorEffect="non-scaling-stroke" />}
          {g.paths.failed && <path d={g.paths.failed} className="chart-line chart-failed" vectorEffect="non-scaling-stroke" />}
        </svg>
        <span className="chart-max">{formatRate(g.max)}</span>
      </div>
      <figcaption className="chart-legend">
        <span className="legend legend-in">in</span>
        <span className="legend legend-out">out</span>
        <span className="legend legend-failed">failed</span>
        <span className="muted chart-span">events/s · last {Math.round(seconds / 60) || 60} min</span>
      </figcaption>
    </figure>
  );
}
