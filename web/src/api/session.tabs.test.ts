// Two tabs of one login (a duplicated tab starts with a copy of its origin's
// sessionStorage) against a server that rotates refresh tokens with reuse detection: a
// used token presented again after a 10 s grace revokes the whole login. Each "tab" is
// its own instance of the session module; they meet over a real BroadcastChannel.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

type Tab = typeof import("./session");

const GRACE_MS = 10_000;
let family = 0;

/** The gateway's rotation rules, in memory: single use, one successor, a grace, revocation. */
function server() {
  const used = new Map<string, { at: number; successor: string }>();
  const revoked = new Set<string>();
  const live = new Set<string>();
  let issued = 0;
  const familyOf = (token: string) => token.split(".")[0]!;
  const pair = (refreshToken: string) => {
    issued += 1;
    return { accessToken: `access-${issued}`, refreshToken, expiresIn: 900 };
  };
  const fetch = vi.fn(async (_url: string, init?: RequestInit) => {
    const { refreshToken } = JSON.parse(String(init?.body)) as { refreshToken: string };
    const answer = (status: number, body: unknown) =>
      new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
    if (revoked.has(familyOf(refreshToken))) return answer(401, { error: { code: "UNAUTHENTICATED" } });
    const earlier = used.get(refreshToken);
    if (earlier) {
      if (Date.now() - earlier.at <= GRACE_MS && live.has(earlier.successor)) return answer(200, pair(earlier.successor));
      revoked.add(familyOf(refreshToken)); // reuse after the grace: a theft
      return answer(401, { error: { code: "UNAUTHENTICATED" } });
    }
    if (!live.has(refreshToken)) return answer(401, { error: { code: "UNAUTHENTICATED" } });
    live.delete(refreshToken);
    const successor = `${familyOf(refreshToken)}.${used.size + 1}`;
    used.set(refreshToken, { at: Date.now(), successor });
    live.add(successor);
    return answer(200, pair(successor));
  });
  const login = () => {
    family += 1;
    const token = `family${family}.0`;
    live.add(token);
    return { token: "access-0", subject: "ada", refreshToken: token, expiresAt: Date.now() + 5_000 };
  };
  return { fetch, login, revoked, familyOf };
}

/** A FIFO Web Locks stand-in shared by the tabs (jsdom has none). */
function webLocks() {
  let tail: Promise<unknown> = Promise.resolve();
  return {
    request: (_name: string, work: () => Promise<unknown>) => {
      const run = tail.then(work);
      tail = run.catch(() => undefined);
      return run;
    },
  };
}

const tabs: Tab[] = [];

/** A new tab whose sessionStorage holds what it holds now (a duplicate of the current tab). */
async function openTab(): Promise<Tab> {
  vi.resetModules();
  const tab = await import("./session");
  tab.getSession(); // a tab reads its storage when it loads
  tabs.push(tab);
  return tab;
}

