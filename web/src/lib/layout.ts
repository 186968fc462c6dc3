// Auto-layout with elkjs (layered, left to right), shared by the builder and the viewer.

export interface LayoutInput {
  nodes: { id: string; width?: number; height?: number }[];
  edges: { from: string; to: string }[];
}

export const NODE_WIDTH = 180;
export const NODE_HEIGHT = 56;

// ELK is large (about 1.5 MB): loaded on first use, in its own chunk
let elk: Promise<import("elkjs/lib/elk-api").ELK> | null = null;
function loadElk() {
  elk ??= import("elkjs/lib/elk.bundled.js").then((m) => new m.default());
  return elk;
}

/** Positions (top-left) for every node; edges to unknown nodes are ignored. */
export async function layoutGraph(input: LayoutInput): Promise<Map<string, { x: number; y: number }>> {
  const ids = new Set(input.nodes.map((n) => n.id));
  const graph = await (await loadElk()).layout({
    id: "root",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": "RIGHT",
      "elk.layered.spacing.nodeNodeBetweenLayers": "60",
      "elk.spacing.nodeNode": "30",
      "elk.layered.nodePlacement.strategy": "BRANDES_KOEPF",
    },
    children: input.nodes.map((n) => ({
      id: n.id,
      width: n.width ?? NODE_WIDTH,
      height: n.height ?? NODE_HEIGHT,
    })),
    edges: input.edges
      .filter((e) => ids.has(e.from) && ids.has(e.to) && e.from !== e.to)
      .map((e, i) => ({ id: `e${i}`, sources: [e.from], targets: [e.to] })),
  });
  const positions = new Map<string, { x: number; y: number }>();
  for (const child of graph.children ?? []) positions.set(child.id, { x: child.x ?? 0, y: child.y ?? 0 });
  return positions;
}

/**
 * A linear-time layered layout (longest path from the sources), for graphs too big for
 * ELK to lay out within a frame budget (a run of 1,000 steps); same left-to-right look.
 */
export function layeredLayout(input: LayoutInput): Map<string, { x: number; y: number }> {
  const ids = input.nodes.map((n) => n.id);
  const known = new Set(ids);
  const incoming = new Map<string, number>(ids.map((id) => [id, 0]));
  const outgoing = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const e of input.edges) {
    if (!known.has(e.from) || !known.has(e.to) || e.from === e.to) continue;
    outgoing.get(e.from)!.push(e.to);
    incoming.set(e.to, incoming.get(e.to)! + 1);
  }
  const layer = new Map<string, number>();
  const queue = ids.filter((id) => incoming.get(id) === 0);
  for (const id of queue) layer.set(id, 0);
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i]!;
    for (const next of outgoing.get(id)!) {
      layer.set(next, Math.max(layer.get(next) ?? 0, layer.get(id)! + 1));
      const left = incoming.get(next)! - 1;
      incoming.set(next, left);
      if (left === 0) queue.push(next);
    }
  }
  const rows = new Map<number, number>();
  const positions = new Map<string, { x: number; y: number }>();
  for (const id of ids) {
    const l = layer.get(id) ?? 0; // nodes on a cycle stay in the first layer
    const row = rows.get(l) ?? 0;
    rows.set(l, row + 1);
    positions.set(id, { x: l * (NODE_WIDTH + 60), y: row * (NODE_HEIGHT + 30) });
  }
  return positions;
}

export const ELK_LIMIT = 150;

/** ELK for graphs people draw; the linear layout beyond `ELK_LIMIT` nodes. */
export async function autoLayout(input: LayoutInput): Promise<Map<string, { x: number; y: number }>> {
  return input.nodes.length > ELK_LIMIT ? layeredLayout(input) : layoutGraph(input);
}
