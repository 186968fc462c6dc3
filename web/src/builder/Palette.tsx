// Every node type, grouped by its category (built-ins first, then plugins and connectors),
// dragged onto the canvas (HTML5 drag and drop) or added with a click. Plugins that failed
// to load are named at the bottom, so a missing type is explained where it would be.
import type { NodeTypeInfo, PluginFailureInfo } from "../api/client";

export const DRAG_TYPE = "application/x-tideflow-node-type";

export function groupByCategory(types: NodeTypeInfo[]): [string, NodeTypeInfo[]][] {
  const groups = new Map<string, NodeTypeInfo[]>();
  for (const t of types) {
    const key = t.category || "core";
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  return [...groups.entries()].sort(([a], [b]) => (a === "core" ? -1 : b === "core" ? 1 : a.localeCompare(b)));
}

export function Palette({
  types,
  failures = [],
  onAdd,
}: {
  types: NodeTypeInfo[];
  failures?: PluginFailureInfo[];
  onAdd: (type: string) => void;
}) {
  return (
    <aside className="w-44 shrink-0 overflow-auto border-r bg-white p-2" aria-label="Node types">
      <h2 className="mb-2 text-xs font-semibold uppercase text-slate-500">Nodes</h2>
      {groupByCategory(types).map(([category, items]) => (
        <section key={category} aria-label={category} data-palette-category={category} className="mb-2">
          {category !== "core" && (
            <h3 className="mb-1 mt-2 text-[11px] font-semibold uppercase text-slate-400">{category}</h3>
          )}
          <ul className="space-y-1">
            {items.map((t) => (
              <li key={t.type}>
                <div
                  role="button"
                  tabIndex={0}
                  draggable
                  data-palette-type={t.type}
                  title={`${t.description} Drag onto the canvas, or press Enter to add.`}
                  onDragStart={(e) => {
                    e.dataTransfer.setData(DRAG_TYPE, t.type);
                    e.dataTransfer.effectAllowed = "move";
                  }}
                  onKeyDown={(e) => { if (e.key === "Enter") onAdd(t.type); }}
                  onDoubleClick={() => onAdd(t.type)}
                  className="cursor-grab rounded border border-slate-200 px-2 py-1 text-sm hover:border-cyan-600 hover:bg-cyan-50 active:cursor-grabbing"
                >
                  {t.icon && <span aria-hidden="true" className="mr-1">{t.icon}</span>}
                  <span className="font-medium">{t.type}</span>
                  <span className="block truncate text-xs text-slate-500">{t.description}</span>
                </div>
              </li>
            ))}
          </ul>
        </section>
      ))}
      {failures.length > 0 && (
        <p role="status" className="mt-3 rounded bg-amber-50 p-1 text-xs text-amber-800"
           title={failures.map((f) => `${f.entryPoint} (${f.source}): ${f.error}`).join("\n")}>
          {failures.length} plugin{failures.length > 1 ? "s" : ""} failed to load
        </p>
      )}
    </aside>
  );
}
