// Presence in the builder: who is here (avatars), the connection state, and the other
// people's cursors and selections on the canvas (from Yjs awareness).
import { ViewportPortal } from "@xyflow/react";
import type { CollabStatus, Peer } from "./useCollab";

const initials = (name: string) => name.split(/[\s._@:-]+/).filter(Boolean).slice(0, 2).map((p) => p[0]!.toUpperCase()).join("") || "?";

export function Avatar({ name, color, me = false }: { name: string; color: string; me?: boolean }) {
  return (
    <span data-testid={me ? "me" : "peer"} data-name={name} title={me ? `${name} (you)` : name}
      className="inline-flex h-7 w-7 items-center justify-center rounded-full border-2 border-white text-xs font-semibold text-white shadow"
      style={{ backgroundColor: color }}>
      {initials(name)}
    </span>
  );
}

const LABELS: Record<CollabStatus, string> = {
  checking: "connecting…",
  connecting: "connecting…",
  connected: "live",
  offline: "offline: edits kept, merged on reconnect",
  disabled: "not shared",
};

export function PresenceBar({ status, readOnly, me, peers }: {
  status: CollabStatus; readOnly: boolean; me: { name: string; color: string } | null; peers: Peer[];
}) {
  if (status === "disabled") return null;
  const dot = status === "connected" ? "bg-emerald-500" : status === "offline" ? "bg-slate-400" : "bg-amber-400";
  return (
    <div className="flex items-center gap-2">
      <span data-testid="collab-status" data-status={status} className="inline-flex items-center gap-1 rounded-full bg-slate-100 px-2 text-xs text-slate-700">
        <span className={`h-2 w-2 rounded-full ${dot}`} /> {LABELS[status]}
      </span>
      {readOnly && <span data-testid="read-only" className="rounded bg-slate-200 px-2 text-xs text-slate-700">view only</span>}
      <span data-testid="collab-peers" data-count={peers.length} className="flex -space-x-2">
        {me && <Avatar name={me.name} color={me.color} me />}
        {peers.map((p) => <Avatar key={p.clientId} name={p.name} color={p.color} />)}
      </span>
    </div>
  );
}

/** The other people's pointers, in flow coordinates (they follow pan and zoom). */
export function PeerCursors({ peers }: { peers: Peer[] }) {
  return (
    <ViewportPortal>
      {peers.filter((p) => p.cursor).map((p) => (
        <div key={p.clientId} data-testid="peer-cursor" data-name={p.name}
          className="pointer-events-none absolute left-0 top-0 z-50"
          style={{ transform: `translate(${p.cursor!.x}px, ${p.cursor!.y}px)` }}>
          <svg width="16" height="16" viewBox="0 0 16 16"><path d="M0 0 L0 12 L4 9 L7 15 L9 14 L6 8 L11 8 Z" fill={p.color} /></svg>
          <span className="ml-3 rounded px-1 text-[10px] text-white" style={{ backgroundColor: p.color }}>{p.name}</span>
        </div>
      ))}
    </ViewportPortal>
  );
}

/** Node id -> the people who have it selected (the first one's colour outlines it). */
export function peerSelections(peers: Peer[]): Map<string, Peer[]> {
  const map = new Map<string, Peer[]>();
  for (const p of peers) for (const id of p.selection ?? []) map.set(id, [...(map.get(id) ?? []), p]);
  return map;
}
