// The loading, empty and error states every page uses, so they look the same everywhere.
import { Link } from "react-router-dom";
import { describeError } from "../api/client";

export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <div role="status" className="flex items-center gap-2 p-6 text-slate-500">
      <span className="h-4 w-4 animate-spin rounded-full border-2 border-cyan-700 border-t-transparent" />
      {what}…
    </div>
  );
}

export function ErrorState({ error, retry }: { error: unknown; retry?: () => void }) {
  return (
    <div role="alert" className="m-4 rounded-md border border-red-200 bg-red-50 p-4 text-red-800">
      <p className="font-medium">Something went wrong</p>
      <p className="mt-1 text-sm">{describeError(error)}</p>
      {retry && (
        <button type="button" onClick={retry} className="mt-2 rounded bg-red-700 px-3 py-1 text-sm text-white">
          Try again
        </button>
      )}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: React.ReactNode }) {
  return (
    <div className="m-4 rounded-md border border-dashed border-slate-300 p-8 text-center text-slate-500">
      <p className="font-medium text-slate-700">{title}</p>
      {children && <div className="mt-2 text-sm">{children}</div>}
    </div>
  );
}

export function NotFound() {
  return (
    <Empty title="Nothing here">
      <Link to="/" className="text-cyan-700 underline">Go home</Link>
    </Empty>
  );
}

export function RunStatusBadge({ status }: { status: string }) {
  const style: Record<string, string> = {
    pending: "bg-slate-100 text-slate-700",
    running: "bg-blue-100 text-blue-800",
    waiting: "bg-violet-100 text-violet-800",
    succeeded: "bg-emerald-100 text-emerald-800",
    failed: "bg-red-100 text-red-800",
    cancelled: "bg-slate-200 text-slate-700",
    compensated: "bg-orange-100 text-orange-800",
  };
  return (
    <span data-run-status={status} className={`rounded-full px-2 py-0.5 text-xs font-medium ${style[status] ?? "bg-slate-100"}`}>
      {status}
    </span>
  );
}
