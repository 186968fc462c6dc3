// The workflow draft as a shared Yjs document: the same shape as the collaboration service's
// (services/collab/src/tideflow/collab/document.py), see docs/collaboration.md.
//   definition (Map)  every top-level key but spec
//   spec (Map)        every spec key but nodes and edges
//   nodes (Array)     a Map per node; config and ui as nested Maps (a register per field)
//   edges (Array)     a Map per edge
//   shape (Map)       which of the above hold a part of the definition
// `applyDefinition` patches the document to a new definition with the smallest change
// (only the fields that differ), so concurrent edits of other fields merge.
import * as Y from "yjs";
import type { Definition } from "../lib/definition";

type Json = unknown;
type Obj = Record<string, Json>;
const NESTED = new Set(["config", "ui"]);

export interface Roots {
  definition: Y.Map<Json>;
  spec: Y.Map<Json>;
  nodes: Y.Array<Y.Map<Json>>;
  edges: Y.Array<Y.Map<Json>>;
  shape: Y.Map<boolean>;
}

export function roots(doc: Y.Doc): Roots {
  return {
    definition: doc.getMap("definition"),
    spec: doc.getMap("spec"),
    nodes: doc.getArray("nodes"),
    edges: doc.getArray("edges"),
    shape: doc.getMap("shape"),
  };
}

const isObj = (v: Json): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const objects = (v: Json): v is Obj[] => Array.isArray(v) && v.every(isObj);
const same = (a: Json, b: Json): boolean => JSON.stringify(a) === JSON.stringify(b) || deepEqual(a, b);

function deepEqual(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a), kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => k in b && deepEqual(a[k], b[k]));
  }
  return false;
}

function plain(value: Json): Json {
  if (value instanceof Y.Map) return Object.fromEntries([...value.entries()].map(([k, v]) => [k, plain(v)]));
  if (value instanceof Y.Array) return value.toArray().map(plain);
  return value;
}

export function readDefinition(doc: Y.Doc): Obj {
  const r = roots(doc);
  const out: Obj = {};
  for (const [k, v] of r.definition.entries()) out[k] = plain(v);
  if (r.shape.get("spec") === true) {
    const spec: Obj = {};
    for (const [k, v] of r.spec.entries()) spec[k] = plain(v);
    if (r.shape.get("nodes") === true) spec.nodes = r.nodes.toArray().map(plain);
    if (r.shape.get("edges") === true) spec.edges = r.edges.toArray().map(plain);
    out.spec = spec;
  }
  return out;
}

function nodeMap(node: Obj): Y.Map<Json> {
  const m = new Y.Map<Json>();
  for (const [k, v] of Object.entries(node)) {
    if (NESTED.has(k) && isObj(v)) {
      const nested = new Y.Map<Json>();
      for (const [nk, nv] of Object.entries(v)) nested.set(nk, nv);
      m.set(k, nested);
    } else m.set(k, v);
  }
  return m;
}

function patchMap(target: Y.Map<Json>, next: Obj, nested: Set<string> = new Set()): void {
  for (const key of [...target.keys()]) if (!(key in next)) target.delete(key);
  for (const [key, value] of Object.entries(next)) {
    const current = target.get(key);
    if (nested.has(key) && isObj(value)) {
      if (current instanceof Y.Map) patchMap(current, value);
      else {
        const m = new Y.Map<Json>();
        for (const [nk, nv] of Object.entries(value)) m.set(nk, nv);
        target.set(key, m);
      }
    } else if (current instanceof Y.Map || current instanceof Y.Array || current === undefined || !same(current, value)) {
      target.set(key, value);
    }
  }
}

/** Patches `items` (Maps keyed by `keyOf`) to `next`: removes, patches, inserts in place. */
function patchArray(items: Y.Array<Y.Map<Json>>, next: Obj[], keyOf: (o: Obj) => string, nested: Set<string>): void {
  const wanted = new Map<string, number>();
  next.forEach((o, i) => { if (!wanted.has(keyOf(o))) wanted.set(keyOf(o), i); });
  const seen = new Set<string>();
  for (let i = items.length - 1; i >= 0; i--) {
    const key = keyOf(plain(items.get(i)) as Obj);
    if (!wanted.has(key) || seen.has(key)) items.delete(i, 1);
    else seen.add(key);
  }
  next.forEach((o, i) => {
    const key = keyOf(o);
    const index = items.toArray().findIndex((m) => keyOf(plain(m) as Obj) === key);
    if (index >= 0) patchMap(items.get(index), o, nested);
    else items.insert(Math.min(i, items.length), [nodeMap(o)]);
  });
}

const nodeKey = (o: Obj) => String(o.id);
const edgeKey = (o: Obj) => `${String(o.from)}->${String(o.to)}`;

/** Makes the document hold `next`, changing only what differs (one transaction). */
export function applyDefinition(doc: Y.Doc, next: Definition | Obj, origin: unknown): void {
  const r = roots(doc);
  const def = next as Obj;
  doc.transact(() => {
    const spec = def.spec;
    const top: Obj = {};
    for (const [k, v] of Object.entries(def)) if (k !== "spec" || !isObj(spec)) top[k] = v;
    patchMap(r.definition, top);
    if (!isObj(spec)) {
      r.shape.delete("spec");
      return;
    }
    if (r.shape.get("spec") !== true) r.shape.set("spec", true);
    const rest: Obj = {};
    for (const [k, v] of Object.entries(spec)) {
      if ((k === "nodes" || k === "edges") && objects(v)) continue;
      rest[k] = v;
    }
    patchMap(r.spec, rest);
    for (const part of ["nodes", "edges"] as const) {
      const value = spec[part];
      if (objects(value)) {
        if (r.shape.get(part) !== true) r.shape.set(part, true);
        patchArray(r[part], value, part === "nodes" ? nodeKey : edgeKey, part === "nodes" ? NESTED : new Set());
      } else {
        if (r.shape.has(part)) r.shape.delete(part);
        if (r[part].length) r[part].delete(0, r[part].length);
      }
    }
  }, origin);
}

/** The document as the builder's `Definition` (null while it holds none yet). */
export function toDefinition(doc: Y.Doc): Definition | null {
  const d = readDefinition(doc);
  const spec = d.spec as Obj | undefined;
  if (!spec || !Array.isArray(spec.nodes)) return null;
  return d as unknown as Definition;
}
