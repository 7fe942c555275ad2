import { afterEach, describe, expect, it, vi } from "vitest";
import { chooseWorkspace, useSession, WORKSPACE_KEY } from "./session";

function answer(status: number, body: unknown) {
  return Promise.resolve(new Response(status === 204 ? null : JSON.stringify(body), { status }));
}

describe("session store", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("chooses the remembered workspace when it is still one of the user's", () => {
    const workspaces = [
      { id: 1, name: "A", role: "owner" },
      { id: 2, name: "B", role: "editor" },
    ];
    expect(chooseWorkspace(workspaces, 2)).toBe(2);
    expect(chooseWorkspace(workspaces, 9)).toBe(1);
    expect(chooseWorkspace([], null)).toBeNull();
  });

  it("loads the session and restores the workspace from localStorage", async () => {
    window.localStorage.setItem(WORKSPACE_KEY, "2");
    vi.stubGlobal("fetch", vi.fn(() =>
      answer(200, {
        user: { id: 1, username: "ada", is_staff: false },
        workspaces: [
          { id: 1, name: "A", role: "owner" },
          { id: 2, name: "B", role: "editor" },
        ],
      }),
    ));
    await useSession.getState().load();
    expect(useSession.getState()).toMatchObject({ status: "authenticated", workspaceId: 2 });
    useSession.getState().setWorkspace(1);
    expect(window.localStorage.getItem(WORKSPACE_KEY)).toBe("1");
  });

  it("is anonymous on 401 or 403", async () => {
    vi.stubGlobal("fetch", vi.fn(() => answer(403, { error: "Authentication credentials were not provided." })));
    await useSession.getState().load();
    expect(useSession.getState().status).toBe("anonymous");
  });
});
