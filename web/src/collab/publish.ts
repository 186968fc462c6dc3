// Publishing the shared draft through the collaboration service: it validates the merged
// document and records who changed what since the last version (docs/collaboration.md).
import { toApiError } from "../api/client";
import { freshToken } from "../api/session";

export interface SharedPublish {
  workflowId: string;
  version: number;
  created: boolean;
  contributors: Record<string, { target: string; action: string; fields?: string[] }[]>;
}

export async function publishShared(name: string): Promise<SharedPublish> {
  const token = await freshToken();
  const response = await fetch(`/collab/workflows/${encodeURIComponent(name)}/publish`, {
    method: "POST",
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) throw toApiError(response.status, body);
  return body as SharedPublish;
}
