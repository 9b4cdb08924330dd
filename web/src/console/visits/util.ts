// Types and helpers of the visits desk.
import { ApiError, get, token, url } from "../../common/api";
import { t } from "../../common/i18n";
import { useAsync } from "../../common/ui";
import { current } from "../session";

export interface VisitsProgramme {
  id: number;
  code: string;
  name: string;
  kind: string;
  area_id: number;
  institutions: string[];
  organiser: string;
  list_due_on: string | null;
  visits_from: string | null;
  visits_to: string | null;
  summary_due_on: string | null;
  version: number;
}

export interface Enterprise {
  id: number;
  programme_id: number;
  credit_code: string;
  name: string;
  address: string;
  industry: string;
  institution: string;
  visitor: string | null;
  status: string;
  overdue: boolean;
  area_id: number;
  lon: number;
  lat: number;
  version: number;
}

export interface Need {
  amount: number;
  term_months: number | null;
  purpose: string;
}

export interface Visit {
  id: number;
  programme_id: number;
  enterprise_id: number;
  enterprise: { credit_code: string; name: string };
  institution: string;
  area_id: number;
  visited_at: string;
  visitor: string | null;
  worker_id: number | null;
  source: string;
  operating_status: string;
  need: Need | null;
  lenders: string[];
  eligible: boolean | null;
  outcome: string;
  products: string[];
  explanation: string;
  next_step: string;
  next_step_due_on: string | null;
  decision_due_on: string | null;
  decision: string | null;
  decision_reason: string;
  decided_at: string | null;
  decided_by: string | null;
  decision_overdue: boolean;
  notes: string;
  version: number;
  created_at: string;
}

export interface Referral {
  id: number;
  number: string;
  programme_id: number;
  enterprise_id: number;
  enterprise: { credit_code: string; name: string };
  visit_id: number | null;
  from_institution: string;
  from_user: string | null;
  to_institution: string;
  to_user: string | null;
  need: string;
  note: string;
  status: string;
  accepted_at: string | null;
  outcome_at: string | null;
  care_note: string;
  points: number;
  version: number;
  created_at: string;
}

export const OUTCOMES = ["follow_up", "renewal", "product_matched", "not_eligible_explained", "no_need"];
export const OPERATING = ["normal", "difficult", "suspended", "closed"];
export const DECISIONS = ["approved", "rejected", "withdrawn"];

export type Query = Record<string, string | number | boolean | undefined | null>;

/** A label from the table, or the raw value when none is registered. */
export function tl(key: string): string {
  const s = t(key);
  return s === key ? key.split(".").pop()! : s;
}

/** "2027-04-14T09:00:00+08:00" → "2027-04-14 09:00" (the area's local time as sent). */
export function when(iso: string | null | undefined): string {
  return iso ? iso.slice(0, 16).replace("T", " ") : "—";
}

export function yuan(n: number | null | undefined): string {
  return n == null ? "—" : n.toLocaleString("zh-CN");
}

export function useProgramme(id: number) {
  return useAsync(() => get<VisitsProgramme>(`/outreach/programmes/${id}`), [id]);
}

/** The signed-in contact's institution code (null for the offices). */
export function useMyInstitution(): string | null {
  const id = current()?.scope?.institution_id ?? null;
  const { data } = useAsync(
    () => (id ? get<{ code: string }>(`/institutions/${id}`) : Promise.resolve(null)),
    [id],
  );
  return data?.code ?? null;
}

/** The per-field messages of a 422 envelope: [[field, message], …]. */
export function fieldErrors(error: unknown): [string, string][] {
  if (!(error instanceof ApiError)) return [];
  const d = error.details ?? {};
  const fields = (d.fields ?? d) as Record<string, unknown>;
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(fields)) {
    if (Array.isArray(v)) v.forEach((m) => out.push([k, String(m)]));
    else if (v && typeof v === "object")
      for (const [k2, v2] of Object.entries(v as Record<string, unknown>))
        (Array.isArray(v2) ? v2 : [v2]).forEach((m) => out.push([`${k}.${k2}`, String(m)]));
  }
  return out;
}

/** Fetch a file from the API with the session's token and hand it to the browser as a
 * download (a plain link cannot carry the bearer token). */
export async function download(path: string, query: Query, filename: string): Promise<void> {
  const headers: Record<string, string> = {};
  const bearer = token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  const resp = await fetch(url(path, query), { headers });
  if (!resp.ok) {
    const env = await resp.json().catch(() => null);
    throw new ApiError(resp.status, env?.error?.code ?? "http_error", env?.error?.message ?? resp.statusText);
  }
  const blob = await resp.blob();
  const href = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = href;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
}

/** datetime-local value of a moment, in the browser's zone. */
export function localInput(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
