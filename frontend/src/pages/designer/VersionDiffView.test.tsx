import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ComponentDescriptor, Flow, FlowVersion, Graph, GraphDiff } from "../../api/client";
import { VersionDiffView } from "./VersionDiffView";
import { VersionsDialog } from "./VersionsDialog";

function json(status: number, body: unknown) {
  return Promise.resolve(new Response(JSON.stringify(body), { status }));
}

const CODE: ComponentDescriptor = {
  name: "code",
  kind: "action",
  title: "Code",
  description: "",
  config_schema: { type: "object", properties: { code: { type: "string", title: "Transform code" } } },
  credential_type: null,
  credential_schema: null,
  sample_config: {},
};

const trigger = { id: "in", component: "kafka", config: { topic: "events" }, credential: null, position: { x: 0, y: 0 } };
const transform = (code: string) => ({ id: "transform", component: "code", config: { code }, credential: null, position: { x: 300, y: 0 } });

const V1 = { nodes: [trigger, transform("def run(msg):\n    return msg.body\n")], edges: [{ source: "in", target: "transform" }] };
const V2 = { ...V1, settings: { dead_letter_topic: "dead" } };
const DRAFT: Graph = {
  nodes: [
    { ...trigger, config: { topic: "orders" } },
    transform("def run(msg):\n    log(msg.body)\n    return msg.body\n"),
    { id: "send", component: "rest", config: {}, credential: null, position: { x: 600, y: 0 } },
  ],
  edges: [...V1.edges, { source: "transform", target: "send" }],
};

const VERSIONS: FlowVersion[] = [
  { id: 12, number: 2, graph: V2, created_at: "2026-11-02T10:00:00Z" },
  { id: 11, number: 1, graph: V1, created_at: "2026-11-01T10:00:00Z" },
];

const TO_DRAFT: GraphDiff = {
  nodes: { added: ["send"], removed: [], changed: [{ id: "in", fields: ["config.topic"] }, { id: "transform", fields: ["config.code"] }] },
  edges: { added: [{ source: "transform", target: "send" }], removed: [] },
  settings_changed: [],
};
const V1_TO_V2: GraphDiff = {
  nodes: { added: [], removed: [], changed: [] },
  edges: { added: [], removed: [] },
  settings_changed: ["dead_letter_topic"],
};
const NOTHING: GraphDiff = { nodes: { added: [], removed: [], changed: [] }, edges: { added: [], removed: [] }, settings_changed: [] };

