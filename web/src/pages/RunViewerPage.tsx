// The run viewer: graph coloured by step status, Gantt of attempts, time travel over the
// event log, inspector, replay from an event, live logs (WebSocket) and events (SSE).
import { useEffect, useMemo, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, describeError, unwrap, type RunState } from "../api/client";
import { RunGraph } from "../components/RunGraph";
import { GanttChart } from "../components/GanttChart";
import { ErrorState, Loading, RunStatusBadge } from "../components/States";
import { LogPanel } from "../components/LogPanel";
import { ApprovalCard } from "../components/ApprovalCard";
import { listRunApprovals, type Approval } from "../api/approvals";
import { asDefinition } from "../lib/definition";
import { buildGantt } from "../lib/gantt";
import { between, formatTime, json, shortId } from "../lib/format";
import { statusesAt } from "../lib/runStatus";
import { TERMINAL_RUN } from "../lib/status";
import { useRunEvents } from "../lib/useRunEvents";

export function RunViewerPage() {
  const { runId = "" } = useParams();
  // a new run (after a replay, or a child link) starts from a clean slate
  return <RunViewer key={runId} runId={runId} />;
}

function RunViewer({ runId }: { runId: string }) {
  const queryClient = useQueryClient();
  const run = useQuery({
    queryKey: ["run", runId],
    queryFn: () => unwrap(api.GET("/runs/{run_id}", { params: { path: { run_id: runId } } })),
  });
  const { events, loading, live, error } = useRunEvents(runId, run.data?.status);
  const lastSeq = events.length ? events[events.length - 1]!.seq : 0;
  const [pinned, setPinned] = useState<number | null>(null); // null: follow the latest event
  const seq = pinned === null ? lastSeq : Math.min(pinned, lastSeq);
  const [selected, setSelected] = useState<string | null>(null);
  const [tab, setTab] = useState<"inspector" | "events" | "logs">("inspector");

  // the run summary (status, output) and its approvals refresh when the log says something changed
  useEffect(() => {
    if (!lastSeq) return;
    void queryClient.invalidateQueries({ queryKey: ["run", runId] });
    void queryClient.invalidateQueries({ queryKey: ["approvals", runId] });
  }, [lastSeq, runId, queryClient]);

  const definition = useMemo(() => {
    const started = events.find((e) => e.type === "RunStarted");
    return asDefinition((started?.data as { definition?: unknown } | undefined)?.definition);
  }, [events]);
  const statuses = useMemo(() => statusesAt(events, seq), [events, seq]);
  const ended = run.data ? TERMINAL_RUN.has(run.data.status) && !live : false;
  const gantt = useMemo(
    () => buildGantt(events, seq, pinned === null && !ended ? Date.now() : null),
    [events, seq, pinned, ended],
  );

  const state = useQuery({
    queryKey: ["state", runId, seq],
    enabled: seq > 0,
    placeholderData: keepPreviousData,
    queryFn: () =>
      unwrap(api.GET("/runs/{run_id}/state", { params: { path: { run_id: runId }, query: { atSeq: seq } } })),
  });
  // the approval inbox reads the run's events on its own, so a new request shows up a moment
  // after the step starts waiting: poll while the run is active
  const runActive = run.data ? !TERMINAL_RUN.has(run.data.status) : false;
  const approvals = useQuery({
    queryKey: ["approvals", runId],
    queryFn: () => listRunApprovals(runId),
    refetchInterval: runActive ? 2000 : false,
  });
  const pendingApprovals = useMemo(
    () => (approvals.data?.items ?? []).filter((a) => a.status === "pending"),
    [approvals.data],
  );
  const approvalNodes = useMemo(() => new Set(pendingApprovals.map((a) => a.nodeId)), [pendingApprovals]);
  const decided = () => {
    void queryClient.invalidateQueries({ queryKey: ["approvals", runId] });
    void queryClient.invalidateQueries({ queryKey: ["run", runId] });
  };
  const children = useQuery({
    queryKey: ["runs", "children", runId],
    queryFn: () => unwrap(api.GET("/runs", { params: { query: { parentRunId: runId, limit: 100 } } })),
  });

  if (run.isPending) return <Loading what="Loading the run" />;
  if (run.isError) return <ErrorState error={run.error} retry={() => void run.refetch()} />;
  const r = run.data;

  return (
    <div className="flex h-full flex-col" data-testid="run-viewer" data-run-status={r.status}>
      <div className="flex flex-wrap items-center gap-3 border-b bg-white px-4 py-2">
        <h1 className="text-lg font-semibold">
          <Link to={`/workflows/${encodeURIComponent(r.workflowId)}`} className="text-cyan-800 hover:underline">{r.workflowId}</Link>
          <span className="text-slate-400"> v{r.version} · run </span>
          <span className="font-mono text-base" title={r.runId}>{shortId(r.runId)}</span>
        </h1>
        <RunStatusBadge status={r.status} />
        {live && <span data-testid="live" className="flex items-center gap-1 text-xs text-emerald-700"><span className="h-2 w-2 animate-ping rounded-full bg-emerald-500" />live</span>}
        <span className="text-sm text-slate-500">started {formatTime(r.startedAt)} · {between(r.startedAt, r.endedAt)}</span>
        <div className="ml-auto flex flex-wrap items-center gap-2 text-sm">
          {r.parentRunId && <Link data-testid="parent-run" to={`/runs/${r.parentRunId}`} className="text-cyan-700 hover:underline">↑ parent run {shortId(r.parentRunId)}</Link>}
          {r.replayOf && <Link data-testid="replay-of" to={`/runs/${r.replayOf}`} className="text-cyan-700 hover:underline">↺ replay of {shortId(r.replayOf)}</Link>}
          {!TERMINAL_RUN.has(r.status) && <CancelButton runId={r.runId} />}
        </div>
      </div>

      {(children.data?.items.length ?? 0) > 0 && (
        <div data-testid="child-runs" className="flex flex-wrap gap-2 border-b bg-slate-50 px-4 py-1 text-sm">
          <span className="text-slate-500">Child runs:</span>
          {children.data!.items.map((c) => (
            <Link key={c.runId} to={`/runs/${c.runId}`} className="text-cyan-700 hover:underline">
              {c.workflowId} {shortId(c.runId)} ({c.status})
            </Link>
          ))}
        </div>
      )}

      {pendingApprovals.length > 0 && (
        <div data-testid="pending-approvals" className="flex flex-wrap items-center gap-2 border-b border-amber-200 bg-amber-50 px-4 py-1 text-sm">
          <span className="font-medium text-amber-900">Waiting for approval:</span>
          {pendingApprovals.map((a) => (
            <button key={a.id} type="button" data-approval-node={a.nodeId} onClick={() => { setSelected(a.nodeId); setTab("inspector"); }} className="rounded border border-amber-300 bg-white px-2 py-0.5 text-amber-900 hover:bg-amber-100">
              {a.title || a.nodeId} <span className="font-mono text-xs">({a.nodeId})</span> · decide…
            </button>
          ))}
        </div>
      )}

      <TimeTravel seq={seq} lastSeq={lastSeq} following={pinned === null} events={events} onChange={(value) => setPinned(value >= lastSeq && !ended ? null : value)} onFollow={() => setPinned(null)} />

      {error != null && <ErrorState error={error} />}
      <div className="grid min-h-0 flex-1 grid-cols-1 lg:grid-cols-[minmax(0,1fr)_400px]">
        <div className="flex min-h-0 flex-col">
          <div className="min-h-[300px] flex-1 border-b" data-testid="run-graph" data-at-seq={seq}>
            {loading ? <Loading what="Loading the history" /> : definition ? (
              <RunGraph definition={definition} statuses={statuses} approvals={approvalNodes} selected={selected} onSelect={(id) => { setSelected(id); if (id && approvalNodes.has(id)) setTab("inspector"); }} />
            ) : <p className="p-4 text-slate-500">This run has not started yet.</p>}
          </div>
          <div className="max-h-[40%] overflow-auto bg-white p-3" data-at-seq={seq}>
            <GanttChart gantt={gantt} selected={selected} onSelect={setSelected} />
          </div>
        </div>
        <aside className="flex min-h-0 flex-col border-l bg-white">
          <div className="flex border-b text-sm">
            {(["inspector", "events", "logs"] as const).map((t) => (
              <button key={t} type="button" onClick={() => setTab(t)} className={`flex-1 py-2 capitalize ${tab === t ? "border-b-2 border-cyan-700 font-medium" : "text-slate-500"}`}>{t}</button>
            ))}
          </div>
          <div className="min-h-0 flex-1 overflow-auto p-3">
            {tab === "inspector" && (
              <ApprovalsFor approvals={approvals.data?.items ?? []} error={approvals.error} selected={selected} onDecided={decided} />
            )}
            {tab === "inspector" && (
              <Inspector state={state.data} stale={state.isFetching} seq={seq} selected={selected} error={state.error} />
            )}
            {tab === "events" && (
              <ol data-testid="event-list" className="space-y-0.5 font-mono text-xs">
                {events.map((e) => (
                  <li key={e.seq}>
                    <button type="button" data-seq={e.seq} onClick={() => setPinned(e.seq)} className={`w-full rounded px-1 text-left ${e.seq === seq ? "bg-cyan-100" : e.seq > seq ? "text-slate-400" : "hover:bg-slate-100"}`}>
                      {e.seq}. {e.type} {String((e.data as Record<string, unknown>)["step"] ?? "")}
                    </button>
                  </li>
                ))}
              </ol>
            )}
            {tab === "logs" && <LogPanel runId={runId} nodeId={selected} />}
          </div>
          <ReplayForm runId={r.runId} seq={seq} input={r.input} disabled={seq < 1} />
        </aside>
      </div>
    </div>
  );
}

