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
  // a compensation step (`book.compensate`) runs the node its `compensate` names: that
  // node is coloured by it
  const handlers = new Map<string, string>();
  for (const event of events) {
    if (event.seq > atSeq) break;
    const d = event.data as Record<string, unknown>;
    let step = String(d["step"] ?? "");
    if (event.type === "CompensationSucceeded") {
      status.set(String(d["forStep"]), "compensated");
    }
    if (step.endsWith(".compensate")) {
      if (event.type === "StepScheduled" && typeof d["nodeId"] === "string") handlers.set(step, d["nodeId"]);
      const handler = handlers.get(step);
      if (!handler || event.type.startsWith("Compensation")) continue;
      step = handler;
    } else if (step.includes("[")) {
      continue; // foreach items are shown on their own rows in the Gantt
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
      case "StepPollScheduled": // an outside job (e.g. Textract) runs on; polled on a timer
        status.set(step, "waiting");
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
    }
  }
  return status;
}
