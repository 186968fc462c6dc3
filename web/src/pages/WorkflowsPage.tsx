// Workflows: list, search, create (a new name opens an empty builder; the first save
// creates it).
import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link, useNavigate } from "react-router-dom";
import { api, unwrap } from "../api/client";
import { Empty, ErrorState, Loading } from "../components/States";
import { formatTime } from "../lib/format";

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

export function WorkflowsPage() {
  const navigate = useNavigate();
  const [search, setSearch] = useState("");
  const [name, setName] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const [archived, setArchived] = useState(false);
  const workflows = useQuery({
    queryKey: ["workflows", archived],
    queryFn: async () => {
      const items = [];
      let cursor: string | undefined;
      do {
        const page = await unwrap(api.GET("/workflows", { params: { query: { limit: 500, cursor, includeArchived: archived } } }));
        items.push(...page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor && items.length < 5000);
      return items;
    },
  });
  const create = (event: React.FormEvent) => {
    event.preventDefault();
    const value = name.trim();
    if (!NAME.test(value)) {
      setProblem("Use letters, digits, '.', '_' and '-', starting with a letter or digit.");
      return;
    }
    if (workflows.data?.some((w) => w.id === value)) {
      setProblem(`A workflow called ${value} exists already.`);
      return;
    }
    navigate(`/workflows/${encodeURIComponent(value)}`, { state: { created: true } });
  };
  const needle = search.trim().toLowerCase();
  const shown = (workflows.data ?? []).filter((w) => w.id.toLowerCase().includes(needle));
  const control = "rounded-md border border-slate-300 px-2 py-1 text-sm";
  return (
    <div className="p-4">
      <div className="mb-3 flex flex-wrap items-center gap-2">
        <h1 className="mr-4 text-xl font-semibold">Workflows</h1>
        <input type="search" name="search" placeholder="Search" value={search} onChange={(e) => setSearch(e.target.value)} className={control} />
        <label className="flex items-center gap-1 text-sm text-slate-600">
          <input type="checkbox" checked={archived} onChange={(e) => setArchived(e.target.checked)} /> archived too
        </label>
        <form onSubmit={create} className="ml-auto flex items-center gap-2">
          <input name="new-workflow" placeholder="new-workflow-name" value={name} onChange={(e) => { setName(e.target.value); setProblem(null); }} className={control} />
          <button className="rounded-md bg-cyan-700 px-3 py-1 text-sm font-medium text-white hover:bg-cyan-800">Create</button>
        </form>
      </div>
      {problem && <p role="alert" className="mb-2 text-sm text-red-700">{problem}</p>}
      {workflows.isPending ? <Loading what="Loading workflows" /> : workflows.isError ? (
        <ErrorState error={workflows.error} retry={() => void workflows.refetch()} />
      ) : shown.length === 0 ? (
        <Empty title={needle ? "No workflow matches" : "No workflows yet"}>Create one above, or apply a YAML file with <code>tide workflow apply</code>.</Empty>
      ) : (
        <table className="w-full rounded-md border bg-white text-sm" data-testid="workflow-table">
          <thead className="text-left text-xs uppercase text-slate-500">
            <tr><th className="px-3 py-2">Workflow</th><th className="px-3 py-2">Published</th><th className="px-3 py-2">Draft revision</th><th className="px-3 py-2">Updated</th><th /></tr>
          </thead>
          <tbody>
            {shown.map((w) => (
              <tr key={w.id} data-workflow-id={w.id} className="border-t hover:bg-slate-50">
                <td className="px-3 py-1.5">
                  <Link to={`/workflows/${encodeURIComponent(w.id)}`} className="font-medium text-cyan-700 hover:underline">{w.id}</Link>
                  {w.archived && <span className="ml-2 rounded bg-slate-200 px-1 text-xs">archived</span>}
                </td>
                <td className="px-3 py-1.5">{w.latestVersion ? `v${w.latestVersion}` : <span className="text-slate-400">never</span>}</td>
                <td className="px-3 py-1.5">{w.revision}</td>
                <td className="px-3 py-1.5 text-slate-600">{formatTime(w.updatedAt)}</td>
                <td className="px-3 py-1.5 text-right"><Link to={`/runs?workflow=${encodeURIComponent(w.id)}`} className="text-cyan-700 hover:underline">runs</Link></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
