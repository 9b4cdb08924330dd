// The one way the front ends talk to the service: the public API under /api/v1.
// Every error is the service's envelope {"error": {code, message, details}}, thrown as ApiError
// so screens show its message; lists return their X-Pagination header parsed.

export const API = "/api/v1";

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export interface Pagination {
  total: number;
  total_pages: number;
  page: number;
  page_size?: number;
  next_page?: number;
  previous_page?: number;
}

export interface Reply<T> {
  data: T;
  status: number;
  headers: Headers;
  pagination?: Pagination;
}

export interface Call {
  method?: string;
  body?: unknown; // JSON unless it is a Blob / string with its own contentType
  contentType?: string;
  headers?: Record<string, string>;
  token?: string | null; // default: the stored token of the app (see setToken)
  query?: Record<string, string | number | boolean | undefined | null>;
  signal?: AbortSignal;
}

let currentToken: string | null = null;
let onUnauthorised: ((e: ApiError) => void) | null = null;

export function setToken(token: string | null): void {
  currentToken = token;
}

export function token(): string | null {
  return currentToken;
}

/** Called for every 401 (expired, revoked…): the app decides to sign out or wipe. */
export function whenUnauthorised(handler: (e: ApiError) => void): void {
  onUnauthorised = handler;
}

export function url(path: string, query?: Call["query"]): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return `${path.startsWith("/api/") ? "" : API}${path}${s ? `?${s}` : ""}`;
}

export async function call<T = unknown>(path: string, opts: Call = {}): Promise<Reply<T>> {
  const headers: Record<string, string> = { Accept: "application/json", ...(opts.headers ?? {}) };
  const bearer = opts.token === undefined ? currentToken : opts.token;
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  let body: BodyInit | undefined;
  if (opts.body instanceof Blob || typeof opts.body === "string") {
    body = opts.body;
    if (opts.contentType) headers["Content-Type"] = opts.contentType;
  } else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["Content-Type"] = "application/json";
  }
  let resp: Response;
  try {
    resp = await fetch(url(path, opts.query), {
      method: opts.method ?? (body === undefined ? "GET" : "POST"),
      headers,
      body,
      signal: opts.signal,
    });
  } catch (err) {
    throw new ApiError(0, "network_error", navigator.onLine ? String(err) : "offline");
  }
  const type = resp.headers.get("Content-Type") ?? "";
  const data = type.includes("json") ? await resp.json().catch(() => null) : await resp.text();
  if (!resp.ok) {
    const env = (data as { error?: { code: string; message: string; details?: Record<string, unknown> } })
      ?.error;
    const error = new ApiError(
      resp.status,
      env?.code ?? "http_error",
      env?.message ?? `${resp.status} ${resp.statusText}`,
      env?.details ?? {},
    );
    if (resp.status === 401 && onUnauthorised) onUnauthorised(error);
    throw error;
  }
  const raw = resp.headers.get("X-Pagination");
  return {
    data: data as T,
    status: resp.status,
    headers: resp.headers,
    pagination: raw ? (JSON.parse(raw) as Pagination) : undefined,
  };
}

export const get = <T>(path: string, query?: Call["query"], opts: Call = {}) =>
  call<T>(path, { ...opts, query }).then((r) => r.data);
export const post = <T>(path: string, body?: unknown, opts: Call = {}) =>
  call<T>(path, { ...opts, method: "POST", body }).then((r) => r.data);
export const put = <T>(path: string, body?: unknown, opts: Call = {}) =>
  call<T>(path, { ...opts, method: "PUT", body }).then((r) => r.data);
export const patch = <T>(path: string, body?: unknown, opts: Call = {}) =>
  call<T>(path, { ...opts, method: "PATCH", body }).then((r) => r.data);
export const del = <T>(path: string, opts: Call = {}) =>
  call<T>(path, { ...opts, method: "DELETE" }).then((r) => r.data);

/** One page of a list: the rows and the X-Pagination totals. */
export async function page<T>(
  path: string,
  query: Call["query"] = {},
  pageNo = 1,
  pageSize = 50,
): Promise<{ rows: T[]; pagination?: Pagination }> {
  const r = await call<T[]>(path, { query: { ...query, page: pageNo, page_size: pageSize } });
  return { rows: r.data, pagination: r.pagination };
}