/** The selected step's approvals (any status), or every pending one when no step is selected. */
function ApprovalsFor({ approvals, error, selected, onDecided }: {
  approvals: Approval[]; error: unknown; selected: string | null; onDecided: () => void;
}) {
  const shown = selected ? approvals.filter((a) => a.nodeId === selected) : approvals.filter((a) => a.status === "pending");
  if (error) return <p role="alert" className="mb-3 text-xs text-red-700">Approvals could not be loaded: {describeError(error)}</p>;
  if (!shown.length) return null;
  return (
    <section data-testid="inspector-approvals" className="mb-3 space-y-2">
      <h3 className="text-xs font-semibold uppercase text-slate-500">{selected ? "Approvals of this step (now)" : "Pending approvals (now)"}</h3>
      {shown.map((a) => <ApprovalCard key={a.id} approval={a} onDecided={onDecided} />)}
    </section>
  );
}

function TimeTravel({ seq, lastSeq, following, events, onChange, onFollow }: {
  seq: number; lastSeq: number; following: boolean; events: { seq: number; type: string }[];
  onChange: (seq: number) => void; onFollow: () => void;
}) {
  const current = events.find((e) => e.seq === seq);
  return (
    <div className="flex items-center gap-3 border-b bg-white px-4 py-2 text-sm">
      <label htmlFor="seq" className="whitespace-nowrap font-medium">Time travel</label>
      <input
        id="seq"
        name="seq"
        type="range"
        min={lastSeq ? 1 : 0}
        max={lastSeq}
        value={seq}
        disabled={!lastSeq}
        onChange={(e) => onChange(Number(e.target.value))}
        className="flex-1 accent-cyan-700"
      />
      <span data-testid="seq-label" className="w-56 truncate font-mono text-xs">
        {seq}/{lastSeq} {current?.type ?? ""}
      </span>
      {!following && <button type="button" onClick={onFollow} className="rounded border px-2 py-0.5 text-xs">Latest</button>}
    </div>
  );
}