describe("VersionDiffView", () => {
  let fetchMock: ReturnType<typeof vi.fn>;
  const urls = () => fetchMock.mock.calls.map((call) => call[0] as string);

  const respond = (url: string) => {
    if (url === "/api/v1/flows/7/versions/1/diff/draft/") return json(200, TO_DRAFT);
    if (url === "/api/v1/flows/7/versions/1/diff/2/") return json(200, V1_TO_V2);
    if (url === "/api/v1/flows/7/versions/2/diff/1/") return json(200, { ...V1_TO_V2 });
    if (url === "/api/v1/flows/7/versions/2/diff/draft/") return json(200, NOTHING);
    if (url === "/api/v1/flows/7/") return json(200, { id: 7, graph: DRAFT });
    return json(404, { error: "no such thing", details: {} });
  };

  beforeEach(() => {
    fetchMock = vi.fn(respond);
    vi.stubGlobal("fetch", fetchMock);
  });

  afterEach(() => vi.unstubAllGlobals());

  it("compares a version with the draft: steps, fields before and after, code lines, connections", async () => {
    const prepareDraft = vi.fn(() => Promise.resolve());
    render(<VersionDiffView flowId={7} versions={VERSIONS} descriptors={[CODE]} initialFrom={1} prepareDraft={prepareDraft} />);

    // The summary is announced (role status) once the comparison is in.
    expect(await screen.findByText("1 step added, 2 changed · 1 connection added")).toHaveAttribute("role", "status");
    expect(prepareDraft).toHaveBeenCalledTimes(1);
    expect(urls()).toEqual(expect.arrayContaining(["/api/v1/flows/7/versions/1/diff/draft/", "/api/v1/flows/7/"]));
    expect(screen.getByRole("region", { name: "Changes from v1 to the draft" })).toBeInTheDocument();

    const added = screen.getByRole("heading", { name: "Steps added (1)" }).closest("section")!;
    expect(within(added).getByRole("listitem")).toHaveTextContent("added: send");

    const topic = screen.getByRole("table", { name: "Changes to in" });
    const row = within(topic).getByRole("row", { name: /Topic/ });
    expect(row).toHaveTextContent('"events"');
    expect(row).toHaveTextContent('"orders"');

    const code = screen.getByRole("region", { name: "Line changes in Transform code" });
    const addedLines = within(code)
      .getAllByRole("row")
      .filter((tr) => tr.classList.contains("line-added"));
    expect(addedLines).toHaveLength(1);
    expect(addedLines[0]).toHaveTextContent("added:");
    expect(addedLines[0]).toHaveTextContent("log(msg.body)");

    const connections = screen.getByRole("heading", { name: "Connections added (1)" }).closest("section")!;
    expect(connections).toHaveTextContent("transform → to send");
  });

  it("compares two versions, with their own graphs, and swaps them", async () => {
    render(<VersionDiffView flowId={7} versions={VERSIONS} descriptors={[CODE]} initialFrom={1} />);
    await screen.findByText(/^1 step added/);
    await userEvent.selectOptions(screen.getByRole("combobox", { name: "To" }), "2");

    const settings = await screen.findByRole("table", { name: "Changes to the flow settings" });
    const row = within(settings).getByRole("row", { name: /Dead-letter topic/ });
    expect(row).toHaveTextContent("not set");
    expect(row).toHaveTextContent('"dead"');
    expect(screen.getByText("1 setting changed")).toHaveAttribute("role", "status");
    // The draft was fetched only for the first comparison.
    expect(urls().filter((url) => url === "/api/v1/flows/7/")).toHaveLength(1);

    await userEvent.click(screen.getByRole("button", { name: "Swap the two versions" }));
    await waitFor(() => expect(urls()).toContain("/api/v1/flows/7/versions/2/diff/1/"));
    expect(screen.getByRole("combobox", { name: "From" })).toHaveValue("2");
    const swapped = await screen.findByRole("table", { name: "Changes to the flow settings" });
    expect(within(swapped).getByRole("row", { name: /Dead-letter topic/ }).querySelector(".diff-before")).toHaveTextContent('"dead"');
  });

  it("says when there is no difference", async () => {
    render(<VersionDiffView flowId={7} versions={VERSIONS} descriptors={[]} initialFrom={2} />);
    expect(await screen.findByRole("heading", { name: "No differences" })).toBeInTheDocument();
    expect(screen.getByText("v2 and the draft define the same flow.")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Swap the two versions" })).toBeDisabled();
  });

  it("shows the server's error and tries again", async () => {
    fetchMock.mockImplementationOnce(() => json(404, { error: "flow has no version 1", details: {} }));
    render(<VersionDiffView flowId={7} versions={VERSIONS} descriptors={[]} initialFrom={1} />);
    expect(await screen.findByRole("alert")).toHaveTextContent("flow has no version 1");
    await userEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(await screen.findByText(/^1 step added/)).toBeInTheDocument();
  });

  it("opens from the versions dialog's Compare button and goes back to the list", async () => {
    fetchMock.mockImplementation((url: string) =>
      url.startsWith("/api/v1/flows/7/versions/?") ? json(200, { count: 2, next: null, previous: null, results: VERSIONS }) : respond(url),
    );
    const flow: Flow = { id: 7, workspace: 1, name: "Orders", graph: DRAFT, status: "draft", active_version: 2, created_at: "", updated_at: "" };
    render(<VersionsDialog flow={flow} descriptors={[CODE]} onRestore={() => Promise.resolve()} onClose={() => {}} />);
    const compare = await screen.findAllByRole("button", { name: "Compare" });
    await userEvent.click(compare[1]!); // v1
    expect(screen.getByRole("dialog", { name: "Compare versions" })).toBeInTheDocument();
    expect(await screen.findByText(/^1 step added/)).toBeInTheDocument();
    expect(screen.getByRole("combobox", { name: "From" })).toHaveValue("1");
    await userEvent.click(screen.getByRole("button", { name: "← All versions" }));
    expect(screen.getByRole("dialog", { name: "Versions" })).toBeInTheDocument();
  });
});
