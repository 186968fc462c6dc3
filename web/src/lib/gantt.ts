// The Gantt of a run: one row per step, one bar per phase of each attempt (queued,
// running, retry backoff, timer, waiting for a signal or an approval), folded from the
// event log up to a given seq, so time travel redraws it as of that event.
import type { RunEvent } from "../api/client";

export type BarKind = "queued" | "running" | "backoff" | "timer" | "waiting";

export interface Bar {
  step: string;
  attempt: number;
  kind: BarKind;
  start: number;
  end: number | null;
  outcome?: string;
}

export interface Gantt {
  rows: string[];
  bars: Bar[];
  start: number;
  end: number;
}

type Data = Record<string, unknown>;
const str = (d: Data, k: string): string => String(d[k] ?? "");
const num = (d: Data, k: string): number => Number(d[k] ?? 0);
const time = (value: unknown): number => (typeof value === "string" ? Date.parse(value) : NaN);

const WAITING_EXECUTIONS = new Set(["signal", "approval", "child"]);
const ENDINGS: Record<string, string> = {
  StepSucceeded: "succeeded",
  StepFailed: "failed",
  StepTimedOut: "timed out",
  StepCancelled: "cancelled",
};

export function buildGantt(events: RunEvent[], atSeq: number, now: number | null): Gantt {
  const rows: string[] = [];
  const bars: Bar[] = [];
  const open = new Map<string, Bar>();
  let first = Infinity;
  let last = -Infinity;

  const row = (step: string) => {
    if (!rows.includes(step)) rows.push(step);
  };
  const begin = (bar: Bar) => {
    row(bar.step);
    bars.push(bar);
    open.set(bar.step, bar);
  };
  const close = (step: string, at: number, outcome?: string) => {
    const bar = open.get(step);
    if (!bar) return;
    bar.end = at;
    if (outcome) bar.outcome = outcome;
    open.delete(step);
  };

  for (const event of events) {
    if (event.seq > atSeq) break;
    const d = event.data as Data;
    const at = time(d["at"] ?? event.recordedAt);
    if (Number.isNaN(at)) continue;
    first = Math.min(first, at);
    last = Math.max(last, at);
    const step = str(d, "step");
    switch (event.type) {
      case "StepScheduled": {
        close(step, at);
        const execution = str(d, "execution");
        const kind: BarKind = WAITING_EXECUTIONS.has(execution)
          ? "waiting"
          : execution === "timer" ? "timer" : "queued";
        begin({ step, attempt: num(d, "attempt"), kind, start: at, end: null });
        break;
      }
      case "StepStarted":
        close(step, at);
        begin({ step, attempt: num(d, "attempt"), kind: "running", start: at, end: null });
        break;
      case "StepRetryScheduled": {
        close(step, at, "failed");
        const fire = time(d["fireAt"]);
        begin({ step, attempt: num(d, "attempt"), kind: "backoff", start: at, end: null });
        if (!Number.isNaN(fire) && fire <= (now ?? last)) close(step, fire);
        break;
      }
      case "StepPollScheduled": {
        // the attempt handed back an outside job: the step waits for the next poll
        close(step, at);
        const fire = time(d["fireAt"]);
        begin({ step, attempt: num(d, "attempt"), kind: "waiting", start: at, end: null });
        if (!Number.isNaN(fire) && fire <= (now ?? last)) close(step, fire);
        break;
      }
      case "ApprovalRequested":
        close(step, at);
        begin({ step, attempt: num(d, "attempt"), kind: "waiting", start: at, end: null });
        break;
      case "StepSkipped":
        row(step);
        break;
      default: {
        const outcome = ENDINGS[event.type];
        if (outcome) {
          const bar = open.get(step);
          if (bar && bar.kind === "queued") bar.kind = "running"; // inline: no StepStarted
          close(step, at, outcome);
        }
      }
    }
  }
  const end = now ?? last;
  if (!Number.isFinite(first)) return { rows, bars, start: 0, end: 0 };
  return { rows, bars, start: first, end: Math.max(end, last, first + 1) };
}
