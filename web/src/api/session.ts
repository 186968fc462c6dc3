// The signed-in session: a bearer token kept in sessionStorage (this tab only, gone when
// the tab closes), never in a URL. Components subscribe with `useSession`.
import { useSyncExternalStore } from "react";

export interface Session {
  token: string;
  subject: string;
  /** From `POST /auth/login`: renews the short-lived access token (single use). */
  refreshToken?: string;
  /** When the access token expires (ms since the epoch). */
  expiresAt?: number;
}

const KEY = "tideflow.session";
const listeners = new Set<() => void>();
let cached: Session | null | undefined;

function read(): Session | null {
  if (cached !== undefined) return cached;
  try {
    const raw = sessionStorage.getItem(KEY);
    const parsed = raw ? (JSON.parse(raw) as Partial<Session>) : null;
    cached = parsed && typeof parsed.token === "string" && parsed.token
      ? { ...parsed, token: parsed.token, subject: parsed.subject ?? "token" }
      : null;
  } catch {
    cached = null;
  }
  return cached;
}

export function getSession(): Session | null {
  return read();
}

export function setSession(session: Session | null): void {
  cached = session;
  if (session) sessionStorage.setItem(KEY, JSON.stringify(session));
  else sessionStorage.removeItem(KEY);
  listeners.forEach((listener) => listener());
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function useSession(): Session | null {
  return useSyncExternalStore(subscribe, read, read);
}

const RENEW_BEFORE_MS = 30_000;
let renewing: Promise<void> | null = null;

async function renew(session: Session): Promise<void> {
  const response = await fetch("/auth/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refreshToken: session.refreshToken }),
  }).catch(() => null);
  if (!response?.ok) {
    // a used or revoked refresh token: sign in again (the app routes to the login)
    if (response && response.status < 500) setSession(null);
    return;
  }
  const tokens = (await response.json()) as { accessToken: string; refreshToken: string; expiresIn: number };
  setSession({
    ...session,
    token: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    expiresAt: Date.now() + tokens.expiresIn * 1000,
  });
}

/**
 * The access token to send now, renewed first when it expires within 30 s. Refresh
 * tokens are single use (a reuse revokes the whole family), so concurrent callers share
 * one renewal.
 */
export async function freshToken(): Promise<string | null> {
  const session = read();
  if (!session) return null;
  if (!session.refreshToken || !session.expiresAt || Date.now() < session.expiresAt - RENEW_BEFORE_MS) {
    return session.token;
  }
  renewing ??= renew(session).finally(() => {
    renewing = null;
  });
  await renewing;
  return read()?.token ?? null;
}
