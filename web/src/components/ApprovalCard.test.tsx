import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { ApprovalCard } from "./ApprovalCard";
import type { Approval } from "../api/approvals";

const pending: Approval = {
  id: "ap1", runId: "r1", nodeId: "approve", workflowId: "order-approval",
  title: "Order of 1500", description: "Orders over 1000 need an approver.",
  assignees: ["alice", "bob"], role: "approver", quorum: 2,
  decisions: [{ by: "alice", decision: "approve", comment: "fine", decidedAt: "2026-11-26T09:00:00Z" }],
  requestedAt: "2026-11-26T08:59:00Z", expiresAt: "2026-11-29T08:59:00Z",
  status: "pending", decision: null, decidedBy: null, decidedAt: null, comment: null, onTimeout: "reject",
};

function answer(status: number, body: unknown) {
  return Promise.resolve(new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } }));
}

function renderCard(onDecided = vi.fn()) {
  const client = new QueryClient({ defaultOptions: { mutations: { retry: false } } });
  render(<QueryClientProvider client={client}><ApprovalCard approval={pending} onDecided={onDecided} /></QueryClientProvider>);
  return onDecided;
}

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe("ApprovalCard", () => {
  it("shows who decides, the quorum, the votes so far and the deadline", () => {
    renderCard();
    expect(screen.getByText("Order of 1500")).toBeTruthy();
    expect(screen.getByText("Orders over 1000 need an approver.")).toBeTruthy();
    expect(screen.getByTestId("approval-who").textContent).toBe("assignees: alice, bob · role: approver");
    expect(screen.getByTestId("approval-quorum").textContent).toBe("1 of 2 approvals");
    expect(screen.getByTestId("approval-votes").textContent).toContain("approve by alice");
    expect(screen.getByTestId("approval-votes").textContent).toContain("fine");
    expect(screen.getByText(/then reject/)).toBeTruthy();
  });

  it("posts the decision with the comment and reports the approval after it", async () => {
    const decided = { ...pending, status: "decided", decision: "approve" } satisfies Approval;
    const fetch = vi.fn((_request: Request) => answer(200, decided));
    vi.stubGlobal("fetch", fetch);
    const onDecided = renderCard();
    fireEvent.change(screen.getByRole("textbox"), { target: { value: "  looks right " } });
    fireEvent.click(screen.getByTestId("approve"));
    await waitFor(() => expect(onDecided).toHaveBeenCalledWith(decided));
    const request = fetch.mock.calls[0]![0];
    expect(request.method).toBe("POST");
    expect(new URL(request.url).pathname).toBe("/approvals/ap1/decision");
    expect(await request.json()).toEqual({ decision: "approve", comment: "looks right" });
  });

  it("rejects without a comment", async () => {
    const fetch = vi.fn((_request: Request) => answer(200, { ...pending, status: "decided", decision: "reject" }));
    vi.stubGlobal("fetch", fetch);
    const onDecided = renderCard();
    fireEvent.click(screen.getByTestId("reject"));
    await waitFor(() => expect(onDecided).toHaveBeenCalled());
    expect(await fetch.mock.calls[0]![0].json()).toEqual({ decision: "reject" });
  });

  it("says clearly when the caller may not decide (403)", async () => {
    vi.stubGlobal("fetch", vi.fn(() => answer(403, { error: { code: "FORBIDDEN", message: "not an assignee" } })));
    const onDecided = renderCard();
    fireEvent.click(screen.getByTestId("approve"));
    const alert = await screen.findByTestId("approval-error");
    expect(alert.textContent).toContain("You may not decide this approval");
    expect(alert.textContent).toContain("FORBIDDEN");
    expect(onDecided).not.toHaveBeenCalled();
  });

  it("says clearly when the approval is already closed (409)", async () => {
    vi.stubGlobal("fetch", vi.fn(() =>
      answer(409, { error: { code: "APPROVAL_CLOSED", message: "approval is decided", details: { status: "decided" } } })));
    renderCard();
    fireEvent.click(screen.getByTestId("reject"));
    const alert = await screen.findByTestId("approval-error");
    expect(alert.textContent).toContain("can no longer take your vote: it is decided");
    expect(alert.textContent).toContain("APPROVAL_CLOSED");
  });
});
