// The builder: palette, infinite canvas (pan, zoom, minimap), property panel from JSON
// Schema, live validation pinned to nodes, undo/redo, copy/paste, auto-layout, save draft,
// publish, run, version history with diff and rollback, and YAML beside the canvas.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useLocation, useNavigate, useParams } from "react-router-dom";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import {
  Background, Controls, MarkerType, MiniMap, ReactFlow, ReactFlowProvider,
  applyEdgeChanges, applyNodeChanges, useReactFlow,
  type Connection, type Edge, type EdgeChange, type NodeChange,
} from "@xyflow/react";
import { ApiError, api, describeError, unwrap, type Problem } from "../api/client";
import { nodeTypes, type StepNodeType } from "../components/StepNode";
import { ErrorState, Loading } from "../components/States";
import { asDefinition, emptyDefinition, nodeOfProblem, type Definition } from "../lib/definition";
import { History } from "../lib/history";
import { layoutGraph } from "../lib/layout";
import { addNode, connect, copy, defaultConfig, edgeKey, paste, removeElements, setEdgeWhen, setPositions, updateNode, type Clip } from "../builder/doc";
import { DRAG_TYPE, Palette } from "../builder/Palette";
import { EdgePanel, NodePanel } from "../builder/PropertyPanel";
import { VersionsPanel } from "../builder/VersionsPanel";
import { YamlPanel } from "../builder/YamlPanel";
import { useHandleRepair } from "../lib/useHandleRepair";
import { useSession } from "../api/session";
import { PeerCursors, PresenceBar, peerSelections } from "../collab/Presence";
import { publishShared } from "../collab/publish";
import { useCollab } from "../collab/useCollab";

export function BuilderPage() {
  const { name = "" } = useParams();
  return (
    <ReactFlowProvider key={name}>
      <Builder name={name} />
    </ReactFlowProvider>
  );
}

type Tab = "properties" | "yaml" | "versions" | "problems";

function isTyping(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return !!el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
}

function needsLayout(d: Definition): boolean {
  return d.spec.nodes.some((n) => typeof n.ui?.x !== "number" || typeof n.ui?.y !== "number");
}