function Inspector({ state, stale, seq, selected, error }: {
  state: RunState | undefined; stale: boolean; seq: number; selected: string | null; error: unknown;
}) {
  if (error) return <ErrorState error={error} />;
  if (!state) return seq ? <Loading what="Loading the state" /> : <p className="text-sm text-slate-500">No events yet.</p>;
  const step = selected ? (state.steps ?? []).find((s) => s.nodeId === selected) : undefined;
  const block = (title: string, value: unknown) => (
    <section className="mb-3">
      <h3 className="mb-1 text-xs font-semibold uppercase text-slate-500">{title}</h3>
      <pre className="max-h-60 overflow-auto rounded bg-slate-50 p-2 text-xs">{value === undefined || value === null ? "—" : json(value)}</pre>
    </section>
  );
  return (
    <div data-testid="inspector" data-at-seq={state.atSeq} className={stale ? "opacity-60" : ""}>
      <p className="mb-2 text-xs text-slate-500">As of event {state.atSeq} · run {state.status}</p>
      {selected ? (
        step ? (
          <>
            <h2 className="mb-2 font-semibold">Step <span className="font-mono">{step.nodeId}</span> · {step.status} · attempt {step.attempt}</h2>
            {block("Input (run)", state.input)}
            {block("Output", step.output)}
            {block("Variables", state.vars)}
            {step.error ? block("Error", step.error) : null}
          </>
        ) : (
          <p className="text-sm text-slate-500">Step <span className="font-mono">{selected}</span> had not been scheduled at this point.</p>
        )
      ) : (
        <>
          <p className="mb-2 text-sm text-slate-500">Select a step on the graph or the Gantt.</p>
          {block("Input", state.input)}
          {block("Variables", state.vars)}
          {block("Output", state.output)}
          {state.error ? block("Error", state.error) : null}
        </>
      )}
    </div>
  );
}

