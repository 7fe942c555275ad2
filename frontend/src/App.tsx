/** The shell: session gate, top bar (nav, workspace, user) and the routed page. */
import { lazy, Suspense, useEffect } from "react";
import { onUnauthorized } from "./api/client";
import { EmptyState, ErrorBanner, Spinner } from "./components/ui/EmptyState";
import { Icon } from "./components/ui/Icon";
import { Link } from "./components/ui/Link";
import { Toasts } from "./components/ui/Toasts";
import { canSeeStorage } from "./lib/storage";
import { CredentialsPage } from "./pages/CredentialsPage";
import { FlowsListPage } from "./pages/FlowsListPage";
import { LoginPage } from "./pages/LoginPage";
import { StoragePage } from "./pages/StoragePage";
import { navigate, useRoute, type Route } from "./router";
import { useSession } from "./stores/session";
import { notify } from "./stores/toasts";

// The designer brings React Flow and CodeMirror: load it when a flow is opened.
const FlowDesignerPage = lazy(() => import("./pages/designer/FlowDesignerPage").then((m) => ({ default: m.FlowDesignerPage })));

function TopBar({ route }: { route: Route }) {
  const { user, workspaces, workspaceId, setWorkspace, logout } = useSession();
  const section = route.name === "credentials" || route.name === "storage" ? route.name : "flows";
  // Storage is an administrator's page: the workspace's owners and staff.
  const showStorage = canSeeStorage(user, workspaces.find((w) => w.id === workspaceId));
  return (
    <header className="topbar">
      <Link href="/flows" className="brand" aria-label="Tributary home">
        <span className="brand-mark" aria-hidden="true">
          <svg viewBox="0 0 32 32" width="24" height="24">
            <rect width="32" height="32" rx="8" fill="currentColor" />
            <path d="M6 20c5 0 5-8 10-8s5 8 10 8" stroke="white" strokeWidth="3" fill="none" strokeLinecap="round" />
          </svg>
        </span>
        <span className="brand-name">Tributary</span>
      </Link>
      <nav className="topnav" aria-label="Main">
        <Link href="/flows" className="topnav-link" aria-current={section === "flows" ? "page" : undefined}>
          <Icon name="flows" /> Flows
        </Link>
        <Link href="/credentials" className="topnav-link" aria-current={section === "credentials" ? "page" : undefined}>
          <Icon name="key" /> Credentials
        </Link>
        {showStorage && (
          <Link href="/storage" className="topnav-link" aria-current={section === "storage" ? "page" : undefined}>
            <Icon name="box" /> Storage
          </Link>
        )}
      </nav>
      <div className="topbar-right">
        {workspaces.length > 1 ? (
          <label className="workspace-switch">
            <span className="visually-hidden">Workspace</span>
            <select aria-label="Workspace" value={workspaceId ?? ""} onChange={(e) => setWorkspace(Number(e.target.value))}>
              {workspaces.map((w) => (
                <option key={w.id} value={w.id}>
                  {w.name}
                  {w.role ? ` (${w.role})` : ""}
                </option>
              ))}
            </select>
          </label>
        ) : workspaces[0] ? (
          <span className="workspace-name" title="Workspace">
            {workspaces[0].name}
          </span>
        ) : null}
        {user?.username && (
          <span className="user-chip" title={user.is_staff ? "Staff" : undefined}>
            <span className="avatar" aria-hidden="true">
              {user.username.slice(0, 1).toUpperCase()}
            </span>
            {user.username}
          </span>
        )}
        <button type="button" className="button button-ghost" onClick={() => void logout().then(() => navigate("/login", { replace: true }))}>
          <Icon name="logout" size={15} /> Log out
        </button>
      </div>
    </header>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.name) {
    case "flows":
    case "login":
      return <FlowsListPage />;
    case "credentials":
      return <CredentialsPage />;
    case "storage":
      return <StoragePage />;
    case "designer":
      return (
        <Suspense fallback={<Spinner label="Opening the designer…" />}>
          <FlowDesignerPage flowId={route.flowId} tab={route.tab} executionId={route.executionId} />
        </Suspense>
      );
    case "notFound":
      return (
        <div className="page">
          <EmptyState title="Page not found">
            <p>
              Nothing lives at <code>{route.path}</code>. <Link href="/flows">Go to the flow list</Link>.
            </p>
          </EmptyState>
        </div>
      );
  }
}

export function App() {
  const status = useSession((s) => s.status);
  const error = useSession((s) => s.error);
  const load = useSession((s) => s.load);
  const route = useRoute();

  useEffect(() => {
    void load();
    return onUnauthorized(() => {
      if (useSession.getState().status === "authenticated") notify("error", "Your session ended; please log in again.");
      useSession.getState().expire();
    });
  }, [load]);

  // Logged in on /login (after signing in there): go to the list.
  useEffect(() => {
    if (status === "authenticated" && route.name === "login") navigate("/flows", { replace: true });
  }, [status, route.name]);

  useEffect(() => {
    const names: Record<Route["name"], string> = {
      flows: "Flows",
      credentials: "Credentials",
      storage: "Storage",
      designer: "Flow",
      login: "Log in",
      notFound: "Not found",
    };
    document.title = `${status === "anonymous" ? "Log in" : names[route.name]} · Tributary`;
  }, [route.name, status]);

  if (status === "loading") return <Spinner label="Loading Tributary…" />;
  if (status === "error") {
    return (
      <main className="page">
        <ErrorBanner message={`Tributary could not start: ${error}`} onRetry={() => void load()} />
      </main>
    );
  }
  if (status === "anonymous") {
    return (
      <>
        <LoginPage />
        <Toasts />
      </>
    );
  }
  return (
    <div className={`app${route.name === "designer" ? " app-designer" : ""}`}>
      <TopBar route={route} />
      <main className="main">
        <Page route={route} />
      </main>
      <Toasts />
    </div>
  );
}
