// The signed-in session: a bearer token kept in sessionStorage (this tab only, gone when
// the tab closes), never in a URL. Components subscribe with `useSession`.
import { useSyncExternalStore } from "react";

export interface Session {
  token: string;
  subject: string;
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
      ? { token: parsed.token, subject: parsed.subject ?? "token" }
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
