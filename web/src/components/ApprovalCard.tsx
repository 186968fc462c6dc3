// A pending (or closed) approval of a run, decidable inline: who may decide, the quorum,
// the votes so far, the deadline, and Approve / Reject with an optional comment.
import { useState } from "react";
import { useMutation } from "@tanstack/react-query";
import { ApiError, describeError } from "../api/client";
import { decideApproval, type Approval, type Verdict } from "../api/approvals";
import { formatTime } from "../lib/format";

/** Why a decision was refused, in words that say what to do about it. */
export function decisionProblem(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 403) return `You may not decide this approval: ${error.message} (${error.code})`;
    if (error.status === 409) {
      const status = error.details["status"];
      const why = error.code === "ALREADY_DECIDED" ? "you already voted on it"
        : error.code === "APPROVAL_EXPIRED" ? "it has expired"
        : typeof status === "string" ? `it is ${status}` : "it is closed";
      return `This approval can no longer take your vote: ${why}. ${error.message} (${error.code})`;
    }
  }
  return describeError(error);
}

export function ApprovalCard({ approval, onDecided }: { approval: Approval; onDecided?: (after: Approval) => void }) {
  const [comment, setComment] = useState("");
  const decide = useMutation({
    mutationFn: (decision: Verdict) =>
      decideApproval(approval.id, comment.trim() ? { decision, comment: comment.trim() } : { decision }),
    onSuccess: (after) => {
      setComment("");
      onDecided?.(after);
    },
  });
  const open = approval.status === "pending";
  const who = [
    approval.assignees.length ? `assignees: ${approval.assignees.join(", ")}` : null,
    approval.role ? `role: ${approval.role}` : null,
  ].filter(Boolean).join(" · ") || "any approver";
  const approvals = approval.decisions.filter((d) => d.decision === "approve").length;
  return (
    <article
      data-testid="approval"
      data-approval-id={approval.id}
      data-approval-node={approval.nodeId}
      data-approval-status={approval.status}
      className={`rounded-md border p-3 text-sm ${open ? "border-amber-300 bg-amber-50" : "border-slate-200 bg-slate-50"}`}
    >
      <header className="mb-1 flex items-start justify-between gap-2">
        <h3 className="font-semibold">{approval.title || `Approval at ${approval.nodeId}`}</h3>
        <span className="shrink-0 rounded bg-white px-1.5 text-xs font-medium">
          {approval.status}{approval.decision ? `: ${approval.decision}` : ""}
        </span>
      </header>
      {approval.description && <p className="mb-2 whitespace-pre-wrap text-slate-700">{approval.description}</p>}
      <dl className="mb-2 grid grid-cols-[auto_1fr] gap-x-3 gap-y-0.5 text-xs">
        <dt className="text-slate-500">Step</dt><dd className="font-mono">{approval.nodeId}</dd>
        <dt className="text-slate-500">Who</dt><dd data-testid="approval-who">{who}</dd>
        <dt className="text-slate-500">Quorum</dt><dd data-testid="approval-quorum">{approvals} of {approval.quorum} approvals</dd>
        <dt className="text-slate-500">Expires</dt><dd>{approval.expiresAt ? formatTime(approval.expiresAt) : "never"} (then {approval.onTimeout})</dd>
      </dl>
      {approval.decisions.length > 0 && (
        <ul data-testid="approval-votes" className="mb-2 space-y-0.5 text-xs">
          {approval.decisions.map((d) => (
            <li key={`${d.by}-${d.decidedAt}`}>
              <span className={d.decision === "approve" ? "text-emerald-700" : "text-red-700"}>{d.decision}</span>{" "}
              by <span className="font-medium">{d.by}</span> at {formatTime(d.decidedAt)}
              {d.comment ? <>: “{d.comment}”</> : null}
            </li>
          ))}
        </ul>
      )}
      {open && (
        <>
          <label className="mb-2 block text-xs font-medium text-slate-600">
            Comment (optional)
            <textarea name="approval-comment" value={comment} onChange={(e) => setComment(e.target.value)} rows={2} maxLength={10_000} className="mt-1 w-full rounded border bg-white p-1 text-xs" />
          </label>
          {decide.error != null && <p role="alert" data-testid="approval-error" className="mb-2 rounded border border-red-200 bg-red-50 p-2 text-xs text-red-800">{decisionProblem(decide.error)}</p>}
          <div className="flex gap-2">
            <button type="button" data-testid="approve" disabled={decide.isPending} onClick={() => decide.mutate("approve")} className="flex-1 rounded bg-emerald-700 px-3 py-1 font-medium text-white hover:bg-emerald-800 disabled:opacity-50">Approve</button>
            <button type="button" data-testid="reject" disabled={decide.isPending} onClick={() => decide.mutate("reject")} className="flex-1 rounded bg-red-700 px-3 py-1 font-medium text-white hover:bg-red-800 disabled:opacity-50">Reject</button>
          </div>
        </>
      )}
    </article>
  );
}
