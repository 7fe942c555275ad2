/** Sign in with a username and password (Django session). */
import { useId, useState, type FormEvent } from "react";
import { useSession } from "../stores/session";

export function LoginPage() {
  const id = useId();
  const login = useSession((s) => s.login);
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!username || !password) {
      setError("Enter your username and password.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await login(username, password);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      setBusy(false);
    }
  };

  return (
    <main className="login">
      <div className="login-card">
        <div className="brand brand-large">
          <span className="brand-mark" aria-hidden="true">
            <svg viewBox="0 0 32 32" width="36" height="36">
              <rect width="32" height="32" rx="8" fill="currentColor" />
              <path d="M6 20c5 0 5-8 10-8s5 8 10 8" stroke="white" strokeWidth="3" fill="none" strokeLinecap="round" />
            </svg>
          </span>
          <span>Tributary</span>
        </div>
        <h1>Sign in</h1>
        <p className="muted">Build and watch your Kafka flows.</p>
        <form onSubmit={(e) => void submit(e)} noValidate>
          <div className="form-field">
            <label htmlFor={`${id}-username`} className="field-label">
              Username
            </label>
            <input
              id={`${id}-username`}
              name="username"
              type="text"
              autoComplete="username"
              autoFocus
              value={username}
              onChange={(e) => setUsername(e.target.value)}
            />
          </div>
          <div className="form-field">
            <label htmlFor={`${id}-password`} className="field-label">
              Password
            </label>
            <input
              id={`${id}-password`}
              name="password"
              type="password"
              autoComplete="current-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </div>
          {error && (
            <p className="form-error" role="alert">
              {error}
            </p>
          )}
          <button type="submit" className="button button-primary button-block" disabled={busy}>
            {busy ? "Signing in…" : "Log in"}
          </button>
        </form>
      </div>
    </main>
  );
}
