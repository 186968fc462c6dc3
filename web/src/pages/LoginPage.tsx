// Sign in with an API token, or with a username and password where the gateway offers
// `POST /auth/login` (detected from its OpenAPI document). The session is kept in
// sessionStorage only.
import { useEffect, useState } from "react";
import { useLocation, useNavigate } from "react-router-dom";
import { ApiError, describeError, toApiError } from "../api/client";
import { setSession } from "../api/session";

async function checkToken(token: string): Promise<void> {
  const response = await fetch("/workflows?limit=1", { headers: { Authorization: `Bearer ${token}` } });
  if (!response.ok) throw toApiError(response.status, await response.json().catch(() => null));
}

interface Tokens {
  token: string;
  refreshToken?: string;
  expiresAt?: number;
}

async function passwordLogin(username: string, password: string): Promise<Tokens> {
  const response = await fetch("/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  const body = (await response.json().catch(() => null)) as Record<string, unknown> | null;
  if (!response.ok) throw toApiError(response.status, body);
  const token = body?.["accessToken"] ?? body?.["access_token"] ?? body?.["token"];
  if (typeof token !== "string") throw new Error("the login answer carried no token");
  const refresh = body?.["refreshToken"];
  const expiresIn = body?.["expiresIn"];
  return {
    token,
    refreshToken: typeof refresh === "string" ? refresh : undefined,
    expiresAt: typeof expiresIn === "number" ? Date.now() + expiresIn * 1000 : undefined,
  };
}

export function LoginPage() {
  const navigate = useNavigate();
  const location = useLocation();
  const from = (location.state as { from?: string } | null)?.from ?? "/";
  const [token, setToken] = useState("");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [passwords, setPasswords] = useState(false);

  useEffect(() => {
    let live = true;
    fetch("/openapi.json")
      .then((r) => (r.ok ? r.json() : null))
      .then((spec: { paths?: Record<string, unknown> } | null) => {
        if (live && spec?.paths && "/auth/login" in spec.paths) setPasswords(true);
      })
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, []);

  const finish = (value: string, subject: string, renewal: Omit<Tokens, "token"> = {}) => {
    setSession({ token: value, subject, ...renewal });
    navigate(from === "/login" ? "/" : from, { replace: true });
  };

  const submitToken = async (event: React.FormEvent) => {
    event.preventDefault();
    const value = token.trim();
    if (!value) {
      setError("Enter an API token.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await checkToken(value);
      finish(value, "token");
    } catch (e) {
      setError(e instanceof ApiError && e.status === 401 ? "That token is not valid." : describeError(e));
    } finally {
      setBusy(false);
    }
  };

  const submitPassword = async (event: React.FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { token: access, ...renewal } = await passwordLogin(username, password);
      finish(access, username, renewal);
    } catch (e) {
      setError(e instanceof ApiError && e.status === 401 ? "Wrong username or password." : describeError(e));
    } finally {
      setBusy(false);
    }
  };

  const input = "mt-1 w-full rounded-md border border-slate-300 px-3 py-2 focus:border-cyan-600 focus:outline-none";
  return (
    <div className="flex min-h-full items-center justify-center bg-gradient-to-b from-cyan-900 to-slate-900 p-4">
      <div className="w-full max-w-sm rounded-xl bg-white p-6 shadow-xl">
        <div className="mb-4 flex items-center gap-2">
          <img src="/ui/favicon.svg" alt="" className="h-8 w-8" />
          <h1 className="text-xl font-semibold">Sign in to Tideflow</h1>
        </div>
        <form onSubmit={submitToken} aria-label="Sign in with a token">
          <label className="block text-sm font-medium text-slate-700">
            API token
            <input
              name="token"
              type="password"
              autoComplete="off"
              autoFocus
              value={token}
              onChange={(e) => setToken(e.target.value)}
              className={input}
              placeholder="printed by `tide dev`"
            />
          </label>
          <button disabled={busy} className="mt-3 w-full rounded-md bg-cyan-700 py-2 font-medium text-white hover:bg-cyan-800 disabled:opacity-60">
            Sign in
          </button>
        </form>
        {passwords && (
          <form onSubmit={submitPassword} aria-label="Sign in with a password" className="mt-5 border-t pt-4">
            <label className="block text-sm font-medium text-slate-700">
              Username
              <input name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} className={input} />
            </label>
            <label className="mt-2 block text-sm font-medium text-slate-700">
              Password
              <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} className={input} />
            </label>
            <button disabled={busy} className="mt-3 w-full rounded-md border border-cyan-700 py-2 font-medium text-cyan-800 hover:bg-cyan-50 disabled:opacity-60">
              Sign in with password
            </button>
          </form>
        )}
        {error && <p role="alert" className="mt-3 text-sm text-red-700">{error}</p>}
      </div>
    </div>
  );
}
