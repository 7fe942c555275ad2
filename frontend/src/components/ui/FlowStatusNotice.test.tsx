import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { FlowStatusNotice } from "./FlowStatusNotice";

describe("FlowStatusNotice", () => {
  it("says a retrying flow resumes by itself, with the reason, politely", () => {
    render(<FlowStatusNotice status="retrying" reason="Bloomreach Engagement (bloomreach-1): HTTP 503; trying again in 30 s" />);
    const notice = screen.getByRole("status");
    expect(notice).toHaveClass("status-reason-retrying");
    expect(notice).toHaveTextContent(/retries by itself/);
    expect(notice).toHaveTextContent("trying again in 30 s");
  });

  it("alerts when the flow failed, and says nothing for a running flow", () => {
    const { rerender } = render(<FlowStatusNotice status="failed" reason="no such topic" />);
    expect(screen.getByRole("alert")).toHaveTextContent("The flow stopped with an error: no such topic");
    rerender(<FlowStatusNotice status="running" reason="" />);
    expect(screen.queryByTestId("flow-status-reason")).not.toBeInTheDocument();
  });
});
