import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import type { Definition } from "../lib/definition";
import { addNode } from "../builder/doc";
import { idTagOf } from "./useCollab";
import { applyDefinition, readDefinition, roots, toDefinition } from "./ydoc";

const base = (): Definition => ({
  apiVersion: "tideflow.io/v1",
  kind: "Workflow",
  metadata: { name: "w" },
  spec: {
    input: { type: "object" },
    nodes: [
      { id: "a", type: "http", config: { url: "https://x", retries: 3, headers: { k: "v" } }, ui: { x: 10, y: -20 }, retry: { maxAttempts: 5 } },
      { id: "b", type: "log" },
    ],
    edges: [{ from: "a", to: "b", when: "true" }],
  },
});

// written by the collaboration service (services/collab: new_doc(base, client_id=7))
const FROM_PYTHON = "0119070028010a646566696e6974696f6e0a61706956657273696f6e01770e74696465666c6f772e696f2f763128010a646566696e6974696f6e046b696e64017708576f726b666c6f7728010a646566696e6974696f6e086d65746164617461017601046e616d657701772801057368617065047370656301782801047370656305696e707574017601047479706577066f626a6563742801057368617065056e6f64657301780701056e6f646573012800070602696401770161280007060474797065017704687474702700070606636f6e66696701280007090375726c01770968747470733a2f2f78280007090772657472696573017c40400000280007090768656164657273017601016b77017627000706027569012800070d0178017c412000002800070d0179017cc1a00000280007060572657472790176010b6d6178417474656d7074737c40a000008707060128000711026964017701622800071104747970650177036c6f6728010573686170650565646765730178070105656467657301280007150466726f6d017701612800071502746f0177016228000715047768656e0177047472756500";

function sync(a: Y.Doc, b: Y.Doc): void {
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)));
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)));
}

describe("the shared document", () => {
  it("reads what the collaboration service wrote", () => {
    const doc = new Y.Doc();
    Y.applyUpdate(doc, Uint8Array.from(FROM_PYTHON.match(/../g)!.map((h) => parseInt(h, 16))));
    expect(readDefinition(doc)).toEqual(base());
  });

  it("holds a definition without loss", () => {
    const doc = new Y.Doc();
    applyDefinition(doc, base(), null);
    expect(toDefinition(doc)).toEqual(base());
    const copy = new Y.Doc();
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc));
    expect(readDefinition(copy)).toEqual(base());
  });

  it("keeps absent parts absent and odd values where they were", () => {
    const doc = new Y.Doc();
    const odd = { apiVersion: "x", metadata: { name: "w" }, spec: { nodes: "not a list", extra: [1, { a: null }] } };
    applyDefinition(doc, odd, null);
    expect(readDefinition(doc)).toEqual(odd);
    const nospec = { apiVersion: "x", kind: "Workflow" };
    applyDefinition(doc, nospec, null);
    expect(readDefinition(doc)).toEqual(nospec);
  });

  it("changes only the fields that differ, so concurrent edits merge", () => {
    const alice = new Y.Doc();
    applyDefinition(alice, base(), null);
    const bob = new Y.Doc();
    sync(alice, bob);
    const a = base();
    a.spec.nodes[0]!.config = { ...a.spec.nodes[0]!.config, url: "https://alice" };
    const b = base();
    b.spec.nodes[0]!.ui = { x: 99, y: -20 };
    b.spec.nodes.push({ id: "c", type: "log" });
    applyDefinition(alice, a, "alice");
    applyDefinition(bob, b, "bob");
    sync(alice, bob);
    const merged = readDefinition(alice);
    expect(merged).toEqual(readDefinition(bob));
    const nodes = (merged.spec as Definition["spec"]).nodes;
    expect(nodes.map((n) => n.id)).toEqual(["a", "b", "c"]);
    expect(nodes[0]!.config!.url).toBe("https://alice");
    expect(nodes[0]!.ui).toEqual({ x: 99, y: -20 });
  });

  it("undoes one person's edits only", () => {
    const doc = new Y.Doc();
    applyDefinition(doc, base(), null);
    const r = roots(doc);
    const mine = { me: true };
    const undo = new Y.UndoManager([r.definition, r.spec, r.nodes, r.edges, r.shape], { trackedOrigins: new Set([mine]) });
    const edited = base();
    edited.spec.nodes[1]!.name = "mine";
    applyDefinition(doc, edited, mine);
    const other = toDefinition(doc)!;
    other.spec.nodes[0]!.timeout = "5s";
    applyDefinition(doc, other, "someone else");
    undo.undo();
    const now = toDefinition(doc)!;
    expect(now.spec.nodes[1]!.name).toBeUndefined();
    expect(now.spec.nodes[0]!.timeout).toBe("5s");
  });

  it("removes and renames nodes and edges", () => {
    const doc = new Y.Doc();
    applyDefinition(doc, base(), null);
    const next = base();
    next.spec.nodes = [{ ...next.spec.nodes[0]!, id: "first" }];
    next.spec.edges = [];
    applyDefinition(doc, next, null);
    expect(toDefinition(doc)).toEqual(next);
  });
});

describe("nodes added at the same time by two people", () => {
  it("get ids that cannot collide when their edits merge", () => {
    const alice = new Y.Doc();
    const bob = new Y.Doc();
    applyDefinition(alice, base(), null);
    sync(alice, bob);
    // both add an http node to the draft as each sees it, before hearing of the other's
    for (const doc of [alice, bob]) {
      const [next] = addNode(toDefinition(doc)!, "http", { x: 0, y: 0 }, {}, idTagOf(doc.clientID));
      applyDefinition(doc, next, null);
    }
    sync(alice, bob);
    const ids = toDefinition(alice)!.spec.nodes.map((n) => n.id);
    expect(toDefinition(bob)).toEqual(toDefinition(alice));
    expect(ids).toHaveLength(4);
    expect(new Set(ids).size).toBe(4);
    expect(ids).toContain(`http_${idTagOf(alice.clientID)}`);
    expect(ids).toContain(`http_${idTagOf(bob.clientID)}`);
  });

  it("collided without the tags (the ids the builder made before)", () => {
    const alice = new Y.Doc();
    const bob = new Y.Doc();
    applyDefinition(alice, base(), null);
    sync(alice, bob);
    for (const doc of [alice, bob]) applyDefinition(doc, addNode(toDefinition(doc)!, "http", { x: 0, y: 0 })[0], null);
    sync(alice, bob);
    const ids = toDefinition(alice)!.spec.nodes.map((n) => n.id);
    expect(ids.filter((id) => id === "http")).toHaveLength(2);
  });
});