function ReplayForm({ runId, seq, input, disabled }: { runId: string; seq: number; input: unknown; disabled: boolean }) {
  const navigate = useNavigate();
  const [open, setOpen] = useState(false);
  const [text, setText] = useState(() => json(input ?? null));
  const [problem, setProblem] = useState<string | null>(null);
  const replay = useMutation({
    mutationFn: (body: { fromSeq: number; input?: unknown }) =>
      unwrap(api.POST("/runs/{run_id}/replay", { params: { path: { run_id: runId } }, body: body as never })),
    onSuccess: (created) => navigate(`/runs/${created.runId}`),
  });
  const submit = () => {
    setProblem(null);
    let edited: unknown;
    try {
      edited = JSON.parse(text);
    } catch {
      setProblem("The input is not valid JSON.");
      return;
    }
    const same = JSON.stringify(edited) === JSON.stringify(input ?? null);
    replay.mutate(same ? { fromSeq: seq } : { fromSeq: seq, input: edited });
  };
  return (
    <div className="border-t p-3">
      {open && (
        <label className="mb-2 block text-xs font-medium text-slate-600">
          Input for the new run (edit to change it)
          <textarea name="replay-input" value={text} onChange={(e) => setText(e.target.value)} rows={5} className="mt-1 w-full rounded border p-1 font-mono text-xs" />
        </label>
      )}
      {(problem || replay.error) && <p role="alert" className="mb-2 text-xs text-red-700">{problem ?? describeError(replay.error)}</p>}
      <div className="flex gap-2">
        {!open && <button type="button" onClick={() => setOpen(true)} className="rounded border px-2 py-1 text-sm">Edit input…</button>}
        <button type="button" data-testid="replay" disabled={disabled || replay.isPending} onClick={submit} className="flex-1 rounded bg-cyan-700 px-3 py-1 text-sm font-medium text-white hover:bg-cyan-800 disabled:opacity-50">
          Replay from here (event {seq})
        </button>
      </div>
    </div>
  );
}

function CancelButton({ runId }: { runId: string }) {
  const cancel = useMutation({
    mutationFn: () => unwrap(api.POST("/runs/{run_id}/cancel", { params: { path: { run_id: runId } }, body: {} as never })),
  });
  return (
    <button type="button" disabled={cancel.isPending || cancel.isSuccess} onClick={() => cancel.mutate()} className="rounded border border-red-300 px-2 py-0.5 text-red-700 hover:bg-red-50 disabled:opacity-50" title={cancel.error ? describeError(cancel.error) : undefined}>
      {cancel.isSuccess ? "Cancelling…" : "Cancel run"}
    </button>
  );
}
