// The signed-in session: a bearer token kept in sessionStorage (this tab only, gone when
// the tab closes), never in a URL. Components subscribe with `useSession`.
//
// A duplicated tab starts with a copy of its origin tab's sessionStorage, so two tabs can
// hold the same single-use refresh token. The server revokes the whole login when a used
// refresh token comes back after its short reuse grace (it looks stolen), so the tabs of
// one login coordinate: one renews at a time (Web Locks), the tab that renewed tells the
// others the new pair (BroadcastChannel), and a tab about to renew first asks whether
// another tab already used its token. The others pick the new pair up instead of
// presenting the used token again, so normal use never trips reuse detection, while a
// token presented by anyone outside the login's tabs still does. Messages name a refresh
// token by its SHA-256 digest, and a tab answers only a tab that held the same token.
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

function store(session: Session | null): void {
  cached = session;
  if (session) sessionStorage.setItem(KEY, JSON.stringify(session));
  else sessionStorage.removeItem(KEY);
  listeners.forEach((listener) => listener());
}

export function setSession(session: Session | null): void {
  if (!session) superseded.clear(); // signed out: nothing of this login to hand on
  store(session);
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function useSession(): Session | null {
  return useSyncExternalStore(subscribe, read, read);
}

// ---- the tabs of one login ---------------------------------------------------------------

const CHANNEL = "tideflow.session";
const LOCK = "tideflow.session.refresh";
/** How long a tab about to renew waits for another tab to say it already did. */
export const ASK_WAIT_MS = 200;

type Message =
  | { type: "ask"; from: string }
  | { type: "rotated"; from: string; session: Session };

/** Digests of refresh tokens this tab has moved past (used, or replaced by another tab's pair). */
const superseded = new Set<string>();
const waiting = new Map<string, () => void>();
let channel: BroadcastChannel | null | undefined;

async function digest(refreshToken: string): Promise<string> {
  if (!globalThis.crypto?.subtle) {
    // not a secure context (plain HTTP off localhost): name the token by its id
    // (`tfr_<id>_<secret>`), which is not secret
    return `id:${refreshToken.split("_").slice(0, 2).join("_")}`;
  }
  const bytes = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(refreshToken));
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

function tabs(): BroadcastChannel | null {
  if (channel !== undefined) return channel;
  channel = typeof BroadcastChannel === "undefined" ? null : new BroadcastChannel(CHANNEL);
  channel?.addEventListener("message", (event: MessageEvent<Message>) => void hear(event.data));
  return channel;
}

async function hear(message: Message): Promise<void> {
  const current = read();
  if (!current?.refreshToken || !message || typeof message.from !== "string") return;
  if (message.type === "ask") {
    // a tab still holding a token this tab already moved past: hand it the pair that followed
    if (superseded.has(message.from)) tabs()?.postMessage({ type: "rotated", from: message.from, session: current });
    return;
  }
  if (message.type !== "rotated" || !message.session?.token) return;
  if ((await digest(current.refreshToken)) !== message.from || read() !== current) return;
  superseded.add(message.from);
  store({ ...message.session, subject: current.subject });
  waiting.get(message.from)?.();
}

/** Whether another tab answers that it already renewed `refreshToken` (its pair is then ours). */
async function askOtherTabs(refreshToken: string): Promise<boolean> {
  const peers = tabs();
  if (!peers) return false;
  const from = await digest(refreshToken);
  return new Promise((resolve) => {
    const done = (answered: boolean) => {
      clearTimeout(timer);
      waiting.delete(from);
      resolve(answered);
    };
    const timer = setTimeout(() => done(false), ASK_WAIT_MS);
    waiting.set(from, () => done(true));
    peers.postMessage({ type: "ask", from } satisfies Message);
  });
}

// listen from the start: another tab's renewal may reach this one before it needs a token
if (typeof window !== "undefined") tabs();

async function oneTabAtATime(work: () => Promise<void>): Promise<void> {
  const locks = typeof navigator === "undefined" ? undefined : navigator.locks;
  // without Web Locks two tabs may renew at once: the server's reuse grace answers both
  if (!locks) return work();
  await locks.request(LOCK, work);
}

// ---- renewal -----------------------------------------------------------------------------

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
  const next = {
    ...session,
    token: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    expiresAt: Date.now() + tokens.expiresIn * 1000,
  };
  const from = await digest(session.refreshToken ?? "");
  superseded.add(from);
  store(next);
  tabs()?.postMessage({ type: "rotated", from, session: next } satisfies Message);
}

/** Renew `session` unless another tab of the login did (then take its pair). */
async function renewOnce(session: Session): Promise<void> {
  await oneTabAtATime(async () => {
    const current = read();
    // signed out meanwhile, or another tab's pair arrived while this one waited for the lock
    if (!current?.refreshToken || current.refreshToken !== session.refreshToken) return;
    if (await askOtherTabs(current.refreshToken)) return;
    if (read() !== current) return;
    await renew(current);
  });
}

/**
 * The access token to send now, renewed first when it expires within 30 s. Refresh
 * tokens are single use (a reuse revokes the whole family), so concurrent callers share
 * one renewal, and so do the tabs of one login (see the top of this module).
 */
export async function freshToken(): Promise<string | null> {
  const session = read();
  if (!session) return null;
  if (!session.refreshToken || !session.expiresAt || Date.now() < session.expiresAt - RENEW_BEFORE_MS) {
    return session.token;
  }
  renewing ??= renewOnce(session).finally(() => {
    renewing = null;
  });
  await renewing;
  return read()?.token ?? null;
}
