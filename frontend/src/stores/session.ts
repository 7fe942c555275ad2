/** Who is logged in, their workspaces and the one the UI works in (remembered per browser). */
import { create } from "zustand";
import { api, ApiError, type Session, type User, type WorkspaceRef } from "../api/client";

export const WORKSPACE_KEY = "tributary.workspace";

type Status = "loading" | "anonymous" | "authenticated" | "error";

interface SessionState {
  status: Status;
  user: User | null;
  workspaces: WorkspaceRef[];
  workspaceId: number | null;
  error: string | null;
  load: () => Promise<void>;
  login: (username: string, password: string) => Promise<void>;
  logout: () => Promise<void>;
  setWorkspace: (id: number) => void;
  expire: () => void;
}

function storedWorkspace(): number | null {
  try {
    const value = Number(window.localStorage.getItem(WORKSPACE_KEY));
    return Number.isInteger(value) && value > 0 ? value : null;
  } catch {
    return null;
  }
}

export function chooseWorkspace(workspaces: WorkspaceRef[], stored: number | null): number | null {
  if (stored !== null && workspaces.some((w) => w.id === stored)) return stored;
  return workspaces[0]?.id ?? null;
}

function fromSession(session: Session) {
  const workspaces = session.workspaces ?? [];
  return {
    status: "authenticated" as const,
    user: session.user,
    workspaces,
    workspaceId: chooseWorkspace(workspaces, storedWorkspace()),
    error: null,
  };
}

export const useSession = create<SessionState>((set) => ({
  status: "loading",
  user: null,
  workspaces: [],
  workspaceId: null,
  error: null,

  load: async () => {
    try {
      set(fromSession(await api.getSession()));
    } catch (error) {
      if (error instanceof ApiError && error.isAuth) {
        set({ status: "anonymous", user: null, workspaces: [], error: null });
        return;
      }
      if (error instanceof ApiError && error.status === 404) {
        // An older back end without auth/session/: the workspace list tells whether we are in.
        try {
          const page = await api.listWorkspaces();
          const workspaces = page.results.map((w) => ({ id: w.id, name: w.name, role: w.role }));
          set(fromSession({ user: { id: 0, username: "", is_staff: false }, workspaces }));
        } catch {
          set({ status: "anonymous", user: null, workspaces: [], error: null });
        }
        return;
      }
      set({ status: "error", error: error instanceof Error ? error.message : String(error) });
    }
  },

  login: async (username, password) => {
    // Errors propagate to the login form, which shows them.
    set(fromSession(await api.login(username, password)));
  },

  logout: async () => {
    try {
      await api.logout();
    } finally {
      set({ status: "anonymous", user: null, workspaces: [], workspaceId: null, error: null });
    }
  },

  setWorkspace: (id) => {
    try {
      window.localStorage.setItem(WORKSPACE_KEY, String(id));
    } catch {
      // Private mode: the choice lasts for this page only.
    }
    set({ workspaceId: id });
  },

  expire: () => set({ status: "anonymous", user: null, workspaces: [], error: null }),
}));
