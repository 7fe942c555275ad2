import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ReplayDialog } from "./ReplayDialog";

function json(status: number, body: unknown) {
  return Promise.resolve(new Response(JSON.stringify(body), { status }));
}

describe("ReplayDialog", () => {
  let fetchMock: ReturnType<typeof vi.fn>;

  beforeEach(() => {
    fetchMock = vi.fn(() => json(200, { topic: "shop-events", partitions: [{ partition: 0, offset: 120 }, { partition: 1, offset: 98 }] }));
    vi.stubGlobal("fetch", fetchMock);
  });

  afterEach(() => vi.unstubAllGlobals());

  const body = () => JSON.parse((fetchMock.mock.calls[0]![1] as RequestInit).body as string);

  it("warns, replays from the earliest message by default and shows the new positions", async () => {
    render(<ReplayDialog flowId={3} status="stopped" onClose={() => {}} />);
    const dialog = screen.getByRole("dialog", { name: "Replay messages" });
    expect(dialog).toHaveTextContent(/sent to the destinations again/);
    expect(screen.getByRole("radio", { name: "From the earliest message" })).toBeChecked();
    await userEvent.click(screen.getByRole("button", { name: "Replay" }));
    expect(fetchMock.mock.calls[0]![0]).toBe("/api/v1/flows/3/replay/");
    expect(body()).toEqual({ position: "earliest" });
    const positions = await screen.findByRole("table", { name: "New positions" });
    expect(within(positions).getAllByRole("row")).toHaveLength(3);
    expect(positions).toHaveTextContent("120");
    expect(screen.getByRole("button", { name: "Done" })).toBeInTheDocument();
  });

  it("sends offsets per partition", async () => {
    render(<ReplayDialog flowId={3} status="stopped" onClose={() => {}} />);
    await userEvent.click(screen.getByRole("radio", { name: "From offsets" }));
    await userEvent.type(screen.getByRole("textbox", { name: "Offset, row 1" }), "120");
    await userEvent.click(screen.getByRole("button", { name: "Add partition" }));
    expect(screen.getByRole("textbox", { name: "Partition, row 2" })).toHaveValue("1");
    await userEvent.type(screen.getByRole("textbox", { name: "Offset, row 2" }), "98");
    await userEvent.click(screen.getByRole("button", { name: "Replay" }));
    expect(body()).toEqual({ position: "offsets", offsets: { "0": 120, "1": 98 } });
  });

  it("checks the form before sending", async () => {
    render(<ReplayDialog flowId={3} status="stopped" onClose={() => {}} />);
    await userEvent.click(screen.getByRole("radio", { name: "From a date and time" }));
    await userEvent.click(screen.getByRole("button", { name: "Replay" }));
    expect(screen.getByLabelText("Date and time")).toHaveAccessibleDescription("Choose a date and time.");
    await userEvent.click(screen.getByRole("radio", { name: "From offsets" }));
    await userEvent.click(screen.getByRole("button", { name: "Replay" }));
    expect(screen.getByText(/Row 1: an offset of 0 or more/)).toBeInTheDocument();
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it("is disabled with an explanation while the flow runs or retries", async () => {
    const onStop = vi.fn();
    render(<ReplayDialog flowId={3} status="retrying" onStop={onStop} onClose={() => {}} />);
    expect(screen.getByRole("button", { name: "Replay" })).toBeDisabled();
    expect(screen.getByRole("alert")).toHaveTextContent(/Stop the flow before replaying/);
    await userEvent.click(screen.getByRole("button", { name: "Stop the flow" }));
    expect(onStop).toHaveBeenCalled();
  });

  it("shows the server's refusal", async () => {
    fetchMock.mockImplementation(() => json(400, { error: "invalid replay", details: { timestamp: ["before the topic's retention"] } }));
    render(<ReplayDialog flowId={3} status="stopped" onClose={() => {}} />);
    await userEvent.click(screen.getByRole("button", { name: "Replay" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("invalid replay");
    expect(alert).toHaveTextContent("timestamp: before the topic's retention");
  });
});
