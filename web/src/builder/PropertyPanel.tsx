// The property panel: the selected node's id, name and config (from its type's JSON
// Schema), then the fields every node has (retry, timeout, queue, compensate, join, ...)
// from the node schema; or the selected edge's `when`.
import { useEffect, useState } from "react";
import type { NodeTypeList, Problem } from "../api/client";
import type { Definition, NodeSpec } from "../lib/definition";
import { ObjectFields } from "./SchemaForm";

const NODE_ID = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

export function NodePanel({ node, definition, catalog, problems, onChange }: {
  node: NodeSpec;
  definition: Definition;
  catalog: NodeTypeList;
  problems: Problem[];
  onChange: (next: NodeSpec) => void;
}) {
  const info = catalog.items.find((t) => t.type === node.type);
  const [id, setId] = useState(node.id);
  useEffect(() => setId(node.id), [node.id]);
  const idProblem = id !== node.id && (!NODE_ID.test(id)
    ? "letters, digits, _ and -, starting with a letter or _"
    : definition.spec.nodes.some((n) => n.id === id) ? "another node has this id" : null);
  const common = catalog.nodeSchema;
  const rest = Object.fromEntries(Object.entries(node).filter(([k]) => !["id", "type", "name", "config", "ui"].includes(k)));
  const input = "w-full rounded border border-slate-300 px-2 py-1 text-sm";
  return (
    <div data-testid="property-panel" data-node={node.id} className="space-y-3">
      <div>
        <h2 className="font-semibold">{node.id} <span className="text-sm font-normal text-slate-500">{node.type}</span></h2>
        {info && <p className="text-xs text-slate-500">{info.description}</p>}
      </div>
      {problems.length > 0 && (
        <ul className="rounded border border-red-200 bg-red-50 p-2 text-xs text-red-800">
          {problems.map((p, i) => <li key={i}><b>{p.code}</b> {p.path}: {p.message}</li>)}
        </ul>
      )}
      <label className="block text-xs font-medium text-slate-600">
        Id
        <input name="node.id" value={id} onChange={(e) => setId(e.target.value)}
          onBlur={() => { if (!idProblem && id !== node.id) onChange({ ...node, id }); else if (idProblem) setId(node.id); }}
          onKeyDown={(e) => { if (e.key === "Enter") (e.target as HTMLInputElement).blur(); }}
          className={input} />
        {idProblem && <span className="text-xs text-red-700">{idProblem}</span>}
      </label>
      <label className="block text-xs font-medium text-slate-600">
        Name
        <input name="node.name" value={node.name ?? ""} onChange={(e) => onChange({ ...node, name: e.target.value || undefined })} className={input} />
      </label>
      <section>
        <h3 className="mb-1 text-xs font-semibold uppercase text-slate-500">Config</h3>
        {info ? (
          <ObjectFields prefix="config" schema={info.configSchema} root={info.configSchema} value={node.config ?? {}}
            onChange={(config) => onChange({ ...node, config })} />
        ) : <p className="text-xs text-red-700">Unknown node type {node.type}.</p>}
      </section>
      <section>
        <h3 className="mb-1 text-xs font-semibold uppercase text-slate-500">Execution</h3>
        <ObjectFields prefix="node" schema={common} root={common} value={rest}
          skip={["id", "type", "name", "config", "ui"]}
          onChange={(next) => onChange({ id: node.id, type: node.type, ...(node.name ? { name: node.name } : {}), config: node.config ?? {}, ...(node.ui ? { ui: node.ui } : {}), ...next } as NodeSpec)} />
      </section>
    </div>
  );
}

export function EdgePanel({ from, to, when, whenValues, branches, onChange }: {
  from: string; to: string; when: string | undefined; whenValues: string[] | null; branches: boolean;
  onChange: (when: string) => void;
}) {
  return (
    <div data-testid="edge-panel" className="space-y-2">
      <h2 className="font-semibold">Edge {from} → {to}</h2>
      {branches ? (
        <label className="block text-xs font-medium text-slate-600">
          When ({from} takes this branch when its value is…)
          {whenValues ? (
            <select name="edge.when" value={when ?? ""} onChange={(e) => onChange(e.target.value)} className="w-full rounded border px-2 py-1 text-sm">
              {whenValues.map((v) => <option key={v} value={v}>{v}</option>)}
            </select>
          ) : (
            <input name="edge.when" value={when ?? ""} onChange={(e) => onChange(e.target.value)} placeholder="a value, or default" className="w-full rounded border px-2 py-1 text-sm" />
          )}
        </label>
      ) : <p className="text-sm text-slate-500">{from} does not branch: this edge is always taken.</p>}
    </div>
  );
}
