// Step statuses as the run viewer shows them (the URL contract's `data-status` values).
import type { StepView } from "../api/client";

export const STEP_STATUSES = [
  "pending", "scheduled", "running", "retrying", "waiting",
  "succeeded", "failed", "skipped", "cancelled", "compensated",
] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

export const STATUS_STYLE: Record<StepStatus, string> = {
  pending: "border-slate-300 bg-white text-slate-500",
  scheduled: "border-sky-300 bg-sky-50 text-sky-800",
  running: "border-blue-500 bg-blue-50 text-blue-900 animate-pulse",
  retrying: "border-amber-500 bg-amber-50 text-amber-900",
  waiting: "border-violet-400 bg-violet-50 text-violet-900",
  succeeded: "border-emerald-500 bg-emerald-50 text-emerald-900",
  failed: "border-red-500 bg-red-50 text-red-900",
  skipped: "border-slate-300 bg-slate-100 text-slate-400 border-dashed",
  cancelled: "border-slate-400 bg-slate-100 text-slate-600",
  compensated: "border-orange-400 bg-orange-50 text-orange-900",
};

export const STATUS_COLOR: Record<StepStatus, string> = {
  pending: "#cbd5e1", scheduled: "#7dd3fc", running: "#3b82f6", retrying: "#f59e0b",
  waiting: "#a78bfa", succeeded: "#10b981", failed: "#ef4444", skipped: "#cbd5e1",
  cancelled: "#94a3b8", compensated: "#fb923c",
};

const FROM_ENGINE: Record<string, StepStatus> = {
  pending: "pending", scheduled: "scheduled", running: "running", waiting: "waiting",
  backoff: "retrying", succeeded: "succeeded", failed: "failed", skipped: "skipped",
  cancelled: "cancelled",
};

/** Each node's status from the steps of a run state; nodes without a step are pending. */
export function nodeStatuses(nodeIds: string[], steps: StepView[]): Map<string, StepStatus> {
  const byStep = new Map(steps.map((s) => [s.nodeId, s]));
  const result = new Map<string, StepStatus>();
  for (const id of nodeIds) {
    const step = byStep.get(id);
    let status: StepStatus = step ? (FROM_ENGINE[step.status] ?? "pending") : "pending";
    const compensation = byStep.get(`${id}.compensate`);
    if (compensation && compensation.status === "succeeded") status = "compensated";
    result.set(id, status);
  }
  return result;
}

export const RUN_STATUSES = [
  "pending", "running", "waiting", "succeeded", "failed", "cancelled", "compensated",
] as const;

export const TERMINAL_RUN = new Set(["succeeded", "failed", "cancelled", "compensated"]);
