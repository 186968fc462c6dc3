// Keeps every node of the builder's canvas connectable and its edges drawn.
//
// React Flow (12.x) holds where a node's handles are (`internals.handleBounds`) beside its
// measured size, and measures both when its ResizeObserver sees the node. The builder's
// nodes are controlled (rebuilt from the document on every edit, validation result and
// peer selection), and React Flow adopts them in a passive effect, after the browser laid
// out and ran the observer. When a node object rebuilt before the observer ran is adopted
// after it, React Flow drops the handle bounds it just measured; the size then comes back
// with the `dimensions` change, the bounds never do (the observer only fires again when the
// size changes): the node looks fine, but an edge to it is never drawn, and a drag onto
// its handle adds an edge nobody sees (a second drag is refused as a duplicate). This is
// xyflow issue #4888. After each adoption of the builder's nodes, any node that has a size
// but no handle bounds is measured again.
import { useEffect } from "react";
import { useStoreApi, useUpdateNodeInternals, type Node } from "@xyflow/react";

/** The ids of nodes React Flow measured but holds no handle bounds for. */
export function unmeasuredHandles(nodes: Iterable<{ id: string; hidden?: boolean; measured?: { width?: number; height?: number }; internals: { handleBounds?: unknown } }>): string[] {
  const lost: string[] = [];
  for (const n of nodes) {
    if (!n.hidden && n.measured?.width && n.measured.height && !n.internals.handleBounds) lost.push(n.id);
  }
  return lost;
}

/** Call in a component under the `ReactFlowProvider`, with the `nodes` given to `ReactFlow`. */
export function useHandleRepair(nodes: Node[]): void {
  const store = useStoreApi();
  const updateNodeInternals = useUpdateNodeInternals();
  // a parent's effects run after its children's: React Flow has adopted `nodes` by now
  useEffect(() => {
    const lost = unmeasuredHandles(store.getState().nodeLookup.values());
    if (lost.length) updateNodeInternals(lost);
  }, [nodes, store, updateNodeInternals]);
}

/** The same as a child of `<ReactFlow>`, for a canvas without a provider of its own (the
 * run viewer's graph, whose nodes are rebuilt on every status change). */
export function HandleRepair({ nodes }: { nodes: Node[] }): null {
  useHandleRepair(nodes);
  return null;
}
