import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Flow, FlowTemplate } from "../../api/types";
import { FlowsListPage } from "../../pages/FlowsListPage";
import { useSession } from "../../stores/session";
import { suggestName, TemplateGallery } from "./TemplateGallery";

const TEMPLATES: FlowTemplate[] = [
  {
    slug: "kafka-bloomreach-track-events",
    title: "Kafka → Bloomreach: track events",
    description: "Turns each raw shop event into a Bloomreach customers/events command.",
    tags: ["bloomreach", "kafka"],
    components: [
      { name: "kafka", title: "Kafka consumer" },
      { name: "code", title: "Code" },
      { name: "bloomreach", title: "Bloomreach Engagement" },
    ],
    flow_name: "Shop events → Bloomreach (track events)",
  },
  {
    slug: "kafka-rest-webhook",
    title: "Kafka → REST webhook",
    description: "Posts an order.placed payload for every purchase.",
    tags: ["rest", "webhook"],
    components: [
      { name: "kafka", title: "Kafka consumer" },
      { name: "code", title: "Code" },
      { name: "rest", title: "HTTP request" },
    ],
    flow_name: "Shop orders → webhook",
  },
];

function flow(id: number, name: string): Flow {
  return {
    id,
    workspace: 1,
    name,
    graph: { nodes: [], edges: [] },
    status: "draft",
    active_version: null,
    created_at: "2025-01-01T00:00:00Z",
    updated_at: "2025-01-01T00:00:00Z",
  };
}

const json = (body: unknown, status = 200) => Promise.resolve(new Response(JSON.stringify(body), { status }));

describe("TemplateGallery", () => {
  let calls: { url: string; method: string; body: unknown }[];
  let useAnswer: () => Promise<Response>;
  let flows: Flow[];

  beforeEach(() => {
    calls = [];
    flows = [];
    useAnswer = () => json(flow(42, "Shop orders → webhook"), 201);
    useSession.setState({ status: "authenticated", workspaceId: 1, workspaces: [{ id: 1, name: "Shop", role: "owner" }] });
    vi.stubGlobal(
      "fetch",
      vi.fn((url: string, init?: RequestInit) => {
        const method = init?.method ?? "GET";
        calls.push({ url, method, body: init?.body ? JSON.parse(String(init.body)) : undefined });
        if (url.startsWith("/api/v1/templates/") && url.endsWith("/use/")) return useAnswer();
        if (url === "/api/v1/templates/") return json(TEMPLATES);
        if (url.startsWith("/api/v1/flows/")) return json({ count: flows.length, next: null, previous: null, results: flows });
        return json({ error: "not found", details: {} }, 404);
      }),
    );
  });

  afterEach(() => vi.unstubAllGlobals());

  it("shows each template as a card with its description and component chain", async () => {
    render(<TemplateGallery workspaceId={1} onClose={() => {}} onCreated={() => {}} />);
    const dialog = screen.getByRole("dialog", { name: "New from template" });
    const card = await within(dialog).findByRole("article", { name: "Kafka → REST webhook" });
    expect(within(card).getByText("Posts an order.placed payload for every purchase.")).toBeInTheDocument();
    const steps = within(within(card).getByRole("list", { name: "Steps" })).getAllByRole("listitem");
    expect(steps.map((s) => s.textContent)).toEqual(["Kafka consumer", "Code", "HTTP request"]);
    expect(within(card).getByText("webhook")).toHaveClass("tag");
    expect(within(dialog).getAllByRole("article")).toHaveLength(2);
  });

  it("asks for a name, creates the flow from the chosen template in the workspace and hands it over", async () => {
    const onCreated = vi.fn();
    render(<TemplateGallery workspaceId={1} takenNames={["Shop orders → webhook"]} onClose={() => {}} onCreated={onCreated} />);
    await userEvent.click(await screen.findByRole("button", { name: "Use Kafka → REST webhook" }));

    const dialog = screen.getByRole("dialog", { name: "New flow from “Kafka → REST webhook”" });
    const name = within(dialog).getByLabelText("Flow name");
    expect(name).toHaveValue("Shop orders → webhook (2)"); // the template's name, made free
    await userEvent.clear(name);
    await userEvent.type(name, "Orders to the ERP");
    await userEvent.click(within(dialog).getByRole("button", { name: "Create" }));

    await vi.waitFor(() => expect(onCreated).toHaveBeenCalledWith(expect.objectContaining({ id: 42 })));
    const use = calls.find((c) => c.method === "POST");
    expect(use?.url).toBe("/api/v1/templates/kafka-rest-webhook/use/");
    expect(use?.body).toEqual({ workspace: 1, name: "Orders to the ERP" });
  });

  it("shows the server's refusal in the name dialog and creates nothing", async () => {
    useAnswer = () => json({ error: "viewers cannot change this workspace", details: { workspace: "read-only" } }, 403);
    const onCreated = vi.fn();
    render(<TemplateGallery workspaceId={1} onClose={() => {}} onCreated={onCreated} />);
    await userEvent.click(await screen.findByRole("button", { name: "Use Kafka → Bloomreach: track events" }));
    await userEvent.click(screen.getByRole("button", { name: "Create" }));

    expect(await screen.findByRole("alert")).toHaveTextContent("viewers cannot change this workspace");
    expect(onCreated).not.toHaveBeenCalled();
    // Cancel returns to the gallery.
    await userEvent.click(screen.getByRole("button", { name: "Cancel" }));
    expect(screen.getByRole("dialog", { name: "New from template" })).toBeInTheDocument();
  });

  it("says when the templates cannot be loaded, and loads them again on request", async () => {
    let failing = true;
    vi.stubGlobal(
      "fetch",
      vi.fn(() => (failing ? json({ error: "the server is restarting", details: {} }, 503) : json(TEMPLATES))),
    );
    render(<TemplateGallery workspaceId={1} onClose={() => {}} onCreated={() => {}} />);
    expect(await screen.findByRole("alert")).toHaveTextContent("The templates could not be loaded: the server is restarting");
    failing = false;
    await userEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(await screen.findByRole("article", { name: "Kafka → REST webhook" })).toBeInTheDocument();
  });

  it("is reached from the flows list and from its empty state", async () => {
    render(<FlowsListPage />);
    await userEvent.click(await screen.findByRole("button", { name: "Start from a template" }));
    expect(await screen.findByRole("article", { name: "Kafka → REST webhook" })).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Close" }));
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();

    await userEvent.click(screen.getByRole("button", { name: "New from template" }));
    await userEvent.click(await screen.findByRole("button", { name: "Use Kafka → REST webhook" }));
    await userEvent.click(screen.getByRole("button", { name: "Create" }));
    await vi.waitFor(() => expect(window.location.pathname).toBe("/flows/42"));
  });

  it("suggests the first free name, as the server would", () => {
    expect(suggestName("Orders", [])).toBe("Orders");
    expect(suggestName("Orders", ["Orders", "Orders (2)", "Other"])).toBe("Orders (3)");
  });
});
