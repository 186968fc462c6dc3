import { Link } from "react-router-dom";
import type { RunSummary } from "../api/client";
import { between, formatTime, shortId } from "../lib/format";
import { RunStatusBadge } from "./States";

export function RunTable({ runs }: { runs: RunSummary[] }) {
  return (
    <table className="w-full text-sm" data-testid="run-table">
      <thead className="text-left text-xs uppercase text-slate-500">
        <tr>
          <th className="px-3 py-2">Run</th>
          <th className="px-3 py-2">Workflow</th>
          <th className="px-3 py-2">Status</th>
          <th className="px-3 py-2">Started</th>
          <th className="px-3 py-2">Duration</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((r) => (
          <tr key={r.runId} data-run-id={r.runId} className="border-t hover:bg-slate-50">
            <td className="px-3 py-1.5 font-mono">
              <Link to={`/runs/${r.runId}`} className="text-cyan-700 hover:underline">{shortId(r.runId)}</Link>
              {r.replayOf && <span className="ml-1 text-xs text-slate-400" title={`replay of ${r.replayOf}`}>↺</span>}
              {r.parentRunId && <span className="ml-1 text-xs text-slate-400" title={`child of ${r.parentRunId}`}>↳</span>}
            </td>
            <td className="px-3 py-1.5">
              <Link to={`/workflows/${encodeURIComponent(r.workflowId)}`} className="hover:underline">{r.workflowId}</Link>
              <span className="text-slate-400"> v{r.version}</span>
            </td>
            <td className="px-3 py-1.5"><RunStatusBadge status={r.status} /></td>
            <td className="px-3 py-1.5 text-slate-600">{formatTime(r.startedAt)}</td>
            <td className="px-3 py-1.5 text-slate-600">{between(r.startedAt, r.endedAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
