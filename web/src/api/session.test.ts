import { afterEach, describe, expect, it, vi } from "vitest";
import { freshToken, getSession, setSession } from "./session";

afterEach(() => {
  setSession(null);
  vi.unstubAllGlobals();
});

function answer(status: number, body: unknown) {
  return Promise.resolve(new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } }));
}

describe("freshToken", () => {
  it("uses a token that does not expire soon as it is", async () => {
    const fetch = vi.fn();
    vi.stubGlobal("fetch", fetch);
    setSession({ token: "a", subject: "ada", refreshToken: "r", expiresAt: Date.now() + 600_000 });
    expect(await freshToken()).toBe("a");
    setSession({ token: "admin", subject: "token" }); // API tokens never expire here
    expect(await freshToken()).toBe("admin");
    expect(fetch).not.toHaveBeenCalled();
  });

  it("renews an expiring token once for concurrent callers", async () => {
    const fetch = vi.fn((_url: string, _init?: RequestInit) =>
      answer(200, { accessToken: "b", refreshToken: "r2", expiresIn: 900 }));
    vi.stubGlobal("fetch", fetch);
    setSession({ token: "a", subject: "ada", refreshToken: "r1", expiresAt: Date.now() + 5_000 });
    expect(await Promise.all([freshToken(), freshToken(), freshToken()])).toEqual(["b", "b", "b"]);
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(JSON.parse(String(fetch.mock.calls[0]![1]!.body))).toEqual({ refreshToken: "r1" });
    expect(getSession()).toMatchObject({ token: "b", refreshToken: "r2" });
  });

  it("ends the session when the refresh token is refused", async () => {
    vi.stubGlobal("fetch", vi.fn(() => answer(401, { error: { code: "UNAUTHENTICATED", message: "used" } })));
    setSession({ token: "a", subject: "ada", refreshToken: "r1", expiresAt: Date.now() - 1 });
    expect(await freshToken()).toBeNull();
    expect(getSession()).toBeNull();
  });
});
