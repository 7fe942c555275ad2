import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CodeTestPanel } from "./CodeTestPanel";

function json(status: number, body: unknown) {
  return Promise.resolve(new Response(JSON.stringify(body), { status }));
}

const TEMPLATES = [
  { slug: "kafka-rest-webhook", title: "Kafka → REST webhook", description: "", tags: [], components: [], flow_name: "Webhook" },
];

const DETAIL = {
  ...TEMPLATES[0],
  graph: { nodes: [], edges: [] },
  credentials: {},
  transform_node: "transform",
  samples: [
    { description: "kept", message: { body: { event_id: "e-1", type: "purchase" } }, expected_output: [{ id: "e-1" }] },
    { description: "dropped", message: { body: { event_id: "e-2", type: "noise" } }, expected_output: [] },
  ],
};

describe("CodeTestPanel", () => {
  let fetchMock: ReturnType<typeof vi.fn>;

  beforeEach(() => {
    fetchMock = vi.fn((url: string) => {
      if (url === "/api/v1/templates/") return json(200, TEMPLATES);
      if (url === "/api/v1/templates/kafka-rest-webhook/") return json(200, DETAIL);
      return json(404, { error: "not found" });
    });
    vi.stubGlobal("fetch", fetchMock);
  });

  afterEach(() => vi.unstubAllGlobals());

  it("takes its sample messages from a template of the gallery", async () => {
    render(<CodeTestPanel code="" flowId={null} nodeKey="template-test" onRunFailure={() => {}} />);
    const picker = screen.getByRole("combobox", { name: "Template samples" });
    await userEvent.click(picker);
    await screen.findByRole("option", { name: "Kafka → REST webhook" });
    await userEvent.selectOptions(picker, "kafka-rest-webhook");

    const sample = screen.getByRole("textbox", { name: "Sample message" });
    await screen.findByText(/2 samples of the template "Kafka → REST webhook"/);
    expect(JSON.parse((sample as HTMLTextAreaElement).value)).toEqual({ body: { event_id: "e-1", type: "purchase" } });
    await userEvent.selectOptions(screen.getByRole("combobox", { name: "Fetched samples" }), "1");
    expect(JSON.parse((sample as HTMLTextAreaElement).value)).toEqual({ body: { event_id: "e-2", type: "noise" } });
  });

  it("names the problem when the template cannot be loaded", async () => {
    fetchMock.mockImplementation((url: string) =>
      url === "/api/v1/templates/" ? json(200, TEMPLATES) : json(500, { error: "the server broke" }),
    );
    render(<CodeTestPanel code="" flowId={null} nodeKey="template-error" onRunFailure={() => {}} />);
    const picker = screen.getByRole("combobox", { name: "Template samples" });
    await userEvent.click(picker);
    await screen.findByRole("option", { name: "Kafka → REST webhook" });
    await userEvent.selectOptions(picker, "kafka-rest-webhook");
    expect(await screen.findByText(/Could not load the template's samples: the server broke/)).toBeInTheDocument();
  });
});
