/** Short-lived notifications ("Published v3", "Could not start: …"). */
import { create } from "zustand";

export type ToastKind = "info" | "success" | "error";

export interface Toast {
  id: number;
  kind: ToastKind;
  text: string;
}

interface ToastState {
  toasts: Toast[];
  notify: (kind: ToastKind, text: string, ms?: number) => void;
  dismiss: (id: number) => void;
}

let nextId = 1;

export const useToasts = create<ToastState>((set, get) => ({
  toasts: [],
  notify: (kind, text, ms = kind === "error" ? 8000 : 4000) => {
    const id = nextId++;
    set({ toasts: [...get().toasts.slice(-4), { id, kind, text }] });
    window.setTimeout(() => get().dismiss(id), ms);
  },
  dismiss: (id) => set({ toasts: get().toasts.filter((t) => t.id !== id) }),
}));

export const notify = (kind: ToastKind, text: string) => useToasts.getState().notify(kind, text);

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
