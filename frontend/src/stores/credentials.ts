/** The credentials of the current workspace (names and public fields only; never secrets). */
import { create } from "zustand";
import { api, type Credential } from "../api/client";

interface CredentialsState {
  workspaceId: number | null;
  items: Credential[];
  status: "idle" | "loading" | "ready" | "error";
  error: string | null;
  load: (workspaceId: number | null, force?: boolean) => Promise<void>;
  upsert: (credential: Credential) => void;
  remove: (id: number) => Promise<void>;
}

export const useCredentials = create<CredentialsState>((set, get) => ({
  workspaceId: null,
  items: [],
  status: "idle",
  error: null,
  load: async (workspaceId, force = false) => {
    if (!force && get().workspaceId === workspaceId && get().status === "ready") return;
    set({ workspaceId, status: "loading", error: null, ...(get().workspaceId !== workspaceId ? { items: [] } : {}) });
    try {
      const items = await api.listCredentials(workspaceId);
      if (get().workspaceId !== workspaceId) return;
      set({ items, status: "ready" });
    } catch (error) {
      set({ status: "error", error: error instanceof Error ? error.message : String(error) });
    }
  },
  upsert: (credential) => {
    const items = get().items.filter((c) => c.id !== credential.id);
    set({ items: [...items, credential].sort((a, b) => a.name.localeCompare(b.name)) });
  },
  remove: async (id) => {
    await api.deleteCredential(id);
    set({ items: get().items.filter((c) => c.id !== id) });
  },
}));
