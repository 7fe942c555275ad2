import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { useSession } from "../stores/session";
import { LoginPage } from "./LoginPage";

describe("LoginPage", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("logs in with the CSRF token and lands authenticated", async () => {
    document.cookie = "csrftoken=abc123";
    const fetchMock = vi.fn((_url: string, _init: RequestInit) =>
      Promise.resolve(
        new Response(JSON.stringify({ user: { id: 1, username: "ada", is_staff: true }, workspaces: [{ id: 4, name: "Default", role: "owner" }] }), {
          status: 200,
        }),
      ),
    );
    vi.stubGlobal("fetch", fetchMock);
    render(<LoginPage />);
    await userEvent.type(screen.getByLabelText("Username"), "ada");
    await userEvent.type(screen.getByLabelText("Password"), "secret");
    await userEvent.click(screen.getByRole("button", { name: "Log in" }));

    const [url, init] = fetchMock.mock.calls[0]!;
    expect(url).toBe("/api/v1/auth/session/");
    expect(init.method).toBe("POST");
    expect((init.headers as Record<string, string>)["X-CSRFToken"]).toBe("abc123");
    expect(init.credentials).toBe("same-origin");
    expect(JSON.parse(init.body as string)).toEqual({ username: "ada", password: "secret" });
    expect(useSession.getState()).toMatchObject({ status: "authenticated", workspaceId: 4 });
  });

  it("shows the server's error", async () => {
    vi.stubGlobal("fetch", vi.fn(() => Promise.resolve(new Response(JSON.stringify({ error: "wrong username or password" }), { status: 400 }))));
    render(<LoginPage />);
    await userEvent.type(screen.getByLabelText("Username"), "ada");
    await userEvent.type(screen.getByLabelText("Password"), "nope");
    await userEvent.click(screen.getByRole("button", { name: "Log in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("wrong username or password");
  });
});
