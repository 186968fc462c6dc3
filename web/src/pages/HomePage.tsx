// Home: recent runs, failing workflows and throughput at a glance (last 24 hours).
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { api, unwrap, type RunSummary } from "../api/client";
import { RunTable } from "../components/RunTable";
import { Empty, ErrorState, Loading } from "../components/States";

const DAY = 86400e3;

function summarize(runs: RunSummary[]) {
  const failing = new Map<string, number>();
  const perHour = new Array<number>(24).fill(0);
  const now = Date.now();
  let succeeded = 0;
  for (const r of runs) {
    if (r.status === "failed" || r.status === "compensated") failing.set(r.workflowId, (failing.get(r.workflowId) ?? 0) + 1);
    if (r.status === "succeeded") succeeded += 1;
    const age = r.startedAt ? now - Date.parse(r.startedAt) : DAY;
    const bucket = 23 - Math.floor(age / 3600e3);
    if (bucket >= 0 && bucket < 24) perHour[bucket]! += 1;
  }
  return { failing: [...failing.entries()].sort((a, b) => b[1] - a[1]), perHour, succeeded };
}

export function HomePage() {
  const since = new Date(Math.floor((Date.now() - DAY) / 60e3) * 60e3).toISOString();
  const runs = useQuery({
    queryKey: ["home", since],
    queryFn: () => unwrap(api.GET("/runs", { params: { query: { startedAfter: since, limit: 500 } } })),
    refetchInterval: 5000,
  });
  if (runs.isPending) return <Loading what="Loading the overview" />;
  if (runs.isError) return <ErrorState error={runs.error} retry={() => void runs.refetch()} />;
  const items = runs.data.items;
  const { failing, perHour, succeeded } = summarize(items);
  const peak = Math.max(1, ...perHour);
  const capped = runs.data.nextCursor != null;
  return (
    <div className="grid gap-4 p-4 lg:grid-cols-3">
      <section className="rounded-lg border bg-white p-4 lg:col-span-2">
        <div className="mb-2 flex items-center justify-between">
          <h2 className="font-semibold">Recent runs</h2>
          <Link to="/runs" className="text-sm text-cyan-700 hover:underline">All runs →</Link>
        </div>
        {items.length ? <RunTable runs={items.slice(0, 10)} /> : (
          <Empty title="No runs in the last 24 hours">Open a <Link to="/workflows" className="text-cyan-700 underline">workflow</Link> and run it.</Empty>
        )}
      </section>
      <div className="space-y-4">
        <section className="rounded-lg border bg-white p-4" data-testid="throughput">
          <h2 className="font-semibold">Throughput (24 h)</h2>
          <p className="text-3xl font-bold">{items.length}{capped ? "+" : ""}</p>
          <p className="text-sm text-slate-500">runs started · {succeeded} succeeded</p>
          <div className="mt-3 flex h-16 items-end gap-0.5" aria-label="runs per hour">
            {perHour.map((n, i) => (
              <div key={i} title={`${n} runs`} className="flex-1 rounded-t bg-cyan-600" style={{ height: `${(n / peak) * 100}%`, minHeight: n ? 2 : 0 }} />
            ))}
          </div>
        </section>
        <section className="rounded-lg border bg-white p-4">
          <h2 className="mb-2 font-semibold">Failing workflows (24 h)</h2>
          {failing.length ? (
            <ul className="space-y-1 text-sm">
              {failing.slice(0, 8).map(([id, count]) => (
                <li key={id} className="flex justify-between">
                  <Link to={`/runs?workflow=${encodeURIComponent(id)}&status=failed`} className="text-cyan-700 hover:underline">{id}</Link>
                  <span className="rounded-full bg-red-100 px-2 text-xs text-red-800">{count} failed</span>
                </li>
              ))}
            </ul>
          ) : <p className="text-sm text-slate-500">Nothing failed. 🎉</p>}
        </section>
      </div>
    </div>
  );
}
