import { NavLink, Outlet, useNavigate } from "react-router-dom";
import { setSession, useSession } from "../api/session";

const link = ({ isActive }: { isActive: boolean }) =>
  `px-3 py-1.5 rounded-md text-sm font-medium ${
    isActive ? "bg-cyan-800 text-white" : "text-cyan-50 hover:bg-cyan-800/60"
  }`;

export function Shell() {
  const session = useSession();
  const navigate = useNavigate();
  return (
    <div className="flex h-full flex-col">
      <header className="flex items-center gap-2 bg-cyan-900 px-4 py-2 shadow">
        <NavLink to="/" className="mr-4 flex items-center gap-2 text-lg font-semibold text-white">
          <img src="/ui/favicon.svg" alt="" className="h-6 w-6" /> Tideflow
        </NavLink>
        <NavLink to="/" end className={link}>Home</NavLink>
        <NavLink to="/workflows" className={link}>Workflows</NavLink>
        <NavLink to="/runs" className={link}>Runs</NavLink>
        <a href="/docs" className="px-3 py-1.5 text-sm text-cyan-100 hover:underline">API docs</a>
        <div className="ml-auto flex items-center gap-3 text-sm text-cyan-100">
          <span data-testid="subject">{session?.subject}</span>
          <button
            type="button"
            className="rounded-md border border-cyan-600 px-2 py-1 hover:bg-cyan-800"
            onClick={() => {
              setSession(null);
              navigate("/login");
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main className="min-h-0 flex-1 overflow-auto">
        <Outlet />
      </main>
    </div>
  );
}
