// The Gantt of step attempts: rows are steps, bars are phases (queued, running, backoff
// before a retry, timers, waits), drawn as of the selected event.
import { useMemo, useState } from "react";
import type { Bar, Gantt, BarKind } from "../lib/gantt";
import { formatDuration } from "../lib/format";

const KIND_STYLE: Record<BarKind, string> = {
  queued: "bg-sky-200",
  running: "bg-blue-500",
  backoff: "bg-amber-300 bg-[repeating-linear-gradient(45deg,transparent,transparent_4px,rgba(255,255,255,.5)_4px,rgba(255,255,255,.5)_8px)]",
  timer: "bg-violet-300",
  waiting: "bg-violet-400",
};
const OUTCOME_STYLE: Record<string, string> = {
  failed: "bg-red-500",
  "timed out": "bg-red-400",
  cancelled: "bg-slate-400",
};

const ROW = 24;
const VIEW = 240;

export function GanttChart({ gantt, selected, onSelect }: {
  gantt: Gantt;
  selected: string | null;
  onSelect: (step: string) => void;
}) {
  const byStep = useMemo(() => {
    const map = new Map<string, Bar[]>();
    for (const bar of gantt.bars) {
      const list = map.get(bar.step);
      if (list) list.push(bar);
      else map.set(bar.step, [bar]);
    }
    return map;
  }, [gantt.bars]);
  const [scrollTop, setScrollTop] = useState(0);
  if (!gantt.rows.length) return <p className="p-3 text-sm text-slate-500">No step has been scheduled yet at this point.</p>;
  // only the rows in view are in the DOM (a run can have thousands of steps)
  const first = Math.max(0, Math.floor(scrollTop / ROW) - 5);
  const last = Math.min(gantt.rows.length, first + Math.ceil(VIEW / ROW) + 10);
  const span = Math.max(gantt.end - gantt.start, 1);
  const pct = (t: number) => `${(((t - gantt.start) / span) * 100).toFixed(3)}%`;
  return (
    <div data-testid="gantt" data-rows={gantt.rows.length} className="text-xs">
      <div className="mb-1 flex justify-between pl-32 text-slate-500">
        <span>0</span>
        <span>{formatDuration(span)}</span>
      </div>
      <div className="overflow-auto" style={{ maxHeight: VIEW }} onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}>
      <div className="relative" style={{ height: gantt.rows.length * ROW }}>
      {gantt.rows.slice(first, last).map((row, i) => (
        <div
          key={row}
          style={{ position: "absolute", top: (first + i) * ROW, left: 0, right: 0 }}
          data-gantt-row={row}
          onClick={() => onSelect(row)}
          className={`flex h-6 cursor-pointer items-center ${selected === row ? "bg-cyan-50" : "hover:bg-slate-50"}`}
        >
          <div className="w-32 shrink-0 truncate pr-2 font-mono" title={row}>{row}</div>
          <div className="relative h-4 flex-1 rounded bg-slate-100">
            {(byStep.get(row) ?? []).map((b, i) => {
                const end = b.end ?? gantt.end;
                const style = b.kind === "running" && b.outcome ? OUTCOME_STYLE[b.outcome] ?? KIND_STYLE.running : KIND_STYLE[b.kind];
                return (
                  <div
                    key={i}
                    data-bar-kind={b.kind}
                    data-attempt={b.attempt}
                    title={`${b.step} attempt ${b.attempt}: ${b.kind}${b.outcome ? ` (${b.outcome})` : ""}, ${formatDuration(end - b.start)}`}
                    className={`absolute top-0 h-4 min-w-[2px] rounded ${style} ${b.end === null ? "opacity-70" : ""}`}
                    style={{ left: pct(b.start), width: `calc(${pct(end)} - ${pct(b.start)})` }}
                  />
                );
              })}
          </div>
        </div>
      ))}
      </div>
      </div>
      <div className="mt-2 flex flex-wrap gap-3 pl-32 text-slate-500">
        {(Object.keys(KIND_STYLE) as BarKind[]).map((k) => (
          <span key={k} className="flex items-center gap-1"><span className={`inline-block h-3 w-3 rounded ${KIND_STYLE[k]}`} />{k}</span>
        ))}
        <span className="flex items-center gap-1"><span className="inline-block h-3 w-3 rounded bg-red-500" />failed attempt</span>
      </div>
    </div>
  );
}
