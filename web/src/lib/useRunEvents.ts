// A run's whole event log: the history page by page, then (while the run is live) the
// SSE stream, appended in seq order without duplicates.
import { useEffect, useState } from "react";
import { api, unwrap, type RunEvent } from "../api/client";
import { followRunEvents } from "../api/streams";
import { TERMINAL_RUN } from "./status";

export interface RunEvents {
  events: RunEvent[];
  loading: boolean;
  live: boolean;
  error: unknown;
}

const FINAL = new Set(["RunSucceeded", "RunFailed", "RunCompensated", "RunCancelled"]);

export function useRunEvents(runId: string, runStatus: string | undefined): RunEvents {
  const [state, setState] = useState<RunEvents>({ events: [], loading: true, live: false, error: null });
  const known = runStatus !== undefined;
  const terminal = runStatus !== undefined && TERMINAL_RUN.has(runStatus);

  useEffect(() => {
    if (!known) return;
    let stop: (() => void) | null = null;
    let cancelled = false;
    setState({ events: [], loading: true, live: false, error: null });
    const append = (more: RunEvent[]) =>
      setState((s) => {
        const last = s.events.length ? s.events[s.events.length - 1]!.seq : 0;
        const fresh = more.filter((e) => e.seq > last);
        return fresh.length ? { ...s, events: s.events.concat(fresh) } : s;
      });
    (async () => {
      let after = 0;
      const all: RunEvent[] = [];
      for (;;) {
        const page = await unwrap(
          api.GET("/runs/{run_id}/events", { params: { path: { run_id: runId }, query: { afterSeq: after, limit: 500 } } }),
        );
        all.push(...page.items);
        if (page.nextAfterSeq == null) break;
        after = page.nextAfterSeq;
      }
      if (cancelled) return;
      const last = all.length ? all[all.length - 1]! : null;
      const ended = terminal || (last !== null && FINAL.has(last.type));
      setState({ events: all, loading: false, live: !ended, error: null });
      if (ended) return;
      stop = followRunEvents(runId, last?.seq ?? 0, {
        onEvents: append,
        onEnd: () => setState((s) => ({ ...s, live: false })),
        onError: (error) => setState((s) => ({ ...s, live: false, error })),
      });
    })().catch((error: unknown) => {
      if (!cancelled) setState((s) => ({ ...s, loading: false, error }));
    });
    return () => {
      cancelled = true;
      stop?.();
    };
    // the terminal flag only matters for the first load; re-running on it would refetch
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [runId, known]);

  return state;
}