function Builder({ name }: { name: string }) {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const flow = useReactFlow();
  // just created on the list page: nothing to load yet (and no 404 to log)
  const created = (useLocation().state as { created?: boolean } | null)?.created === true;
  const catalog = useQuery({
    queryKey: ["node-types"],
    staleTime: Infinity,
    queryFn: () => unwrap(api.GET("/node-types")),
  });
  const workflow = useQuery({
    queryKey: ["workflow", name, created],
    retry: false,
    queryFn: async () => {
      if (created) return null;
      try {
        return await unwrap(api.GET("/workflows/{workflow_id}", { params: { path: { workflow_id: name } } }));
      } catch (e) {
        if (e instanceof ApiError && e.code === "WORKFLOW_NOT_FOUND") return null;
        throw e;
      }
    },
  });

  const [localDoc, setDoc] = useState<Definition | null>(null);
  const [exists, setExists] = useState(false);
  const [savedJson, setSavedJson] = useState("");
  const history = useRef(new History<Definition>());
  const [, setHistoryTick] = useState(0);
  const clip = useRef<Clip | null>(null);
  const [tab, setTab] = useState<Tab>("properties");
  const [problems, setProblems] = useState<Problem[]>([]);
  const [notice, setNotice] = useState<string | null>(null);
  const [nodes, setNodes] = useState<StepNodeType[]>([]);
  const [edges, setEdges] = useState<Edge[]>([]);
  // co-editing (docs/collaboration.md): once the workflow exists, the shared document is
  // the draft; edits, undo and redo go through it
  const session = useSession();
  const collab = useCollab(name, exists, session?.subject ?? "me");
  const shared = collab.status !== "disabled" && collab.status !== "checking" && collab.definition !== null;
  // shared: the document is the draft (read directly, one render per remote update)
  const doc = shared ? collab.definition : localDoc;
  const collabRef = useRef({ collab, shared });
  collabRef.current = { collab, shared };
  const laidOutShared = useRef(false);
  useEffect(() => {
    if (!shared || !collab.definition) return;
    const d = collab.definition;
    setSavedJson((saved) => saved || JSON.stringify(d));
    if (!laidOutShared.current && !collab.readOnly && needsLayout(d) && d.spec.nodes.length) {
      laidOutShared.current = true;
      void layoutGraph({ nodes: d.spec.nodes, edges: d.spec.edges ?? [] }).then((p) => {
        const current = collabRef.current.collab.current();
        if (current && needsLayout(current)) collabRef.current.collab.change(setPositions(current, p));
        window.setTimeout(() => void flow.fitView({ padding: 0.2, maxZoom: 1 }), 50);
      });
    }
  }, [shared, collab.definition, collab.readOnly, flow]);

  // first load: the stored draft, or an empty one for a new workflow
  useEffect(() => {
    if (doc || workflow.data === undefined) return;
    const loaded = workflow.data ? asDefinition(workflow.data.definition) : null;
    const start = loaded ?? emptyDefinition(name);
    setExists(workflow.data !== null);
    setSavedJson(workflow.data ? JSON.stringify(start) : "");
    if (needsLayout(start) && start.spec.nodes.length) {
      void layoutGraph({ nodes: start.spec.nodes, edges: start.spec.edges ?? [] }).then((p) => {
        const laidOut = setPositions(start, p);
        // a layout computed on opening is not an edit: saving is not asked for
        if (workflow.data) setSavedJson(JSON.stringify(laidOut));
        setDoc(laidOut);
        window.setTimeout(() => void flow.fitView({ padding: 0.2, maxZoom: 1 }), 50);
      });
    } else {
      setDoc(start);
      // fit once, after the first render; never again on its own (no jumps while editing)
      if (start.spec.nodes.length) window.setTimeout(() => void flow.fitView({ padding: 0.2, maxZoom: 1 }), 50);
    }
  }, [workflow.data, doc, name, flow]);

  // edits are functional updates of the latest document: handlers React Flow holds on to
  // may be a render behind, and must not drop an edit made just before
  const change = useCallback((edit: Definition | ((current: Definition) => Definition)) => {
    const { collab: c, shared: on } = collabRef.current;
    if (on) {
      const current = c.current();
      if (!current || c.readOnly) return;
      const next = typeof edit === "function" ? edit(current) : edit;
      if (next !== current) c.change(next);
      return;
    }
    setDoc((current) => {
      if (!current) return current;
      const next = typeof edit === "function" ? edit(current) : edit;
      if (current !== next) history.current.record(current);
      return next;
    });
    setHistoryTick((t) => t + 1);
  }, []);

  const undo = useCallback(() => {
    if (collabRef.current.shared) return collabRef.current.collab.undo();
    setDoc((current) => (current ? history.current.undo(current) ?? current : current));
    setHistoryTick((t) => t + 1);
  }, []);
  const redo = useCallback(() => {
    if (collabRef.current.shared) return collabRef.current.collab.redo();
    setDoc((current) => (current ? history.current.redo(current) ?? current : current));
    setHistoryTick((t) => t + 1);
  }, []);

  // live validation by the server's own validator, debounced
  useEffect(() => {
    if (!doc) return;
    let live = true;
    const timer = window.setTimeout(() => {
      unwrap(api.POST("/definitions/validate", { body: doc as never }))
        .then((result) => { if (live) setProblems(result.problems); })
        .catch((e: unknown) => {
          if (live) setProblems(e instanceof ApiError && e.problems.length ? e.problems : [{ code: e instanceof ApiError ? e.code : "ERROR", path: "", message: describeError(e) }]);
        });
    }, 300);
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [doc]);

  const selectedBy = useMemo(() => peerSelections(collab.peers), [collab.peers]);
  const problemsByNode = useMemo(() => {
    const map = new Map<string, Problem[]>();
    if (!doc) return map;
    for (const p of problems) {
      const id = nodeOfProblem(p.path, doc);
      if (id) map.set(id, [...(map.get(id) ?? []), p]);
    }
    return map;
  }, [problems, doc]);

  // React Flow's nodes and edges follow the document, keeping what React Flow itself
  // tracks (measured sizes, selection)
  useEffect(() => {
    if (!doc) return;
    setNodes((previous) => {
      const byId = new Map(previous.map((n) => [n.id, n]));
      return doc.spec.nodes.map((n) => {
        const old = byId.get(n.id);
        return {
          ...old,
          id: n.id,
          type: "step" as const,
          className: "tf-node",
          position: { x: n.ui?.x ?? 0, y: n.ui?.y ?? 0 },
          selected: old?.selected ?? false,
          style: selectedBy.has(n.id) ? { outline: `2px solid ${selectedBy.get(n.id)?.[0]?.color ?? "#2563eb"}`, outlineOffset: 3, borderRadius: 8 } : undefined,
          domAttributes: selectedBy.has(n.id) ? { "data-peer-selected": selectedBy.get(n.id)!.map((p) => p.name).join(",") } as Record<string, string> : undefined,
          data: {
            nodeId: n.id,
            type: n.type,
            label: n.name,
            editable: true,
            problems: (problemsByNode.get(n.id) ?? []).map((p) => `${p.code}: ${p.message}`),
          },
        };
      });
    });
    setEdges((previous) => {
      const selected = new Set(previous.filter((e) => e.selected).map((e) => e.id));
      return (doc.spec.edges ?? []).map((e, i) => {
        const id = edgeKey(e, i);
        return {
          id,
          source: e.from,
          target: e.to,
          label: e.when,
          selected: selected.has(id),
          markerEnd: { type: MarkerType.ArrowClosed },
          labelBgStyle: { fill: "#ecfeff" },
          labelStyle: { fontWeight: 600 },
          style: { strokeWidth: 1.5 },
        };
      });
    });
  }, [doc, problemsByNode, selectedBy]);

  // React Flow may drop a node's handle positions while adopting rebuilt nodes (a race
  // with its resize observer): measure them again, or edges to that node are not drawn
  useHandleRepair(nodes);

  const selectedNodes = useMemo(() => new Set(nodes.filter((n) => n.selected).map((n) => n.id)), [nodes]);
  const selectedEdges = useMemo(() => new Set(edges.filter((e) => e.selected).map((e) => e.id)), [edges]);
  useEffect(() => collab.setSelection([...selectedNodes]), [collab, selectedNodes]);

  const onNodesChange = useCallback((changes: NodeChange<StepNodeType>[]) => {
    setNodes((current) => applyNodeChanges(changes.filter((c) => c.type !== "remove"), current));
  }, []);
  const onEdgesChange = useCallback((changes: EdgeChange[]) => {
    setEdges((current) => applyEdgeChanges(changes.filter((c) => c.type !== "remove"), current));
  }, []);

  const typeInfo = useCallback((nodeId: string) => {
    const type = doc?.spec.nodes.find((n) => n.id === nodeId)?.type;
    return catalog.data?.items.find((t) => t.type === type);
  }, [doc, catalog.data]);

  const onConnect = useCallback((c: Connection) => {
    if (!doc || !c.source || !c.target) return;
    const info = typeInfo(c.source);
    const { source, target } = c;
    change((d) => connect(d, source, target, info?.whenValues ?? null, info?.branches ?? false));
  }, [doc, typeInfo, change]);

  const add = useCallback((type: string, at?: { x: number; y: number }) => {
    if (!doc) return;
    const info = catalog.data?.items.find((t) => t.type === type);
    const position = at ?? flow.screenToFlowPosition({ x: window.innerWidth / 2, y: window.innerHeight / 2 });
    // in a shared draft the id carries this client's tag: others adding a node of the same
    // type at the same moment cannot pick the same id
    const tag = collabRef.current.shared ? collabRef.current.collab.idTag() : null;
    const corner = { x: position.x - 90, y: position.y - 28 };
    const config = info ? defaultConfig(info.configSchema) : {};
    const [next, id] = addNode(doc, type, corner, config, tag);
    change((d) => (d === doc ? next : addNode(d, type, corner, config, tag)[0]));
    setNodes((current) => current.map((n) => ({ ...n, selected: false })));
    // select the new node once it exists
    window.setTimeout(() => setNodes((current) => current.map((n) => ({ ...n, selected: n.id === id }))), 0);
    setTab("properties");
  }, [doc, catalog.data, flow, change]);

  const onDrop = useCallback((event: React.DragEvent) => {
    event.preventDefault();
    const type = event.dataTransfer.getData(DRAG_TYPE);
    if (type) add(type, flow.screenToFlowPosition({ x: event.clientX, y: event.clientY }));
  }, [add, flow]);

  const deleteSelection = useCallback(() => {
    if (!doc || (!selectedNodes.size && !selectedEdges.size)) return;
    change((d) => removeElements(d, selectedNodes, selectedEdges));
  }, [doc, selectedNodes, selectedEdges, change]);

  const save = useMutation({
    mutationFn: async (d: Definition) => {
      if (exists) await unwrap(api.PUT("/workflows/{workflow_id}", { params: { path: { workflow_id: name } }, body: d as never }));
      else await unwrap(api.POST("/workflows", { body: d as never }));
      return d;
    },
    onSuccess: (d) => {
      setExists(true);
      setSavedJson(JSON.stringify(d));
      setNotice("Draft saved.");
      void queryClient.invalidateQueries({ queryKey: ["workflows"] });
    },
    onError: (e) => {
      if (e instanceof ApiError && e.problems.length) {
        setProblems(e.problems);
        setTab("problems");
      }
    },
  });
  const publish = useMutation({
    mutationFn: async (d: Definition) => {
      if (collabRef.current.shared) return publishShared(name);
      if (!exists || JSON.stringify(d) !== savedJson) await save.mutateAsync(d);
      return unwrap(api.POST("/workflows/{workflow_id}/publish", { params: { path: { workflow_id: name } } }));
    },
    onSuccess: (published) => {
      setNotice(`Published version ${published.version}.`);
      void queryClient.invalidateQueries({ queryKey: ["versions", name] });
      void queryClient.invalidateQueries({ queryKey: ["workflows"] });
    },
  });

  // keyboard: delete, undo/redo, copy/paste, save (not while typing in a field)
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (isTyping(e.target) || !doc) return;
      const mod = e.ctrlKey || e.metaKey;
      const key = e.key.toLowerCase();
      if (e.key === "Delete" || e.key === "Backspace") {
        e.preventDefault();
        deleteSelection();
      } else if (mod && key === "z" && !e.shiftKey) {
        e.preventDefault();
        undo();
      } else if (mod && (key === "y" || (key === "z" && e.shiftKey))) {
        e.preventDefault();
        redo();
      } else if (mod && key === "c" && selectedNodes.size) {
        clip.current = copy(doc, selectedNodes);
        navigator.clipboard?.writeText(JSON.stringify(clip.current)).catch(() => undefined);
      } else if (mod && key === "v" && clip.current) {
        e.preventDefault();
        const [next, ids] = paste(doc, clip.current, 40, collabRef.current.shared ? collabRef.current.collab.idTag() : null);
        change(next);
        const pasted = new Set(ids);
        window.setTimeout(() => setNodes((current) => current.map((n) => ({ ...n, selected: pasted.has(n.id) }))), 0);
      } else if (mod && key === "s") {
        e.preventDefault();
        save.mutate(doc);
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [doc, deleteSelection, undo, redo, selectedNodes, change, save]);

  // a shared draft is stored as it is edited: nothing to lose by leaving
  const dirty = doc !== null && !shared && JSON.stringify(doc) !== savedJson;
  useEffect(() => {
    if (!dirty) return;
    const warn = (e: BeforeUnloadEvent) => e.preventDefault();
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [dirty]);
  useEffect(() => {
    if (!notice) return;
    const t = window.setTimeout(() => setNotice(null), 4000);
    return () => window.clearTimeout(t);
  }, [notice]);

  if (catalog.isError) return <ErrorState error={catalog.error} retry={() => void catalog.refetch()} />;
  if (workflow.isError) return <ErrorState error={workflow.error} retry={() => void workflow.refetch()} />;
  if (!catalog.data || !doc) return <Loading what="Loading the workflow" />;

  const selectedNode = selectedNodes.size === 1 ? doc.spec.nodes.find((n) => selectedNodes.has(n.id)) : undefined;
  const selectedEdgeIndex = selectedEdges.size === 1 && !selectedNodes.size
    ? (doc.spec.edges ?? []).findIndex((e, i) => selectedEdges.has(edgeKey(e, i))) : -1;
  const selectedEdge = selectedEdgeIndex >= 0 ? doc.spec.edges![selectedEdgeIndex] : undefined;
  const button = "rounded-md border border-slate-300 bg-white px-2.5 py-1 text-sm hover:bg-slate-50 disabled:opacity-40";
  const busy = save.isPending || publish.isPending;
  const actionError = save.error ?? publish.error;

  return (
    <div className="flex h-full flex-col" data-testid="builder" data-dirty={dirty}>
      <div className="flex flex-wrap items-center gap-2 border-b bg-white px-3 py-2">
        <h1 className="mr-2 text-lg font-semibold">{name}</h1>
        {!exists && <span className="rounded bg-amber-100 px-2 text-xs text-amber-800">new · not saved yet</span>}
        {exists && dirty && <span className="rounded bg-slate-100 px-2 text-xs text-slate-600">unsaved changes</span>}
        <span data-testid="problem-count" data-count={problems.length} className={`rounded-full px-2 text-xs ${problems.length ? "bg-red-100 text-red-800" : "bg-emerald-100 text-emerald-800"}`}>
          {problems.length ? `${problems.length} problem${problems.length > 1 ? "s" : ""}` : "valid"}
        </span>
        <div className="ml-auto flex flex-wrap gap-2">
          <PresenceBar status={collab.status} readOnly={collab.readOnly} me={collab.me} peers={collab.peers} />
          <button type="button" className={button} data-testid="undo" onClick={undo} disabled={shared ? !collab.canUndo : !history.current.canUndo} title="Undo (Ctrl+Z)">Undo</button>
          <button type="button" className={button} data-testid="redo" onClick={redo} disabled={shared ? !collab.canRedo : !history.current.canRedo} title="Redo (Ctrl+Shift+Z)">Redo</button>
          <button type="button" className={button} data-testid="auto-layout" onClick={() => {
            void layoutGraph({ nodes: doc.spec.nodes, edges: doc.spec.edges ?? [] }).then((p) => {
              change(setPositions(doc, p));
              window.setTimeout(() => void flow.fitView({ padding: 0.2, maxZoom: 1 }), 50);
            });
          }}>Auto-layout</button>
          <button type="button" className={button} data-testid="save" disabled={busy || (exists && !dirty)} onClick={() => save.mutate(doc)} title="Save the draft (Ctrl+S)">Save draft</button>
          <button type="button" className={`${button} !border-cyan-700 !bg-cyan-700 text-white hover:!bg-cyan-800`} data-testid="publish" disabled={busy || problems.length > 0} onClick={() => publish.mutate(doc)}>Publish</button>
          <RunButton name={name} onStarted={(runId) => navigate(`/runs/${runId}`)} />
        </div>
      </div>
      {(notice || actionError) && (
        <div role={actionError ? "alert" : "status"} className={`px-3 py-1 text-sm ${actionError ? "bg-red-50 text-red-800" : "bg-emerald-50 text-emerald-800"}`}>
          {actionError ? describeError(actionError) : notice}
        </div>
      )}
      <div className="flex min-h-0 flex-1">
        <Palette types={catalog.data.items} failures={catalog.data.failures} onAdd={(type) => add(type)} />
        <div className="relative min-w-0 flex-1" data-testid="canvas" onDrop={onDrop}
          onMouseMove={(e) => { if (shared) collab.setCursor(flow.screenToFlowPosition({ x: e.clientX, y: e.clientY })); }}
          onMouseLeave={() => { if (shared) collab.setCursor(null); }} onDragOver={(e) => { e.preventDefault(); e.dataTransfer.dropEffect = "move"; }}>
          <ReactFlow
            nodes={nodes}
            edges={edges}
            nodeTypes={nodeTypes}
            onNodesChange={onNodesChange}
            onEdgesChange={onEdgesChange}
            onConnect={onConnect}
            onNodeDragStop={(_, __, dragged) => change((d) => setPositions(d, new Map(dragged.map((n) => [n.id, n.position]))))}
            deleteKeyCode={null}
            nodesConnectable={!(shared && collab.readOnly)}
            nodesDraggable={!(shared && collab.readOnly)}
            minZoom={0.1}
            snapToGrid
            snapGrid={[10, 10]}
            proOptions={{ hideAttribution: true }}
          >
            <Background gap={20} />
            <Controls />
            <MiniMap pannable zoomable />
            {shared && <PeerCursors peers={collab.peers} />}
          </ReactFlow>
          {doc.spec.nodes.length === 0 && (
            <div className="pointer-events-none absolute inset-0 flex items-center justify-center text-slate-400">
              Drag a node type from the palette onto the canvas to start.
            </div>
          )}
        </div>
        <aside className="flex w-[380px] shrink-0 flex-col border-l bg-white">
          <div className="flex border-b text-sm">
            {(["properties", "yaml", "versions", "problems"] as const).map((t) => (
              <button key={t} type="button" data-tab={t} onClick={() => setTab(t)} className={`flex-1 py-2 capitalize ${tab === t ? "border-b-2 border-cyan-700 font-medium" : "text-slate-500"}`}>
                {t === "yaml" ? "YAML" : t}{t === "problems" && problems.length ? ` (${problems.length})` : ""}
              </button>
            ))}
          </div>
          <div className="min-h-0 flex-1 overflow-auto">
            {tab === "properties" && (
              <div className="p-3">
                {selectedNode ? (
                  <NodePanel node={selectedNode} definition={doc} catalog={catalog.data} problems={problemsByNode.get(selectedNode.id) ?? []}
                    onChange={(next) => {
                      change(updateNode(doc, selectedNode.id, next));
                      if (next.id !== selectedNode.id) window.setTimeout(() => setNodes((current) => current.map((n) => ({ ...n, selected: n.id === next.id }))), 0);
                    }} />
                ) : selectedEdge ? (
                  <EdgePanel from={selectedEdge.from} to={selectedEdge.to} when={selectedEdge.when}
                    whenValues={typeInfo(selectedEdge.from)?.whenValues ?? null} branches={typeInfo(selectedEdge.from)?.branches ?? false}
                    onChange={(when) => change(setEdgeWhen(doc, selectedEdgeIndex, when))} />
                ) : (
                  <p className="text-sm text-slate-500">
                    Select a node or an edge to edit it. Connect nodes by dragging from the right handle of one to another.
                    Shortcuts: Delete, Ctrl+Z / Ctrl+Shift+Z, Ctrl+C / Ctrl+V, Ctrl+S.
                  </p>
                )}
              </div>
            )}
            {tab === "yaml" && <YamlPanel definition={doc} onChange={change} />}
            {tab === "versions" && <VersionsPanel name={name} draft={doc} onOpen={(d) => { change(d); setTab("yaml"); }} />}
            {tab === "problems" && (
              <ul data-testid="problems" className="space-y-1 p-3 text-sm">
                {problems.length === 0 && <li className="text-emerald-700">No problems: ready to publish.</li>}
                {problems.map((p, i) => {
                  const nodeId = nodeOfProblem(p.path, doc);
                  return (
                    <li key={i}>
                      <button type="button" disabled={!nodeId} onClick={() => nodeId && setNodes((c) => c.map((n) => ({ ...n, selected: n.id === nodeId })))} className="w-full rounded border border-red-100 bg-red-50 p-2 text-left text-red-900">
                        <b>{p.code}</b> <span className="font-mono text-xs">{p.path}</span>
                        <span className="block text-xs">{p.message}</span>
                      </button>
                    </li>
                  );
                })}
              </ul>
            )}
          </div>
        </aside>
      </div>
    </div>
  );
}

function RunButton({ name, onStarted }: { name: string; onStarted: (runId: string) => void }) {
  const [open, setOpen] = useState(false);
  const [text, setText] = useState("{}");
  const [problem, setProblem] = useState<string | null>(null);
  const start = useMutation({
    mutationFn: (input: unknown) =>
      unwrap(api.POST("/workflows/{workflow_id}/runs", { params: { path: { workflow_id: name } }, body: { input } as never })),
    onSuccess: (run) => onStarted(run.runId),
  });
  const submit = () => {
    try {
      setProblem(null);
      start.mutate(JSON.parse(text || "null"));
    } catch {
      setProblem("The input is not valid JSON.");
    }
  };
  return (
    <div className="relative">
      <button type="button" data-testid="run" onClick={() => setOpen((o) => !o)} className="rounded-md border border-emerald-700 bg-emerald-700 px-2.5 py-1 text-sm text-white hover:bg-emerald-800">Run…</button>
      {open && (
        <div className="absolute right-0 z-10 mt-1 w-80 rounded-md border bg-white p-3 shadow-lg">
          <label className="block text-xs font-medium text-slate-600">
            Input (JSON) for the newest published version
            <textarea name="run-input" rows={5} value={text} onChange={(e) => setText(e.target.value)} className="mt-1 w-full rounded border p-1 font-mono text-xs" />
          </label>
          {(problem || start.error) && <p role="alert" className="mt-1 text-xs text-red-700">{problem ?? describeError(start.error)}</p>}
          <button type="button" data-testid="start-run" disabled={start.isPending} onClick={submit} className="mt-2 w-full rounded bg-emerald-700 py-1 text-sm text-white disabled:opacity-50">Start run</button>
        </div>
      )}
    </div>
  );
}