async function eventually(check: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 2_000; // Date is the fake clock here
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`not within 2 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

let clock = 0;
const advance = (ms: number) => vi.setSystemTime((clock += ms));

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  clock = Date.parse("2026-11-27T04:00:00Z");
  vi.setSystemTime(clock);
  sessionStorage.clear();
});

afterEach(() => {
  for (const tab of tabs.splice(0)) tab.setSession(null);
  Reflect.deleteProperty(navigator, "locks");
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe("the tabs of one login", () => {
  it("a duplicated tab takes the pair its sibling renewed, however much later it needs one", async () => {
    const api = server();
    vi.stubGlobal("fetch", api.fetch);
    const first = await openTab();
    first.setSession(api.login());
    const second = await openTab(); // duplicated: the same refresh token

    expect(await first.freshToken()).toBe("access-1");
    await eventually(() => second.getSession()?.refreshToken === first.getSession()?.refreshToken, "the pair reached the second tab");
    advance(20_000); // well past the reuse grace
    expect(await second.freshToken()).toBe("access-1");

    advance(900_000); // both expired again: the second tab renews this time, the first follows
    expect(await second.freshToken()).toBe("access-2");
    advance(20_000);
    await eventually(() => first.getSession()?.token === "access-2", "the second tab's pair reached the first");
    expect(await first.freshToken()).toBe("access-2");
    expect(api.fetch).toHaveBeenCalledTimes(2);
    expect(api.revoked.size).toBe(0);
  });

  it("a tab that missed the news asks the others before presenting its used token", async () => {
    const api = server();
    vi.stubGlobal("fetch", api.fetch);
    const login = api.login();
    const first = await openTab();
    first.setSession(login);
    expect(await first.freshToken()).toBe("access-1");

    const second = await openTab();
    second.setSession(login); // e.g. a tab the browser froze while the first one renewed
    advance(20_000);
    expect(await second.freshToken()).toBe("access-1");
    expect(second.getSession()?.refreshToken).toBe(first.getSession()?.refreshToken);
    expect(api.fetch).toHaveBeenCalledTimes(1);
    expect(api.revoked.size).toBe(0);
  });

  it("tabs coordinate without WebCrypto too (plain HTTP is not a secure context)", async () => {
    vi.stubGlobal("crypto", {});
    const api = server();
    vi.stubGlobal("fetch", api.fetch);
    const login = api.login();
    const first = await openTab();
    first.setSession(login);
    const second = await openTab();
    expect(await first.freshToken()).toBe("access-1");
    await eventually(() => second.getSession()?.token === "access-1", "the pair reached the second tab");
    const third = await openTab();
    third.setSession(login); // missed the news: asks
    advance(20_000);
    expect(await third.freshToken()).toBe("access-1");
    expect(api.fetch).toHaveBeenCalledTimes(1);
    expect(api.revoked.size).toBe(0);
  });

  it("tabs that need a token at the same moment renew once (Web Locks)", async () => {
    Object.defineProperty(navigator, "locks", { value: webLocks(), configurable: true });
    const api = server();
    vi.stubGlobal("fetch", api.fetch);
    const first = await openTab();
    first.setSession(api.login());
    const second = await openTab();
    const third = await openTab();
    const tokens = await Promise.all([first.freshToken(), second.freshToken(), third.freshToken()]);
    expect(tokens).toEqual(["access-1", "access-1", "access-1"]);
    expect(api.fetch).toHaveBeenCalledTimes(1);
  });

  it("another login's tab is neither told nor answered, and renews its own", async () => {
    const api = server();
    vi.stubGlobal("fetch", api.fetch);
    const first = await openTab();
    first.setSession(api.login());
    const stranger = await openTab();
    stranger.setSession(api.login()); // another login: another family
    const strangerToken = stranger.getSession()!.refreshToken!;

    expect(await first.freshToken()).toBe("access-1");
    advance(1_000);
    expect(stranger.getSession()?.refreshToken).toBe(strangerToken);
    expect(await stranger.freshToken()).toBe("access-2");
    expect(api.familyOf(stranger.getSession()!.refreshToken!)).toBe(api.familyOf(strangerToken));
    expect(api.fetch).toHaveBeenCalledTimes(2);
  });

  it("a used token presented from outside the login's tabs still revokes the login", async () => {
    const api = server();
    vi.stubGlobal("fetch", api.fetch);
    const first = await openTab();
    const login = api.login();
    first.setSession(login);
    expect(await first.freshToken()).toBe("access-1");
    advance(20_000);
    // a copy of the first token, used by someone no tab knows (a thief)
    const stolen = await api.fetch("/auth/refresh", { method: "POST", body: JSON.stringify({ refreshToken: login.refreshToken }) });
    expect(stolen.status).toBe(401);
    advance(900_000);
    expect(await first.freshToken()).toBeNull(); // the whole login is revoked: sign in again
    expect(api.revoked.size).toBe(1);
  });
});
