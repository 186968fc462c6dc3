import { describe, expect, it } from "vitest";
import { buildGantt } from "./gantt";
import { statusesAt } from "./runStatus";
import type { RunEvent } from "../api/client";

const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
let seq = 0;
const ev = (type: string, at: number, data: Record<string, unknown> = {}): RunEvent => ({
  seq: ++seq, type, recordedAt: t(at), data: { at: t(at), ...data },
});

// a dispatched step that fails once, backs off, and succeeds on attempt 2; then a delay
seq = 0;
const events: RunEvent[] = [
  ev("RunStarted", 0, { definition: {} }),
  ev("StepScheduled", 0, { step: "fetch", attempt: 1, execution: "dispatch" }),
  ev("StepStarted", 1, { step: "fetch", attempt: 1 }),
  ev("StepRetryScheduled", 2, { step: "fetch", attempt: 1, nextAttempt: 2, fireAt: t(4), error: {} }),
  ev("StepScheduled", 4, { step: "fetch", attempt: 2, execution: "dispatch" }),
  ev("StepStarted", 5, { step: "fetch", attempt: 2 }),
  ev("StepSucceeded", 6, { step: "fetch", attempt: 2 }),
  ev("StepScheduled", 6, { step: "wait", attempt: 1, execution: "timer" }),
  ev("StepSucceeded", 9, { step: "wait", attempt: 1 }),
  ev("StepSkipped", 9, { step: "other", reason: "branch" }),
  ev("RunSucceeded", 9),
];

describe("statusesAt", () => {
  it("folds the log up to the chosen event", () => {
    expect(statusesAt(events, 3).get("fetch")).toBe("running");
    expect(statusesAt(events, 4).get("fetch")).toBe("retrying");
    expect(statusesAt(events, 5).get("fetch")).toBe("scheduled");
    expect(statusesAt(events, 8).get("wait")).toBe("waiting");
    const end = statusesAt(events, 11);
    expect(end.get("fetch")).toBe("succeeded");
    expect(end.get("wait")).toBe("succeeded");
    expect(end.get("other")).toBe("skipped");
  });

  it("marks compensated steps and keeps foreach items off their node", () => {
    seq = 0;
    const saga = [
      ev("StepScheduled", 0, { step: "book", attempt: 1, execution: "dispatch" }),
      ev("StepSucceeded", 1, { step: "book", attempt: 1 }),
      ev("StepScheduled", 2, { step: "book.compensate", nodeId: "unbook", attempt: 1, execution: "dispatch" }),
      ev("StepSucceeded", 3, { step: "book.compensate", attempt: 1 }),
      ev("StepScheduled", 2, { step: "each[0]", attempt: 1, execution: "dispatch" }),
      ev("CompensationSucceeded", 3, { forStep: "book", step: "book.compensate" }),
    ];
    const status = statusesAt(saga, 10);
    expect(status.get("book")).toBe("compensated");
    expect(status.get("unbook")).toBe("succeeded");
    expect(status.has("book.compensate")).toBe(false);
    expect(status.has("each[0]")).toBe(false);
  });
});

describe("buildGantt", () => {
  it("has a bar per phase of each attempt, retries and timers included", () => {
    const gantt = buildGantt(events, 11, null);
    expect(gantt.rows).toEqual(["fetch", "wait", "other"]);
    const fetch = gantt.bars.filter((b) => b.step === "fetch").map((b) => [b.kind, b.attempt, b.outcome ?? null]);
    expect(fetch).toEqual([
      ["queued", 1, null], ["running", 1, "failed"], ["backoff", 1, null],
      ["queued", 2, null], ["running", 2, "succeeded"],
    ]);
    const backoff = gantt.bars.find((b) => b.kind === "backoff")!;
    expect(backoff.end! - backoff.start).toBe(2000);
    expect(gantt.bars.find((b) => b.step === "wait")!.kind).toBe("timer");
    expect(gantt.end - gantt.start).toBe(9000);
  });

  it("leaves phases open as of an earlier event", () => {
    const gantt = buildGantt(events, 3, null);
    const open = gantt.bars.filter((b) => b.end === null);
    expect(open.map((b) => [b.step, b.kind])).toEqual([["fetch", "running"]]);
    expect(gantt.rows).toEqual(["fetch"]);
  });
});

describe("polled steps", () => {
  seq = 0;
  const polled: RunEvent[] = [
    ev("RunStarted", 0, { definition: {} }),
    ev("StepScheduled", 0, { step: "scan", attempt: 1, execution: "dispatch" }),
    ev("StepStarted", 1, { step: "scan", attempt: 1 }),
    ev("StepPollScheduled", 2, { step: "scan", attempt: 1, fireAt: t(7), state: { jobId: "j" } }),
    ev("StepScheduled", 7, { step: "scan", attempt: 2, execution: "dispatch" }),
    ev("StepSucceeded", 8, { step: "scan", attempt: 2 }),
  ];

  it("waits between polls, on the run status and on the timeline", () => {
    expect(statusesAt(polled, 4).get("scan")).toBe("waiting");
    expect(statusesAt(polled, 6).get("scan")).toBe("succeeded");
    const bars = buildGantt(polled, 6, null).bars.filter((b) => b.step === "scan");
    expect(bars.map((b) => b.kind)).toContain("waiting");
    const wait = bars.find((b) => b.kind === "waiting");
    expect(wait && wait.end).toBe(Date.parse(t(7)));
  });
});
