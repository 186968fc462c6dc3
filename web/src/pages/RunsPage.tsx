// The run list: filters in the URL's query (shareable), newest first, refreshed live.
import { useInfiniteQuery } from "@tanstack/react-query";
import { useSearchParams } from "react-router-dom";
import { api, unwrap } from "../api/client";
import { RunTable } from "../components/RunTable";
import { Empty, ErrorState, Loading } from "../components/States";
import { RUN_STATUSES } from "../lib/status";

const WINDOWS: Record<string, number> = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3 };
const LIVE_MS = 2000;

export function RunsPage() {
  const [params, setParams] = useSearchParams();
  const workflowId = params.get("workflow") ?? "";
  const status = params.get("status") ?? "";
  const window = params.get("since") ?? "";
  const set = (key: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    setParams(next, { replace: true });
  };
  // the window start is rounded to the refresh interval so the query key stays stable
  const since = WINDOWS[window];
  const startedAfter = since ? new Date(Math.floor((Date.now() - since) / 60e3) * 60e3).toISOString() : undefined;

  const runs = useInfiniteQuery({
    queryKey: ["runs", workflowId, status, startedAfter],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(api.GET("/runs", {
        params: { query: {
          workflowId: workflowId || undefined,
          status: status ? [status] : undefined,
          startedAfter,
          limit: 50,
          cursor: pageParam,
        } },
      })),
    getNextPageParam: (page) => page.nextCursor ?? undefined,
    refetchInterval: LIVE_MS,
  });
  const items = runs.data?.pages.flatMap((p) => p.items) ?? [];
  const control = "rounded-md border border-slate-300 px-2 py-1 text-sm";

  return (
    <div className="p-4">
      <div className="mb-3 flex flex-wrap items-center gap-2">
        <h1 className="mr-4 text-xl font-semibold">Runs</h1>
        <input name="workflow" placeholder="Workflow id" defaultValue={workflowId} onKeyDown={(e) => { if (e.key === "Enter") set("workflow", e.currentTarget.value.trim()); }} onBlur={(e) => set("workflow", e.currentTarget.value.trim())} className={control} />
        <select name="status" value={status} onChange={(e) => set("status", e.target.value)} className={control}>
          <option value="">Any status</option>
          {RUN_STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
        </select>
        <select name="since" value={window} onChange={(e) => set("since", e.target.value)} className={control}>
          <option value="">Any time</option>
          <option value="1h">Last hour</option>
          <option value="24h">Last 24 hours</option>
          <option value="7d">Last 7 days</option>
        </select>
        <span className="ml-auto text-xs text-slate-500">{runs.isFetching ? "Refreshing…" : "Live: refreshes every 2 s"}</span>
      </div>
      {runs.isPending ? <Loading what="Loading runs" /> : runs.isError ? (
        <ErrorState error={runs.error} retry={() => void runs.refetch()} />
      ) : items.length === 0 ? (
        <Empty title="No runs match">Start one from a workflow's page, or with <code>tide run start</code>.</Empty>
      ) : (
        <div className="rounded-md border bg-white">
          <RunTable runs={items} />
          {runs.hasNextPage && (
            <button type="button" onClick={() => void runs.fetchNextPage()} disabled={runs.isFetchingNextPage} className="w-full border-t py-2 text-sm text-cyan-700 hover:bg-slate-50">
              {runs.isFetchingNextPage ? "Loading…" : "Load more"}
            </button>
          )}
        </div>
      )}
    </div>
  );
}
