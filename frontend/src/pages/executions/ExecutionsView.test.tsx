import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { FlowStats } from "../../api/types";
import { useExecutions } from "../../stores/executions";
import { useToasts } from "../../stores/toasts";
import { ExecutionsView } from "./ExecutionsView";

const stats: FlowStats = {
  window_seconds: 3600,
  in: 200,
  out: 180,
  filtered: 5,
  failed: 15,
  running: 0,
  latency_ms: { p50: 12, p99: 80 },
  duplicates: 3,
  dead_lettered: 15,
};

function json(status: number, body: unknown) {
  return Promise.resolve(new Response(JSON.stringify(body), { status }));
}

describe("ExecutionsView", () => {
  let fetchMock: ReturnType<typeof vi.fn>;

  beforeEach(() => {
    useExecutions.setState({ flowId: null, filters: { status: "", range: "all", search: "" } });
    useToasts.setState({ toasts: [] });
    fetchMock = vi.fn((url: string, init?: RequestInit) => {
      if (init?.method === "POST") return json(202, { retried: 15, skipped: 0 });
      if (url.includes("/stats/")) return json(200, stats);
      if (url.includes("/throughput/")) return json(200, { bucket_seconds: 60, points: [] });
      const failedOnly = url.includes("status=failed");
      return json(200, { count: failedOnly ? 15 : 0, next: null, previous: null, results: [] });
    });
    vi.stubGlobal("fetch", fetchMock);
  });

  afterEach(() => {
    useExecutions.getState().close();
    vi.unstubAllGlobals();
  });

  it("shows possible duplicates (highlighted) and dead-lettered among the counters", async () => {
    render(<ExecutionsView flowId={9} executionId={null} graph={{ nodes: [], edges: [] }} descriptors={[]} />);
    const overview = screen.getByRole("region", { name: "Last hour" });
    const duplicates = (await within(overview).findByText("possible duplicates")).closest(".stat")!;
    expect(duplicates).toHaveTextContent("3");
    expect(duplicates).toHaveClass("stat-warn");
    const deadLettered = within(overview).getByText("dead-lettered").closest(".stat")!;
    expect(deadLettered).toHaveTextContent("15");
    expect(deadLettered).not.toHaveClass("stat-warn");
  });

  it("shows the consumer lag summed over partitions, with each partition in its hint", async () => {
    fetchMock.mockImplementation((url: string) => {
      if (url.includes("/stats/"))
        return json(200, {
          ...stats,
          consumer_lag: [
            { topic: "shop-events", partition: 0, lag: 40 },
            { topic: "shop-events", partition: 1, lag: 2 },
          ],
        });
      if (url.includes("/throughput/")) return json(200, { bucket_seconds: 60, points: [] });
      return json(200, { count: 0, next: null, previous: null, results: [] });
    });
    render(<ExecutionsView flowId={9} executionId={null} graph={{ nodes: [], edges: [] }} descriptors={[]} />);
    const overview = screen.getByRole("region", { name: "Last hour" });
    const lag = (await within(overview).findByText("consumer lag")).closest(".stat")!;
    expect(lag).toHaveTextContent("42");
    expect(lag).toHaveClass("stat-warn");
    expect(lag).toHaveAttribute("title", expect.stringContaining("shop-events[0] 40, shop-events[1] 2"));
  });

  it("leaves the consumer lag out while the flow is not consuming", async () => {
    render(<ExecutionsView flowId={9} executionId={null} graph={{ nodes: [], edges: [] }} descriptors={[]} />);
    const overview = screen.getByRole("region", { name: "Last hour" });
    await within(overview).findByText("possible duplicates");
    expect(within(overview).queryByText("consumer lag")).toBeNull();
  });

  it("retries all failed executions of the current filters after saying how many", async () => {
    useExecutions.setState({ filters: { status: "", range: "all", search: "503" } });
    render(<ExecutionsView flowId={9} executionId={null} graph={{ nodes: [], edges: [] }} descriptors={[]} />);
    await userEvent.click(screen.getByRole("button", { name: "Retry all failed" }));
    const dialog = await screen.findByRole("dialog", { name: "Retry all failed executions?" });
    expect(dialog).toHaveAccessibleDescription(/15 failed executions matching “503” will be run again/);
    const count = fetchMock.mock.calls.find(([url]) => String(url).includes("status=failed"))!;
    expect(count[0]).toContain("search=503");

    await userEvent.click(within(dialog).getByRole("button", { name: "Retry 15 executions" }));
    const post = fetchMock.mock.calls.find(([, init]) => (init as RequestInit | undefined)?.method === "POST")!;
    expect(post[0]).toBe("/api/v1/flows/9/executions/retry/");
    expect(JSON.parse((post[1] as RequestInit).body as string)).toEqual({ search: "503" });
    expect(await screen.findByText("Retrying 15 executions.", { selector: "[role=status]" })).toBeInTheDocument();
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
  });
});
