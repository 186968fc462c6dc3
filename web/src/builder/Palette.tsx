// Every node type, dragged onto the canvas (HTML5 drag and drop) or added with a click.
import type { NodeTypeInfo } from "../api/client";

export const DRAG_TYPE = "application/x-tideflow-node-type";

export function Palette({ types, onAdd }: { types: NodeTypeInfo[]; onAdd: (type: string) => void }) {
  return (
    <aside className="w-44 shrink-0 overflow-auto border-r bg-white p-2" aria-label="Node types">
      <h2 className="mb-2 text-xs font-semibold uppercase text-slate-500">Nodes</h2>
      <ul className="space-y-1">
        {types.map((t) => (
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
              <span className="font-medium">{t.type}</span>
              <span className="block truncate text-xs text-slate-500">{t.description}</span>
            </div>
          </li>
        ))}
      </ul>
    </aside>
  );
}
