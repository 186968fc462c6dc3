// The workflow definition format (DESIGN.md section 2) as the UI sees it.

export interface RetrySpec {
  maxAttempts?: number;
  initialInterval?: string;
  backoffCoefficient?: number;
  maxInterval?: string;
  nonRetryable?: string[];
}

export interface NodeSpec {
  id: string;
  type: string;
  name?: string;
  config?: Record<string, unknown>;
  retry?: RetrySpec;
  timeout?: string;
  queue?: string;
  compensate?: string;
  join?: "all" | "any";
  idempotencyKey?: string;
  ui?: { x?: number; y?: number } & Record<string, unknown>;
}

export interface EdgeSpec {
  from: string;
  to: string;
  when?: string;
}

export interface Definition {
  apiVersion: string;
  kind: string;
  metadata: { name: string; description?: string } & Record<string, unknown>;
  spec: {
    input?: Record<string, unknown>;
    vars?: Record<string, unknown>;
    nodes: NodeSpec[];
    edges?: EdgeSpec[];
    output?: unknown;
    triggers?: unknown[];
  } & Record<string, unknown>;
}

export function asDefinition(value: unknown): Definition | null {
  if (!value || typeof value !== "object") return null;
  const doc = value as Partial<Definition>;
  if (!doc.spec || !Array.isArray(doc.spec.nodes)) return null;
  return doc as Definition;
}

export function emptyDefinition(name: string): Definition {
  return {
    apiVersion: "tideflow.io/v1",
    kind: "Workflow",
    metadata: { name },
    spec: { nodes: [], edges: [] },
  };
}

/**
 * A node id not used yet: `<type>`, `<type>_2`, ... (ids match ^[A-Za-z_][A-Za-z0-9_-]*$).
 * With a `tag` (the editing client's own, in a shared draft): `<type>_<tag>`,
 * `<type>_<tag>_2`, ... People adding a node at the same time each see only their own
 * document, so only ids that differ by client can never collide when the edits merge.
 */
export function freshNodeId(type: string, taken: Iterable<string>, tag?: string | null): string {
  const used = new Set(taken);
  let base = type.replace(/[^A-Za-z0-9_-]/g, "_").replace(/^[^A-Za-z_]/, "n");
  if (tag) base = `${base.endsWith(`_${tag}`) ? base.slice(0, -tag.length - 1) : base}_${tag}`;
  if (!used.has(base)) return base;
  for (let i = 2; ; i++) if (!used.has(`${base}_${i}`)) return `${base}_${i}`;
}

/** The node a problem path such as `spec.nodes[2].config.expr` points at, if any. */
export function nodeOfProblem(path: string, definition: Definition): string | null {
  const match = /^spec\.nodes\[(\d+)\]/.exec(path);
  if (match) return definition.spec.nodes[Number(match[1])]?.id ?? null;
  const edge = /^spec\.edges\[(\d+)\]/.exec(path);
  if (edge) return definition.spec.edges?.[Number(edge[1])]?.to ?? null;
  return null;
}
