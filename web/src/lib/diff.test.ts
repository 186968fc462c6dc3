import { describe, expect, it } from "vitest";
import { diffLines } from "./diff";
import { History } from "./history";
import { freshNodeId, nodeOfProblem, emptyDefinition } from "./definition";
import { layeredLayout } from "./layout";
import { SseParser } from "../api/streams";

describe("diffLines", () => {
  it("keeps common lines and marks the rest", () => {
    const diff = diffLines("a\nb\nc", "a\nx\nc\nd");
    expect(diff.map((d) => `${d.kind[0]}${d.text}`)).toEqual(["sa", "rb", "ax", "sc", "ad"]);
  });
});

describe("History", () => {
  it("undoes and redoes, and a new change drops the redo", () => {
    const h = new History<number>();
    h.record(1);
    h.record(2);
    expect(h.undo(3)).toBe(2);
    expect(h.undo(2)).toBe(1);
    expect(h.redo(1)).toBe(2);
    h.record(2);
    expect(h.canRedo).toBe(false);
    expect(h.undo(5)).toBe(2);
  });
});

describe("definitions", () => {
  it("makes fresh, valid node ids", () => {
    expect(freshNodeId("http", [])).toBe("http");
    expect(freshNodeId("http", ["http", "http_2"])).toBe("http_3");
  });

  it("makes a client's own ids in a shared draft", () => {
    expect(freshNodeId("http", ["http"], "k3x9a")).toBe("http_k3x9a");
    expect(freshNodeId("http", ["http_k3x9a"], "k3x9a")).toBe("http_k3x9a_2");
    // a pasted copy of one's own node is not tagged twice; another's node gets one's tag
    expect(freshNodeId("log_k3x9a", ["log_k3x9a"], "k3x9a")).toBe("log_k3x9a_2");
    expect(freshNodeId("log_zz1", ["log_zz1"], "k3x9a")).toBe("log_zz1_k3x9a");
  });

  it("pins problems to the node their path names", () => {
    const d = emptyDefinition("x");
    d.spec.nodes.push({ id: "a", type: "log" }, { id: "b", type: "log" });
    d.spec.edges = [{ from: "a", to: "b" }];
    expect(nodeOfProblem("spec.nodes[1].config.message", d)).toBe("b");
    expect(nodeOfProblem("spec.edges[0].when", d)).toBe("b");
    expect(nodeOfProblem("metadata.name", d)).toBeNull();
  });
});

describe("layeredLayout", () => {
  it("puts each node one layer after its furthest parent", () => {
    const p = layeredLayout({
      nodes: [{ id: "a" }, { id: "b" }, { id: "c" }, { id: "d" }],
      edges: [{ from: "a", to: "b" }, { from: "b", to: "c" }, { from: "a", to: "c" }, { from: "a", to: "d" }],
    });
    expect(p.get("a")!.x).toBe(0);
    expect(p.get("b")!.x).toBe(p.get("d")!.x);
    expect(p.get("c")!.x).toBeGreaterThan(p.get("b")!.x);
    expect(p.get("b")!.y).not.toBe(p.get("d")!.y);
  });
});

describe("SseParser", () => {
  it("splits messages across chunks and skips comments", () => {
    const parser = new SseParser();
    expect(parser.push("retry: 1000\n\n: keep-alive\n\nid: 1\nevent: RunStarted\nda")).toEqual([]);
    expect(parser.push('ta: {"seq":1}\n\nid: 2\r\ndata: {"seq":2}\r\n\r\n')).toEqual([
      { id: "1", event: "RunStarted", data: '{"seq":1}' },
      { id: "2", data: '{"seq":2}' },
    ]);
  });
});
