// How a node looks on both canvases: the builder (editable, with handles and problems)
// and the run viewer (coloured by status; `data-node-id` and `data-status` for tools).
import { memo } from "react";
import { Handle, Position, type NodeProps, type Node } from "@xyflow/react";
import { STATUS_STYLE, type StepStatus } from "../lib/status";

export interface StepNodeData extends Record<string, unknown> {
  nodeId: string;
  type: string;
  label?: string;
  status?: StepStatus;
  problems?: string[];
  editable?: boolean;
  /** The run viewer: an approval of this step waits for a decision. */
  approvalPending?: boolean;
}

export type StepNodeType = Node<StepNodeData, "step">;

const TYPE_ICON: Record<string, string> = {
  transform: "ƒ", condition: "◇", switch: "⑂", log: "✎", set: "≔", http: "⇄", function: "λ",
  delay: "◷", signal: "⚑", approval: "✔", foreach: "⟳", subworkflow: "⧉",
};

function StepNodeView({ data, selected }: NodeProps<StepNodeType>) {
  const style = data.status ? STATUS_STYLE[data.status] : "border-slate-300 bg-white text-slate-800";
  const problems = data.problems ?? [];
  return (
    <div
      data-node-id={data.nodeId}
      data-status={data.status}
      data-problems={problems.length || undefined}
      title={problems.join("\n") || undefined}
      className={`relative w-[180px] rounded-lg border-2 px-3 py-2 shadow-sm ${style} ${
        selected ? "ring-2 ring-cyan-500 ring-offset-1" : ""
      } ${problems.length ? "!border-red-500" : ""}`}
    >
      <Handle type="target" position={Position.Left} className={data.editable ? "!h-3 !w-3 !bg-cyan-700" : "!opacity-0"} isConnectable={!!data.editable} />
      <div className="flex items-center gap-2">
        <span className="flex h-6 w-6 shrink-0 items-center justify-center rounded bg-slate-800/10 text-sm">
          {TYPE_ICON[data.type] ?? "•"}
        </span>
        <div className="min-w-0">
          <div className="truncate text-sm font-semibold">{data.label || data.nodeId}</div>
          <div className="truncate text-xs opacity-70">
            {data.type}
            {data.status ? ` · ${data.status}` : ""}
          </div>
        </div>
      </div>
      {problems.length > 0 && (
        <span data-testid="node-problem" className="absolute -right-2 -top-2 flex h-5 min-w-5 items-center justify-center rounded-full bg-red-600 px-1 text-xs font-bold text-white">
          {problems.length}
        </span>
      )}
      {data.approvalPending && (
        <span data-testid="node-approval" title="An approval waits for a decision: select the step to decide" className="absolute -bottom-2.5 right-2 rounded-full border border-amber-400 bg-amber-100 px-1.5 text-[10px] font-semibold text-amber-900">
          decide ✔
        </span>
      )}
      <Handle type="source" position={Position.Right} className={data.editable ? "!h-3 !w-3 !bg-cyan-700" : "!opacity-0"} isConnectable={!!data.editable} />
    </div>
  );
}

export const StepNode = memo(StepNodeView);
export const nodeTypes = { step: StepNode };
