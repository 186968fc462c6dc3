import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { MemoryRouter, Route, Routes } from "react-router-dom";
import { LoginPage } from "./LoginPage";
import { getSession, setSession } from "../api/session";

function renderLogin() {
  return render(
    <MemoryRouter initialEntries={[{ pathname: "/login", state: { from: "/runs/r1" } }]}>
      <Routes>
        <Route path="/login" element={<LoginPage />} />
        <Route path="/runs/:id" element={<p>run page</p>} />
      </Routes>
    </MemoryRouter>,
  );
}

function answer(status: number, body: unknown) {
  return Promise.resolve(new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } }));
}

afterEach(() => {
  cleanup();
  setSession(null);
  vi.unstubAllGlobals();
});

describe("LoginPage", () => {
  it("signs in with a token on Enter and goes where the user was headed", async () => {
    const fetch = vi.fn((url: string, _init?: RequestInit) =>
      url === "/openapi.json" ? answer(200, { paths: {} }) : answer(200, { items: [], nextCursor: null }),
    );
    vi.stubGlobal("fetch", fetch);
    const { container } = renderLogin();
    const input = container.querySelector("input[name=token]") as HTMLInputElement;
    fireEvent.change(input, { target: { value: "s3cret" } });
    fireEvent.submit(input.form!);
    await screen.findByText("run page");
    expect(getSession()?.token).toBe("s3cret");
    expect(sessionStorage.getItem("tideflow.session")).toContain("s3cret");
    const call = fetch.mock.calls.find(([url]) => url.startsWith("/workflows"))!;
    expect((call[1] as RequestInit).headers).toEqual({ Authorization: "Bearer s3cret" });
    expect(window.location.href).not.toContain("s3cret");
  });

  it("says so when the token is refused, and keeps no session", async () => {
    vi.stubGlobal("fetch", vi.fn((url: string) =>
      url === "/openapi.json"
        ? answer(200, { paths: {} })
        : answer(401, { error: { code: "UNAUTHENTICATED", message: "the token is not valid" } }),
    ));
    const { container } = renderLogin();
    const input = container.querySelector("input[name=token]") as HTMLInputElement;
    fireEvent.change(input, { target: { value: "wrong" } });
    fireEvent.submit(input.form!);
    expect(await screen.findByRole("alert")).toHaveProperty("textContent", "That token is not valid.");
    expect(getSession()).toBeNull();
  });

  it("offers username and password once the gateway has /auth/login", async () => {
    vi.stubGlobal("fetch", vi.fn((url: string) =>
      url === "/openapi.json"
        ? answer(200, { paths: { "/auth/login": {} } })
        : answer(200, { accessToken: "jwt-1", refreshToken: "r-1", expiresIn: 900 }),
    ));
    const { container } = renderLogin();
    await waitFor(() => expect(container.querySelector("input[name=username]")).not.toBeNull());
    fireEvent.change(container.querySelector("input[name=username]")!, { target: { value: "ada" } });
    fireEvent.change(container.querySelector("input[name=password]")!, { target: { value: "pw" } });
    fireEvent.submit(container.querySelector("input[name=password]")!.closest("form")!);
    await screen.findByText("run page");
    expect(getSession()).toMatchObject({ token: "jwt-1", subject: "ada", refreshToken: "r-1" });
    expect(getSession()!.expiresAt).toBeGreaterThan(Date.now() + 800_000);
  });
});
