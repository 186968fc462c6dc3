// Co-editing a workflow draft: a Yjs document synced with the collaboration service over
// y-websocket, kept in IndexedDB (edits made offline survive a reload and merge on
// reconnect), presence through awareness, and undo/redo of this user's own edits only
// (Y.UndoManager tracking the local origin). See docs/collaboration.md.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import * as Y from "yjs";
import { WebsocketProvider } from "y-websocket";
import { IndexeddbPersistence } from "y-indexeddb";
import { ApiError, toApiError } from "../api/client";
import { freshToken } from "../api/session";
import type { Definition } from "../lib/definition";
import { applyDefinition, roots, toDefinition } from "./ydoc";

/** `offline`: no connection (edits are kept and sent on reconnect). */
export type CollabStatus = "checking" | "disabled" | "connecting" | "connected" | "offline";

export interface Peer {
  clientId: number;
  name: string;
  color: string;
  cursor?: { x: number; y: number } | null;
  selection?: string[];
}

export interface Collab {
  status: CollabStatus;
  /** The service says this caller may only view (the server refuses its updates too). */
  readOnly: boolean;
  /** The shared draft (null until the document is loaded from IndexedDB or the server). */
  definition: Definition | null;
  peers: Peer[];
  me: { name: string; color: string } | null;
  change: (next: Definition) => void;
  /** The shared draft now (synchronously, for edits made in quick succession). */
  current: () => Definition | null;
  undo: () => void;
  redo: () => void;
  canUndo: boolean;
  canRedo: boolean;
  setCursor: (at: { x: number; y: number } | null) => void;
  setSelection: (ids: string[]) => void;
  /** Goes offline / back online on purpose (the connection badge's button). */
  setOnline: (online: boolean) => void;
  /** This client's own suffix for new node ids (its Yjs client id), null without a document. */
  idTag: () => string | null;
}

/** A Yjs client id as a short node-id suffix (base 36: `[0-9a-z]`, at most 7 characters). */
export function idTagOf(clientId: number): string {
  return clientId.toString(36);
}

