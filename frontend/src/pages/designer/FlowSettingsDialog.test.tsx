import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { describe, expect, it, vi } from "vitest";
import type { FlowSettings, GraphProblem } from "../../api/types";
import { settingsForm, settingsFromForm, type FlowSettingsForm } from "../../lib/flowSettings";
import { FlowSettingsDialog } from "./FlowSettingsDialog";

function Harness({ problems = [], onChange }: { problems?: GraphProblem[]; onChange?: (patch: Partial<FlowSettingsForm>) => void }) {
  const [settings, setSettings] = useState<FlowSettings | undefined>(undefined);
  return (
    <FlowSettingsDialog
      settings={settings}
      problems={problems}
      onChange={(patch) => {
        onChange?.(patch);
        setSettings((current) => settingsFromForm({ ...settingsForm(current), ...patch }, current));
      }}
      onClose={() => {}}
    />
  );
}

describe("FlowSettingsDialog", () => {
  it("is a dialog named Flow settings, showing the defaults", () => {
    render(<Harness />);
    expect(screen.getByRole("dialog", { name: "Flow settings" })).toBeInTheDocument();
    expect(screen.getByRole("textbox", { name: "Dead-letter topic" })).toHaveValue("");
    expect(screen.getByRole("radio", { name: "Pause and retry" })).toBeChecked();
    expect(screen.getByRole("radio", { name: "Fail the messages" })).not.toBeChecked();
    expect(screen.getByRole("group", { name: "When a destination fails every attempt" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Done" })).toBeInTheDocument();
  });

  it("reports each edit", async () => {
    const onChange = vi.fn();
    render(<Harness onChange={onChange} />);
    await userEvent.type(screen.getByRole("textbox", { name: "Dead-letter topic" }), "dlq");
    await userEvent.click(screen.getByRole("radio", { name: "Fail the messages" }));
    expect(onChange).toHaveBeenCalledWith({ deadLetterTopic: "dlq" });
    expect(onChange).toHaveBeenLastCalledWith({ onOutage: "fail" });
    expect(screen.getByRole("radio", { name: "Fail the messages" })).toBeChecked();
  });

  it("flags a bad topic name before the server does", async () => {
    render(<Harness />);
    const topic = screen.getByRole("textbox", { name: "Dead-letter topic" });
    await userEvent.type(topic, "a b");
    expect(topic).toHaveAccessibleDescription(/only letters/);
    expect(topic).toHaveAttribute("aria-invalid", "true");
  });

  it("shows the server's settings problems on their fields", () => {
    render(
      <Harness
        problems={[
          { node: null, field: "settings.dead_letter_topic", message: "topic does not exist" },
          { node: null, field: "settings.on_outage", message: "must be pause or fail" },
          { node: null, field: "settings", message: "unknown key colour" },
        ]}
      />,
    );
    expect(screen.getByRole("textbox", { name: "Dead-letter topic" })).toHaveAccessibleDescription(/topic does not exist/);
    expect(screen.getByRole("group", { name: "When a destination fails every attempt" })).toHaveAccessibleDescription("must be pause or fail");
    expect(screen.getByRole("alert")).toHaveTextContent("unknown key colour");
  });
});
