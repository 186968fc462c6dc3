// The run viewer's read-only graph: the run's definition laid out once, coloured by the
// status of each step as of the selected event.
import { useEffect, useMemo, useState } from "react";
import { Background, Controls, MiniMap, ReactFlow, applyNodeChanges, type Edge, type NodeChange } from "@xyflow/react";
import type { Definition } from "../lib/definition";
import { autoLayout } from "../lib/layout";
import { STATUS_COLOR, type StepStatus } from "../lib/status";
import { nodeTypes, type StepNodeType } from "./StepNode";
import { HandleRepair } from "../lib/useHandleRepair";

interface Props {
  definition: Definition;
  statuses: Map<string, StepStatus>;
  /** Nodes with a pending approval (badged, so the decision is one click away). */
  approvals?: ReadonlySet<string>;
  selected: string | null;
  onSelect: (nodeId: string | null) => void;
}

const NO_APPROVALS: ReadonlySet<string> = new Set();

export function RunGraph({ definition, statuses, approvals = NO_APPROVALS, selected, onSelect }: Props) {
  const [positions, setPositions] = useState<Map<string, { x: number; y: number }> | null>(null);
  const spec = definition.spec;

  useEffect(() => {
    let live = true;
    const edges = (spec.edges ?? []).map((e) => ({ from: e.from, to: e.to }));
    void autoLayout({ nodes: spec.nodes.map((n) => ({ id: n.id })), edges }).then((p) => {
      if (live) setPositions(p);
    });
    return () => {
      live = false;
    };
  }, [spec]);

  const derived: StepNodeType[] = useMemo(
    () =>
      positions
        ? spec.nodes.map((n) => ({
            id: n.id,
            type: "step" as const,
            className: "tf-node",
            position: positions.get(n.id) ?? { x: 0, y: 0 },
            selected: n.id === selected,
            draggable: false,
            connectable: false,
            data: { nodeId: n.id, type: n.type, label: n.name, status: statuses.get(n.id) ?? "pending", approvalPending: approvals.has(n.id) },
          }))
        : [],
    [positions, spec.nodes, statuses, approvals, selected],
  );

  // React Flow hides a node until it knows its size: keep the measured sizes when the
  // statuses (and so the node objects) change
  const [nodes, setNodes] = useState<StepNodeType[]>([]);
  useEffect(() => {
    setNodes((previous) => {
      const byId = new Map(previous.map((n) => [n.id, n]));
      return derived.map((n) => ({ ...n, measured: byId.get(n.id)?.measured }));
    });
  }, [derived]);

  const edges: Edge[] = useMemo(
    () =>
      (spec.edges ?? []).map((e, i) => {
        const status = statuses.get(e.from) ?? "pending";
        const target = statuses.get(e.to) ?? "pending";
        const taken = status === "succeeded" && target !== "skipped" && target !== "pending";
        return {
          id: `e${i}-${e.from}-${e.to}`,
          source: e.from,
          target: e.to,
          label: e.when,
          animated: target === "running" || target === "scheduled",
          style: {
            stroke: taken ? STATUS_COLOR.succeeded : target === "skipped" ? "#cbd5e1" : "#94a3b8",
            strokeDasharray: target === "skipped" ? "4 4" : undefined,
            strokeWidth: taken ? 2 : 1.5,
          },
          labelBgStyle: { fill: "#f1f5f9" },
        };
      }),
    [spec.edges, statuses],
  );

  if (!positions || (derived.length && !nodes.length)) return <div className="p-4 text-slate-500">Laying out the graph…</div>;
  return (
    <ReactFlow
      nodes={nodes}
      edges={edges}
      nodeTypes={nodeTypes}
      fitView
      minZoom={0.05}
      onlyRenderVisibleElements={nodes.length > 200}
      nodesDraggable={false}
      nodesConnectable={false}
      onNodesChange={(changes: NodeChange<StepNodeType>[]) => setNodes((current) => applyNodeChanges(changes, current))}
      onNodeClick={(_, node) => onSelect(node.id)}
      onPaneClick={() => onSelect(null)}
      proOptions={{ hideAttribution: true }}
    >
      <Background />
      {/* a rebuilt node can lose its handle positions in React Flow: its edges then vanish */}
      <HandleRepair nodes={nodes} />
      <Controls showInteractive={false} />
      {nodes.length <= 200 && <MiniMap pannable zoomable nodeColor={(n) => STATUS_COLOR[(n.data as { status?: StepStatus }).status ?? "pending"]} />}
    </ReactFlow>
  );
}
