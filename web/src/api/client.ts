// The typed API client: openapi-fetch over the paths generated from the gateway's
// /openapi.json (schema.d.ts), with the bearer token added to every request.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";
import { freshToken, getSession, setSession } from "./session";

export type Schemas = components["schemas"];
export type Run = Schemas["Run"];
export type RunState = Schemas["RunState"];
export type RunSummary = Schemas["RunSummary"];
export type StepView = Schemas["StepView"];
export type RunEvent = Schemas["Event"];
export type Workflow = Schemas["Workflow"];
export type WorkflowSummary = Schemas["WorkflowSummary"];
export type WorkflowVersion = Schemas["WorkflowVersion"];
export type NodeTypeInfo = Schemas["NodeTypeInfo"];
export type NodeTypeList = Schemas["NodeTypeList"];
export type PluginFailureInfo = Schemas["PluginFailureInfo"];
export type Problem = Schemas["ProblemView"];

/** A failed request, in the API's error contract: `{"error": {code, message, details}}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }

  get problems(): Problem[] {
    const problems = this.details["problems"];
    return Array.isArray(problems) ? (problems as Problem[]) : [];
  }
}

export function toApiError(status: number, body: unknown): ApiError {
  const error = (body as { error?: { code?: string; message?: string; details?: object } })?.error;
  if (error && typeof error.code === "string") {
    return new ApiError(
      status,
      error.code,
      error.message ?? error.code,
      (error.details ?? {}) as Record<string, unknown>,
    );
  }
  return new ApiError(status, "HTTP_" + status, `the server answered ${status}`);
}

export function authHeaders(): Record<string, string> {
  const session = getSession();
  return session ? { Authorization: `Bearer ${session.token}` } : {};
}

/** Adds the (fresh) bearer token; a 401 ends the session. Shared by every typed client. */
export const auth: Middleware = {
  async onRequest({ request }) {
    const token = await freshToken();
    if (token) request.headers.set("Authorization", `Bearer ${token}`);
    return request;
  },
  onResponse({ response }) {
    // a token that stopped working ends the session; the app routes back to the login
    if (response.status === 401 && getSession()) setSession(null);
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: "" });
api.use(auth);

/** The data of an openapi-fetch result, or throws its `ApiError`. */
export async function unwrap<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw toApiError(response.status, error);
  return data as T;
}

/** A message fit for a person, whatever was thrown. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) return `${error.message} (${error.code})`;
  if (error instanceof Error) return error.message;
  return String(error);
}
