import { describe, expect, it } from "vitest";
import { emptyDefinition } from "../lib/definition";
import { addNode, connect, copy, defaultConfig, edgeKey, paste, removeElements, setEdgeWhen, updateNode } from "./doc";

function three() {
  let d = emptyDefinition("w");
  [d] = addNode(d, "transform", { x: 0, y: 0 });
  [d] = addNode(d, "condition", { x: 200, y: 0 });
  [d] = addNode(d, "log", { x: 400, y: 0 });
  [d] = addNode(d, "log", { x: 400, y: 100 });
  d = connect(d, "transform", "condition", null, false);
  d = connect(d, "condition", "log", ["false", "true"], true);
  d = connect(d, "condition", "log_2", ["false", "true"], true);
  return d;
}

describe("builder edits", () => {
  it("adds nodes with fresh ids and branch edges with free when values", () => {
    const d = three();
    expect(d.spec.nodes.map((n) => n.id)).toEqual(["transform", "condition", "log", "log_2"]);
    expect(d.spec.edges).toEqual([
      { from: "transform", to: "condition" },
      { from: "condition", to: "log", when: "false" },
      { from: "condition", to: "log_2", when: "true" },
    ]);
    expect(connect(d, "log", "log", null, false)).toBe(d);
    expect(connect(d, "transform", "condition", null, false)).toBe(d);
  });

  it("connects two branches of a source to one node, but not the same branch twice", () => {
    let d = emptyDefinition("w");
    [d] = addNode(d, "switch", { x: 0, y: 0 });
    [d] = addNode(d, "log", { x: 200, y: 0 });
    d = connect(d, "switch", "log", null, true);
    d = setEdgeWhen(d, 0, "a");
    d = connect(d, "switch", "log", null, true);
    d = setEdgeWhen(d, 1, "b");
    expect(d.spec.edges).toEqual([
      { from: "switch", to: "log", when: "a" },
      { from: "switch", to: "log", when: "b" },
    ]);
    // a condition has two branches: both may lead to one node, a third edge cannot
    let c = three();
    c = connect(c, "condition", "log", ["false", "true"], true);
    expect(c.spec.edges!.at(-1)).toEqual({ from: "condition", to: "log", when: "true" });
    expect(connect(c, "condition", "log", ["false", "true"], true)).toBe(c);
  });

  it("removing a node removes its edges; removing an edge keeps the nodes", () => {
    const d = three();
    const noCondition = removeElements(d, new Set(["condition"]), new Set());
    expect(noCondition.spec.edges).toEqual([]);
    const noEdge = removeElements(d, new Set(), new Set([edgeKey(d.spec.edges![0]!, 0)]));
    expect(noEdge.spec.nodes).toHaveLength(4);
    expect(noEdge.spec.edges).toHaveLength(2);
    expect(d.spec.edges).toHaveLength(3); // untouched
  });

  it("renaming a node carries the new id into edges and compensations", () => {
    let d = three();
    d = updateNode(d, "log_2", { ...d.spec.nodes[3]!, compensate: "log" });
    d = updateNode(d, "log", { ...d.spec.nodes[2]!, id: "report" });
    expect(d.spec.edges![1]).toEqual({ from: "condition", to: "report", when: "false" });
    expect(d.spec.nodes[3]!.compensate).toBe("report");
  });

  it("pastes copies with fresh ids, their inner edges, and an offset", () => {
    const d = three();
    const clip = copy(d, new Set(["condition", "log"]));
    expect(clip.edges).toEqual([{ from: "condition", to: "log", when: "false" }]);
    const [pasted, ids] = paste(d, clip);
    expect(ids).toEqual(["condition_2", "log_3"]);
    expect(pasted.spec.edges!.at(-1)).toEqual({ from: "condition_2", to: "log_3", when: "false" });
    expect(pasted.spec.nodes.at(-1)!.ui).toEqual({ x: 440, y: 40 });
  });

  it("sets and clears a when label", () => {
    const d = setEdgeWhen(three(), 1, "");
    expect(d.spec.edges![1]).toEqual({ from: "condition", to: "log" });
    expect(setEdgeWhen(d, 1, "x").spec.edges![1]!.when).toBe("x");
  });

  it("fills required config fields with empty values", () => {
    expect(defaultConfig({ required: ["url", "n"], properties: { url: { type: "string" }, n: { type: "integer" }, m: {} } }))
      .toEqual({ url: "", n: 0 });
  });
});
