// A small typed client for the approval routes. Under `tide dev` they are mounted on the
// gateway's port; they belong to the approval service's own app. The gateway's OpenAPI
// document (schema.d.ts) lists them too now; these hand-written types mirror
// services/approval/src/tideflow/approval/views.py and go through openapi-fetch like the rest.
import createClient from "openapi-fetch";
import { auth, unwrap } from "./client";

export type Verdict = "approve" | "reject";
export type ApprovalStatus = "pending" | "decided" | "expired" | "cancelled";

export interface Vote {
  by: string;
  decision: Verdict;
  comment?: string | null;
  decidedAt: string;
}

export interface Approval {
  id: string;
  runId: string;
  nodeId: string;
  workflowId: string;
  title?: string | null;
  description?: string | null;
  assignees: string[];
  role?: string | null;
  quorum: number;
  decisions: Vote[];
  requestedAt: string;
  expiresAt?: string | null;
  status: ApprovalStatus;
  decision?: Verdict | null;
  decidedBy?: string | null;
  decidedAt?: string | null;
  comment?: string | null;
  onTimeout: Verdict | "fail";
}

export interface ApprovalList {
  items: Approval[];
  nextCursor?: string | null;
}

export interface DecisionRequest {
  decision: Verdict;
  comment?: string | null;
}

interface ErrorResponse {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

/** The approval routes, in openapi-typescript's shape. */
export interface ApprovalPaths {
  "/approvals": {
    get: {
      parameters: {
        query?: { status?: ApprovalStatus; workflowId?: string; runId?: string; limit?: number; cursor?: string };
      };
      responses: {
        200: { content: { "application/json": ApprovalList } };
        default: { content: { "application/json": ErrorResponse } };
      };
    };
  };
  "/approvals/{approval_id}/decision": {
    post: {
      parameters: { path: { approval_id: string } };
      requestBody: { content: { "application/json": DecisionRequest } };
      responses: {
        200: { content: { "application/json": Approval } };
        default: { content: { "application/json": ErrorResponse } };
      };
    };
  };
}

// same origin, spelled out (a Request needs an absolute URL outside a browser); `fetch` is
// looked up per request rather than captured once, so a test can stand in for the server
export const approvalsApi = createClient<ApprovalPaths>({
  baseUrl: globalThis.location?.origin ?? "",
  fetch: (request) => globalThis.fetch(request),
});
approvalsApi.use(auth);

/** The run's approvals (every status), newest first. */
export function listRunApprovals(runId: string): Promise<ApprovalList> {
  return unwrap(approvalsApi.GET("/approvals", { params: { query: { runId, limit: 100 } } }));
}

/** Casts the caller's vote; answers the approval after it. */
export function decideApproval(id: string, body: DecisionRequest): Promise<Approval> {
  return unwrap(
    approvalsApi.POST("/approvals/{approval_id}/decision", { params: { path: { approval_id: id } }, body }),
  );
}
