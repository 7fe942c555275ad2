import { fireEvent, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { ComponentDescriptor } from "../../api/types";
import { COMPONENT_MIME } from "../canvas/model";
import { filterComponents, Palette } from "./Palette";

function descriptor(name: string, title: string, kind: "trigger" | "action", description = ""): ComponentDescriptor {
  return { name, title, kind, description, config_schema: {}, credential_type: null, credential_schema: null, sample_config: {} };
}

const catalog = [
  descriptor("kafka", "Kafka consumer", "trigger", "Consume a topic"),
  descriptor("code", "Code", "action", "Transform with Python"),
  descriptor("rest", "HTTP request", "action", "Call an endpoint"),
];

describe("Palette", () => {
  it("groups components and names each item by its title", () => {
    render(<Palette components={catalog} onAdd={() => {}} />);
    expect(screen.getByRole("region", { name: "Components" })).toBeInTheDocument();
    expect(screen.getByRole("heading", { name: "Triggers" })).toBeInTheDocument();
    expect(screen.getByRole("heading", { name: "Actions" })).toBeInTheDocument();
    for (const title of ["Kafka consumer", "Code", "HTTP request"]) {
      expect(screen.getByRole("button", { name: title })).toBeInTheDocument();
    }
  });

  it("filters by the search box", async () => {
    render(<Palette components={catalog} onAdd={() => {}} />);
    await userEvent.type(screen.getByRole("searchbox", { name: "Search components" }), "python");
    expect(screen.getByRole("button", { name: "Code" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "HTTP request" })).not.toBeInTheDocument();
  });

  it("adds on click and on Enter", async () => {
    const onAdd = vi.fn();
    render(<Palette components={catalog} onAdd={onAdd} />);
    await userEvent.click(screen.getByRole("button", { name: "Code" }));
    screen.getByRole("button", { name: "HTTP request" }).focus();
    await userEvent.keyboard("{Enter}");
    expect(onAdd.mock.calls.map((call) => (call[0] as ComponentDescriptor).name)).toEqual(["code", "rest"]);
  });

  it("puts the component name on the drag payload", () => {
    render(<Palette components={catalog} onAdd={() => {}} />);
    const data = new Map<string, string>();
    const dataTransfer = { setData: (k: string, v: string) => data.set(k, v), effectAllowed: "" };
    fireEvent.dragStart(screen.getByRole("button", { name: "Kafka consumer" }), { dataTransfer });
    expect(data.get(COMPONENT_MIME)).toBe("kafka");
  });

  it("matches on name, title and description", () => {
    expect(filterComponents(catalog, "endpoint").map((c) => c.name)).toEqual(["rest"]);
    expect(filterComponents(catalog, "  ").length).toBe(3);
  });
});
