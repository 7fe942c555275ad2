/** The component catalog (GET /components/), loaded once per session. */
import { create } from "zustand";
import { api, type ComponentDescriptor, type JSONSchema } from "../api/client";

interface CatalogState {
  components: ComponentDescriptor[];
  status: "idle" | "loading" | "ready" | "error";
  error: string | null;
  load: (force?: boolean) => Promise<void>;
}

export const useCatalog = create<CatalogState>((set, get) => ({
  components: [],
  status: "idle",
  error: null,
  load: async (force = false) => {
    if (!force && (get().status === "ready" || get().status === "loading")) return;
    set({ status: "loading", error: null });
    try {
      set({ components: await api.listComponents(), status: "ready" });
    } catch (error) {
      set({ status: "error", error: error instanceof Error ? error.message : String(error) });
    }
  },
}));

export function descriptorOf(components: ComponentDescriptor[], name: string): ComponentDescriptor | undefined {
  return components.find((c) => c.name === name);
}

export function kindFrom(components: ComponentDescriptor[]) {
  return (name: string) => descriptorOf(components, name)?.kind;
}

/** Credential type → its schema and the titles of the components that use it. */
export interface CredentialType {
  type: string;
  schema: JSONSchema;
  usedBy: string[];
}

export function credentialTypes(components: ComponentDescriptor[]): CredentialType[] {
  const types = new Map<string, CredentialType>();
  for (const c of components) {
    if (!c.credential_type || !c.credential_schema) continue;
    const entry = types.get(c.credential_type) ?? { type: c.credential_type, schema: c.credential_schema, usedBy: [] };
    entry.usedBy.push(c.title);
    types.set(c.credential_type, entry);
  }
  return [...types.values()];
}