const LOCAL = { local: true };
const COLORS = ["#e11d48", "#2563eb", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d"];

export function colorOf(name: string, clientId: number): string {
  let h = clientId;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return COLORS[h % COLORS.length] ?? "#2563eb";
}

function socketBase(): string {
  const { protocol, host } = window.location;
  return `${protocol === "https:" ? "wss" : "ws"}://${host}/collab`;
}

interface Access {
  readOnly: boolean;
  subject: string | null;
}

/** Whether the service has a room for this workflow, and what the caller may do there. */
async function access(name: string): Promise<Access | null> {
  const token = await freshToken();
  const response = await fetch(`/collab/workflows/${encodeURIComponent(name)}`, {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  if (response.status === 404) return null;
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) throw toApiError(response.status, body);
  const found = body as { readOnly?: boolean; subject?: string };
  return { readOnly: Boolean(found.readOnly), subject: found.subject ?? null };
}

export function useCollab(name: string, enabled: boolean, user: string): Collab {
  const [status, setStatus] = useState<CollabStatus>(enabled ? "checking" : "disabled");
  const [readOnly, setReadOnly] = useState(false);
  const [definition, setDefinition] = useState<Definition | null>(null);
  const [peers, setPeers] = useState<Peer[]>([]);
  const [stacks, setStacks] = useState({ undo: 0, redo: 0 });
  const docRef = useRef<Y.Doc | null>(null);
  const providerRef = useRef<WebsocketProvider | null>(null);
  const undoRef = useRef<Y.UndoManager | null>(null);
  const [me, setMe] = useState<{ name: string; color: string } | null>(null);

  useEffect(() => {
    if (!enabled) {
      setStatus("disabled");
      return;
    }
    let cancelled = false;
    const cleanups: (() => void)[] = [];
    void (async () => {
      let found: Access | null;
      try {
        found = await access(name);
      } catch (e) {
        // an unreachable service is not a reason to stop editing alone
        if (!(e instanceof ApiError) || e.status >= 500) found = null;
        else throw e;
      }
      if (cancelled) return;
      if (!found) {
        setStatus("disabled");
        return;
      }
      setReadOnly(found.readOnly);
      const token = (await freshToken()) ?? "";
      if (cancelled) return;
      const doc = new Y.Doc();
      docRef.current = doc;
      const r = roots(doc);
      const undo = new Y.UndoManager([r.definition, r.spec, r.nodes, r.edges, r.shape], {
        trackedOrigins: new Set([LOCAL]),
        captureTimeout: 300,
      });
      undoRef.current = undo;
      const stackChanged = () => setStacks({ undo: undo.undoStack.length, redo: undo.redoStack.length });
      undo.on("stack-item-added", stackChanged);
      undo.on("stack-item-popped", stackChanged);
      const refresh = () => setDefinition(toDefinition(doc));
      doc.on("update", refresh);
      const stored = new IndexeddbPersistence(`tideflow:${user}:${name}`, doc);
      void stored.whenSynced.then(() => { if (!cancelled) refresh(); });
      const provider = new WebsocketProvider(socketBase(), encodeURIComponent(name), doc, {
        params: { token },
        maxBackoffTime: 2000,
      });
      providerRef.current = provider;
      provider.on("status", ({ status: s }: { status: string }) => {
        if (!cancelled) setStatus(s === "connected" ? "connected" : provider.shouldConnect ? "connecting" : "offline");
      });
      provider.on("connection-close", () => { if (!cancelled) setStatus(provider.shouldConnect ? "connecting" : "offline"); });
      // the service ends a session whose credential no longer holds (docs/collaboration.md)
      // with a code the provider takes as final (4400-4499): on 4401 the access token is
      // renewed and the provider joins again with it (not if it was revoked: nothing to join
      // with); on 4403 the access is read again (an editor made viewer joins read-only)
      const renew = async () => {
        const next = await freshToken();
        if (cancelled || !next || next === provider.params.token) return;
        provider.params.token = next;
        provider.connect();
      };
      const reread = async () => {
        try {
          const now = await access(name);
          if (cancelled || !now) return;
          setReadOnly(now.readOnly);
          provider.connect();
        } catch {
          if (!cancelled) setReadOnly(true);
        }
      };
      provider.on("closed", ({ code }: { code: number; reason: string }) => {
        if (cancelled) return;
        setStatus("offline");
        if (code === 4401) void renew();
        else if (code === 4403) void reread();
      });
      // the browser lost the network: stop trying until it is back (edits stay local)
      const goOffline = () => { provider.disconnect(); setStatus("offline"); };
      const goOnline = () => provider.connect();
      window.addEventListener("offline", goOffline);
      window.addEventListener("online", goOnline);
      cleanups.push(() => {
        window.removeEventListener("offline", goOffline);
        window.removeEventListener("online", goOnline);
      });
      // the name the service knows the caller by (a token login has no user name)
      const shown = found.subject && found.subject !== "admin" ? found.subject.replace(/^token:/, "") : user;
      const color = colorOf(shown, doc.clientID);
      setMe({ name: shown, color });
      provider.awareness.setLocalStateField("user", { name: shown, color });
      const onAwareness = () => {
        const list: Peer[] = [];
        provider.awareness.getStates().forEach((state, clientId) => {
          if (clientId === doc.clientID) return;
          const u = state.user as { name?: string; color?: string } | undefined;
          if (!u?.name) return;
          list.push({
            clientId,
            name: u.name,
            color: u.color ?? colorOf(u.name, clientId),
            cursor: state.cursor as Peer["cursor"],
            selection: state.selection as string[] | undefined,
          });
        });
        setPeers(list.sort((a, b) => a.clientId - b.clientId));
      };
      provider.awareness.on("change", onAwareness);
      setStatus("connecting");
      cleanups.push(() => {
        provider.awareness.off("change", onAwareness);
        provider.destroy();
        void stored.destroy();
        undo.destroy();
        doc.destroy();
      });
    })().catch(() => { if (!cancelled) setStatus("disabled"); });
    return () => {
      cancelled = true;
      cleanups.forEach((c) => c());
      docRef.current = null;
      providerRef.current = null;
      undoRef.current = null;
      setDefinition(null);
      setPeers([]);
    };
  }, [name, enabled, user]);

  const change = useCallback((next: Definition) => {
    const doc = docRef.current;
    if (doc) applyDefinition(doc, next, LOCAL);
  }, []);
  const current = useCallback(() => (docRef.current ? toDefinition(docRef.current) : null), []);
  const undo = useCallback(() => { undoRef.current?.undo(); }, []);
  const redo = useCallback(() => { undoRef.current?.redo(); }, []);
  const setCursor = useCallback((at: { x: number; y: number } | null) => {
    providerRef.current?.awareness.setLocalStateField("cursor", at);
  }, []);
  const setSelection = useCallback((ids: string[]) => {
    const awareness = providerRef.current?.awareness;
    if (!awareness) return;
    const current = (awareness.getLocalState()?.selection as string[] | undefined) ?? [];
    if (current.join("\n") !== ids.join("\n")) awareness.setLocalStateField("selection", ids);
  }, []);
  const setOnline = useCallback((online: boolean) => {
    const provider = providerRef.current;
    if (!provider) return;
    if (online) provider.connect();
    else {
      provider.disconnect();
      setStatus("offline");
    }
  }, []);

  // read when a node is added: Yjs gives a client a new id if it ever meets its own
  const idTag = useCallback(() => (docRef.current ? idTagOf(docRef.current.clientID) : null), []);

  return useMemo(() => ({
    status, readOnly, definition, peers, me, change, current, undo, redo,
    canUndo: stacks.undo > 0, canRedo: stacks.redo > 0, setCursor, setSelection, setOnline, idTag,
  }), [status, readOnly, definition, peers, me, change, current, undo, redo, stacks, setCursor, setSelection, setOnline, idTag]);
}
