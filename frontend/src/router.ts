/**
 * A tiny history-API router: the app has five screens, which does not justify a dependency.
 * `matchRoute` is pure; `useRoute` re-renders on navigation.
 */
import { useSyncExternalStore } from "react";

export type Route =
  | { name: "flows" }
  | { name: "designer"; flowId: number; tab: "designer" | "executions"; executionId: number | null }
  | { name: "credentials" }
  | { name: "storage" }
  | { name: "login" }
  | { name: "notFound"; path: string };

export function matchRoute(pathname: string): Route {
  const path = pathname.replace(/\/+$/, "") || "/";
  if (path === "/" || path === "/flows") return { name: "flows" };
  if (path === "/credentials") return { name: "credentials" };
  if (path === "/storage") return { name: "storage" };
  if (path === "/login") return { name: "login" };
  const designer = /^\/flows\/(\d+)(?:\/(executions)(?:\/(\d+))?)?$/.exec(path);
  if (designer) {
    return {
      name: "designer",
      flowId: Number(designer[1]),
      tab: designer[2] ? "executions" : "designer",
      executionId: designer[3] ? Number(designer[3]) : null,
    };
  }
  return { name: "notFound", path };
}

export function flowPath(flowId: number, tab: "designer" | "executions" = "designer", executionId?: number | null): string {
  if (tab === "designer") return `/flows/${flowId}`;
  return executionId ? `/flows/${flowId}/executions/${executionId}` : `/flows/${flowId}/executions`;
}

const NAVIGATE_EVENT = "tributary:navigate";

function subscribe(callback: () => void): () => void {
  window.addEventListener("popstate", callback);
  window.addEventListener(NAVIGATE_EVENT, callback);
  return () => {
    window.removeEventListener("popstate", callback);
    window.removeEventListener(NAVIGATE_EVENT, callback);
  };
}

function currentPath(): string {
  return window.location.pathname;
}

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === window.location.pathname + window.location.search) return;
  if (options.replace) window.history.replaceState(null, "", to);
  else window.history.pushState(null, "", to);
  window.dispatchEvent(new Event(NAVIGATE_EVENT));
}

export function usePathname(): string {
  return useSyncExternalStore(subscribe, currentPath, () => "/");
}

export function useRoute(): Route {
  return matchRoute(usePathname());
}
