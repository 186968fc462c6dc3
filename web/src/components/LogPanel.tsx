// Step logs over the WebSocket, following the run until it ends.
import { useEffect, useState } from "react";
import { followRunLogs, type LogLine } from "../api/streams";

export function LogPanel({ runId, nodeId }: { runId: string; nodeId: string | null }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [status, setStatus] = useState<"following" | "ended" | string>("following");

  useEffect(() => {
    setLines([]);
    setStatus("following");
    return followRunLogs(
      runId,
      (more) => setLines((current) => current.concat(more)),
      (error) => setStatus(error ?? "ended"),
    );
  }, [runId]);

  const shown = nodeId ? lines.filter((l) => l.nodeId === nodeId) : lines;
  return (
    <div data-testid="logs">
      <p className="mb-2 text-xs text-slate-500">
        {status === "following" ? "Following live…" : status === "ended" ? "End of the log." : status}
        {nodeId && ` · only ${nodeId}`}
      </p>
      {shown.length === 0 ? (
        <p className="text-sm text-slate-500">No log lines{nodeId ? " for this step" : ""}.</p>
      ) : (
        <ol className="space-y-0.5 font-mono text-xs">
          {shown.map((l) => (
            <li key={l.id} className={l.level === "error" ? "text-red-700" : l.level === "warning" ? "text-amber-700" : ""}>
              <span className="text-slate-400">{new Date(l.ts).toLocaleTimeString()}</span> [{l.nodeId}#{l.attempt}] {l.message}
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
