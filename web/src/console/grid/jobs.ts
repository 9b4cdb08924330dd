// Long operations: sent with ``Prefer: respond-async``, answered 202 + Location: /api/v1/jobs/{id}
// (then polled until it succeeds or fails), or answered at once (201 with the result).
import { useState } from "preact/hooks";
import { ApiError, call, get } from "../../common/api";

export interface Job {
  id: number | string;
  status: "queued" | "running" | "succeeded" | "failed";
  progress?: number | null; // 0..1
  message?: string | null; // the step: queued, reading_area, drawing_cells, measuring, …
  result_url?: string | null;
  result?: unknown;
  error?: { code?: string; message?: string; details?: Record<string, unknown> } | string | null;
}

/** POST ``path`` asking for a job; ``onProgress`` hears each poll. Resolves with the result. */
export async function postAsJob<T>(
  path: string,
  body: unknown,
  onProgress: (job: Job) => void,
  intervalMs = 500,
  contentType?: string, // a file sent as it is (CSV, GeoJSON), else JSON
): Promise<T> {
  const first = await call<T | Job>(path, {
    method: "POST",
    body,
    contentType,
    headers: { Prefer: "respond-async" },
  });
  if (first.status !== 202) return first.data as T;
  const location = first.headers.get("Location") ?? `/jobs/${(first.data as Job).id}`;
  const jobPath = location.replace(/^https?:\/\/[^/]+/, "");
  let job = first.data as Job;
  for (;;) {
    if (job && typeof job === "object" && "status" in job) onProgress(job);
    if (job?.status === "succeeded") {
      const loose = job as unknown as Record<string, any>;
      const where: string | undefined =
        job.result_url ?? loose.result?.url ?? loose.result_location ?? loose.location;
      if (where) return get<T>(where.replace(/^https?:\/\/[^/]+/, ""));
      return job.result as T;
    }
    if (job?.status === "failed") {
      const e = typeof job.error === "string" ? { message: job.error } : (job.error ?? {});
      throw new ApiError(200, e.code ?? "job_failed", e.message ?? "failed", e.details ?? {});
    }
    await new Promise((r) => setTimeout(r, intervalMs));
    job = await get<Job>(jobPath);
  }
}

/** The job's progress as a percentage (the API may give 0–1 or 0–100). */
export function percent(job: Job | null): number | null {
  if (!job || job.progress === null || job.progress === undefined) return null;
  const p = job.progress <= 1 ? job.progress * 100 : job.progress;
  return Math.round(p);
}

/** The state of the long operation a form starts: busy, its job (for the progress) and the
 * error to show. ``start(work)`` runs ``work`` with the progress callback (give it to
 * ``postAsJob``) and resolves with its result, or with ``undefined`` after an error (then in
 * ``error``). */
export function useJob() {
  const [busy, setBusy] = useState(false);
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<unknown>(null);
  async function start<T>(work: (onProgress: (job: Job) => void) => Promise<T>): Promise<T | undefined> {
    setBusy(true);
    setError(null);
    setJob(null);
    try {
      return await work(setJob);
    } catch (err) {
      setError(err);
      return undefined;
    } finally {
      setBusy(false);
    }
  }
  return { busy, job, error, pc: percent(job), start };
}
