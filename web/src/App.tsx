import { Navigate, Route, Routes, useLocation } from "react-router-dom";
import { useSession } from "./api/session";
import { Shell } from "./components/Shell";
import { LoginPage } from "./pages/LoginPage";
import { HomePage } from "./pages/HomePage";
import { WorkflowsPage } from "./pages/WorkflowsPage";
import { BuilderPage } from "./pages/BuilderPage";
import { RunsPage } from "./pages/RunsPage";
import { RunViewerPage } from "./pages/RunViewerPage";
import { NotFound } from "./components/States";

function RequireSession({ children }: { children: React.ReactNode }) {
  const session = useSession();
  const location = useLocation();
  if (!session) {
    return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  }
  return <>{children}</>;
}

export function App() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route
        element={
          <RequireSession>
            <Shell />
          </RequireSession>
        }
      >
        <Route index element={<HomePage />} />
        <Route path="workflows" element={<WorkflowsPage />} />
        <Route path="workflows/:name" element={<BuilderPage />} />

        <Route path="runs" element={<RunsPage />} />
        <Route path="runs/:runId" element={<RunViewerPage />} />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  );
}
