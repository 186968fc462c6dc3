// Pure edits of a workflow definition, as the builder makes them. Each returns a new
// definition (the old one is kept by the undo history), never mutates its argument.
import { freshNodeId, type Definition, type EdgeSpec, type NodeSpec } from "../lib/definition";

export interface Clip {
  nodes: NodeSpec[];
  edges: EdgeSpec[];
}

const edgesOf = (d: Definition): EdgeSpec[] => d.spec.edges ?? [];

function withSpec(d: Definition, nodes: NodeSpec[], edges: EdgeSpec[]): Definition {
  return { ...d, spec: { ...d.spec, nodes, edges } };
}

export function edgeKey(e: EdgeSpec, index: number): string {
  return `${e.from}->${e.to}#${index}`;
}

/** Adds a node of `type`; `tag` makes its id this client's own (see `freshNodeId`). */
export function addNode(d: Definition, type: string, at: { x: number; y: number }, config: Record<string, unknown> = {}, tag: string | null = null): [Definition, string] {
  const id = freshNodeId(type, d.spec.nodes.map((n) => n.id), tag);
  const node: NodeSpec = { id, type, config, ui: { x: Math.round(at.x), y: Math.round(at.y) } };
  return [withSpec(d, [...d.spec.nodes, node], edgesOf(d)), id];
}

/** Removes nodes (with every edge touching them) and edges (by `edgeKey`). */
export function removeElements(d: Definition, nodeIds: Set<string>, edgeKeys: Set<string>): Definition {
  const nodes = d.spec.nodes.filter((n) => !nodeIds.has(n.id));
  const edges = edgesOf(d).filter(
    (e, i) => !edgeKeys.has(edgeKey(e, i)) && !nodeIds.has(e.from) && !nodeIds.has(e.to),
  );
  // a compensation pointing at a removed node would dangle
  const cleaned = nodes.map((n) => (n.compensate && nodeIds.has(n.compensate) ? { ...n, compensate: undefined } : n));
  return withSpec(d, cleaned, edges);
}

/**
 * Adds an edge; a branching source gets a `when` (the first unused of its closed set, e.g.
 * condition's true/false, or empty for a switch to fill in). A branching source may lead to
 * one node on several branches (`case a` and `case b` of a switch), so only an edge that
 * repeats one with the same `when` is a duplicate, as the server's validator says
 * (DUPLICATE_EDGE). Duplicates and self-loops are refused (returns the definition unchanged).
 */
export function connect(d: Definition, from: string, to: string, whenValues: string[] | null, branches: boolean): Definition {
  const edges = edgesOf(d);
  if (from === to) return d;
  const edge: EdgeSpec = { from, to };
  if (branches) {
    const used = new Set(edges.filter((e) => e.from === from).map((e) => e.when));
    const usedHere = new Set(edges.filter((e) => e.from === from && e.to === to).map((e) => e.when));
    edge.when = whenValues?.find((v) => !used.has(v)) ?? whenValues?.find((v) => !usedHere.has(v))
      ?? whenValues?.[0] ?? (used.has("default") ? "" : "default");
  }
  if (edges.some((e) => e.from === from && e.to === to && (!branches || (e.when ?? "") === edge.when))) return d;
  return withSpec(d, d.spec.nodes, [...edges, edge]);
}

export function setEdgeWhen(d: Definition, index: number, when: string): Definition {
  const edges = edgesOf(d).map((e, i) => {
    if (i !== index) return e;
    const { when: _old, ...rest } = e;
    return when === "" ? rest : { ...rest, when };
  });
  return withSpec(d, d.spec.nodes, edges);
}

/** Replaces a node; a new id is carried into every edge and compensation reference. */
export function updateNode(d: Definition, id: string, next: NodeSpec): Definition {
  const renamed = next.id !== id;
  const nodes = d.spec.nodes.map((n) => {
    if (n.id === id) return next;
    return renamed && n.compensate === id ? { ...n, compensate: next.id } : n;
  });
  const edges = renamed
    ? edgesOf(d).map((e) => ({ ...e, from: e.from === id ? next.id : e.from, to: e.to === id ? next.id : e.to }))
    : edgesOf(d);
  return withSpec(d, nodes, edges);
}

export function setPositions(d: Definition, positions: Map<string, { x: number; y: number }>): Definition {
  const nodes = d.spec.nodes.map((n) => {
    const p = positions.get(n.id);
    return p ? { ...n, ui: { ...n.ui, x: Math.round(p.x), y: Math.round(p.y) } } : n;
  });
  return withSpec(d, nodes, edgesOf(d));
}

/** The selected nodes and the edges between them. */
export function copy(d: Definition, ids: Set<string>): Clip {
  return {
    nodes: d.spec.nodes.filter((n) => ids.has(n.id)).map((n) => structuredClone(n)),
    edges: edgesOf(d).filter((e) => ids.has(e.from) && ids.has(e.to)).map((e) => ({ ...e })),
  };
}

/** Pastes a clip with fresh ids (this client's own with a `tag`), offset so the copies do
 * not hide the originals. */
export function paste(d: Definition, clip: Clip, offset = 40, tag: string | null = null): [Definition, string[]] {
  const taken = d.spec.nodes.map((n) => n.id);
  const renames = new Map<string, string>();
  const nodes = clip.nodes.map((n) => {
    const id = freshNodeId(n.id.replace(/_\d+$/, ""), [...taken, ...renames.values()], tag);
    renames.set(n.id, id);
    return { ...structuredClone(n), id, ui: { ...n.ui, x: (n.ui?.x ?? 0) + offset, y: (n.ui?.y ?? 0) + offset } };
  });
  for (const n of nodes) if (n.compensate) n.compensate = renames.get(n.compensate) ?? n.compensate;
  const edges = clip.edges.map((e) => ({ ...e, from: renames.get(e.from)!, to: renames.get(e.to)! }));
  return [withSpec(d, [...d.spec.nodes, ...nodes], [...edgesOf(d), ...edges]), [...renames.values()]];
}

/** A default config for a new node: the required fields, filled with empty values. */
export function defaultConfig(schema: Record<string, unknown>): Record<string, unknown> {
  const props = (schema["properties"] ?? {}) as Record<string, Record<string, unknown>>;
  const required = (schema["required"] ?? []) as string[];
  const config: Record<string, unknown> = {};
  for (const key of required) {
    const prop = props[key] ?? {};
    const type = prop["type"];
    config[key] = prop["default"] ?? (type === "object" ? {} : type === "array" ? [] : type === "integer" || type === "number" ? 0 : type === "boolean" ? false : "");
  }
  return config;
}
