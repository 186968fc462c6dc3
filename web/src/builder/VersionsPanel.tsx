// Published versions: newest first, a YAML diff between any version and the one before it
// (or the current draft), and rollback (publishes that version again as the newest).
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, describeError, unwrap } from "../api/client";
import { asDefinition, type Definition } from "../lib/definition";
import { diffLines } from "../lib/diff";
import { formatTime } from "../lib/format";
import { toYaml } from "./YamlPanel";
import { ErrorState, Loading } from "../components/States";

/** Positions are the editor's business, not a change of the workflow. */
function withoutLayout(d: Definition): Definition {
  return { ...d, spec: { ...d.spec, nodes: d.spec.nodes.map(({ ui: _ui, ...n }) => n) } };
}

export function VersionsPanel({ name, draft, onOpen }: { name: string; draft: Definition; onOpen: (d: Definition) => void }) {
  const queryClient = useQueryClient();
  const versions = useQuery({
    queryKey: ["versions", name],
    queryFn: () => unwrap(api.GET("/workflows/{workflow_id}/versions", { params: { path: { workflow_id: name }, query: { definitions: true } } })),
  });
  const [selected, setSelected] = useState<number | null>(null);
  const [against, setAgainst] = useState<"previous" | "draft">("previous");
  const [confirming, setConfirming] = useState<number | null>(null);
  const rollback = useMutation({
    mutationFn: (version: number) =>
      unwrap(api.POST("/workflows/{workflow_id}/versions/{version}/rollback", { params: { path: { workflow_id: name, version } } })),
    onSuccess: (published) => {
      setConfirming(null);
      setSelected(published.version);
      void queryClient.invalidateQueries({ queryKey: ["versions", name] });
      void queryClient.invalidateQueries({ queryKey: ["workflow", name] });
    },
  });

  if (versions.isPending) return <Loading what="Loading versions" />;
  if (versions.isError) return <ErrorState error={versions.error} retry={() => void versions.refetch()} />;
  const items = versions.data.items;
  if (!items.length) return <p className="p-3 text-sm text-slate-500">Nothing published yet: publish the draft to make version 1.</p>;
  const current = items.find((v) => v.version === selected) ?? items[0]!;
  const index = items.indexOf(current);
  const before = against === "draft" ? asDefinition(current.definition) : asDefinition(items[index + 1]?.definition);
  const after = against === "draft" ? draft : asDefinition(current.definition);
  const diff = after ? diffLines(before ? toYaml(withoutLayout(before)) : "", toYaml(withoutLayout(after))) : [];

  return (
    <div className="flex h-full flex-col" data-testid="versions-panel">
      <ul className="max-h-48 overflow-auto border-b text-sm">
        {items.map((v) => (
          <li key={v.version} data-version={v.version} className={`flex items-center gap-2 px-3 py-1 ${v.version === current.version ? "bg-cyan-50" : "hover:bg-slate-50"}`}>
            <button type="button" className="flex-1 text-left" onClick={() => setSelected(v.version)}>
              <b>v{v.version}</b>{v.rollbackOf ? <span className="text-xs text-slate-500"> (rollback of v{v.rollbackOf})</span> : null}
              <span className="block text-xs text-slate-500">{formatTime(v.publishedAt)}{v.publishedBy ? ` · ${v.publishedBy}` : ""}</span>
            </button>
            {v.version !== items[0]!.version && (confirming === v.version ? (
              <button type="button" data-testid={`confirm-rollback-${v.version}`} disabled={rollback.isPending}
                onClick={() => rollback.mutate(v.version)}
                className="rounded bg-amber-600 px-2 text-xs text-white">Publish v{v.version} again?</button>
            ) : (
              <button type="button" data-testid={`rollback-${v.version}`} onClick={() => setConfirming(v.version)}
                className="rounded border px-2 text-xs hover:bg-white">Roll back</button>
            ))}
            <button type="button" onClick={() => { const d = asDefinition(v.definition); if (d) onOpen(d); }} className="rounded border px-2 text-xs hover:bg-white" title="Load this version into the draft editor (save to keep it)">Edit</button>
          </li>
        ))}
      </ul>
      {rollback.error && <p role="alert" className="px-3 py-1 text-xs text-red-700">{describeError(rollback.error)}</p>}
      <div className="flex items-center gap-2 border-b px-3 py-1 text-xs">
        <span>Diff v{current.version} against</span>
        <select value={against} onChange={(e) => setAgainst(e.target.value as "previous" | "draft")} className="rounded border px-1">
          <option value="previous">{items[index + 1] ? `v${items[index + 1]!.version}` : "nothing (first version)"}</option>
          <option value="draft">the draft</option>
        </select>
      </div>
      <pre data-testid="version-diff" className="min-h-0 flex-1 overflow-auto p-2 font-mono text-xs leading-5">
        {diff.every((l) => l.kind === "same") ? <span className="text-slate-500">No differences.</span> : diff.map((l, i) => (
          <div key={i} className={l.kind === "added" ? "bg-emerald-50 text-emerald-800" : l.kind === "removed" ? "bg-red-50 text-red-800" : "text-slate-500"}>
            {l.kind === "added" ? "+ " : l.kind === "removed" ? "- " : "  "}{l.text}
          </div>
        ))}
      </pre>
    </div>
  );
}
