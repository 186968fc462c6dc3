// Each node's status as of an event, folded from the run's event log (the same events
// the engine folds), so scrubbing time travel redraws the graph without a round trip.
import type { RunEvent } from "../api/client";
import type { StepStatus } from "./status";

const WAITING = new Set(["timer", "signal", "approval", "child"]);

/** The step id's node: `node[3]` (a foreach item) and `node.compensate` belong to `node`. */
export function nodeOfStep(step: string): string {
  return step.replace(/\[\d+\]$/, "").replace(/\.compensate$/, "");
}

export function statusesAt(events: RunEvent[], atSeq: number): Map<string, StepStatus> {
  const status = new Map<string, StepStatus>();
  for (const event of events) {
    if (event.seq > atSeq) break;
    const d = event.data as Record<string, unknown>;
    const step = String(d["step"] ?? "");
    if (step.includes("[") || step.endsWith(".compensate")) {
      if (event.type === "CompensationSucceeded") status.set(String(d["forStep"]), "compensated");
      continue; // items and compensations are shown on their node's row in the Gantt
    }
    switch (event.type) {
      case "StepScheduled": {
        const execution = String(d["execution"] ?? "");
        status.set(step, WAITING.has(execution) ? "waiting" : execution === "foreach" ? "running" : "scheduled");
        break;
      }
      case "StepStarted":
        status.set(step, "running");
        break;
      case "ApprovalRequested":
        status.set(step, "waiting");
        break;
      case "StepRetryScheduled":
        status.set(step, "retrying");
        break;
      case "StepSucceeded":
        status.set(step, "succeeded");
        break;
      case "StepFailed":
      case "StepTimedOut":
        status.set(step, "failed");
        break;
      case "StepSkipped":
        status.set(step, "skipped");
        break;
      case "StepCancelled":
        status.set(step, "cancelled");
        break;
      case "CompensationSucceeded":
        status.set(String(d["forStep"]), "compensated");
        break;
    }
  }
  return status;
}
