// Types and small helpers of the outreach desk.
import { call } from "../../common/api";
import { t } from "../../common/i18n";

export interface EventSummary {
  id: number;
  programme_id: number;
  kind: string;
  title: string;
  starts_at: string;
  ends_at: string;
  place_id: number | null;
  location: { lon: number; lat: number } | null;
  address: string | null;
  area_id: number;
  venue_confirmed: boolean;
  host: string | null;
  lead: string | null;
  status: string;
  version: number;
}

export interface EventDetail extends EventSummary {
  co_organisers: string[];
  booth: { boards: number; board_mm: number[]; min_team: number; min_group: number } | null;
  invited: string | null;
  cancel_reason: string | null;
  warnings: { code?: string; message?: string; other_event_id?: number }[];
}

export interface Programme {
  id: number;
  code: string;
  name: string;
  kind: string;
  area_id: number;
  start_date: string;
  end_date: string;
  organiser: string;
  institutions: string[];
  plan_due_at: string | null;
  report_due_at: string | null;
  sms_campaigns: { id: number; code: string; name: string; start_date: string; end_date: string }[];
  description?: string;
  version: number;
  events?: EventSummary[];
}

/** A label from the table, or the raw value when none is registered. */
export function tl(key: string): string {
  const s = t(key);
  return s === key ? key.split(".").pop()! : s;
}

/** "2027-04-14T09:00:00+08:00" → "2027-04-14 09:00" (the area's local time as sent). */
export function when(iso: string | null | undefined): string {
  return iso ? iso.slice(0, 16).replace("T", " ") : "—";
}

export function span(a: string, b: string): string {
  return a.slice(0, 10) === b.slice(0, 10) ? `${when(a)}–${b.slice(11, 16)}` : `${when(a)} – ${when(b)}`;
}

/** A phone shown to the desk: never in full (+8613702000000 → +86137****0000). */
export function maskPhone(p: string | null | undefined): string {
  if (!p) return "—";
  if (p.includes("*")) return p;
  return p.length > 8 ? `${p.slice(0, p.length - 8)}****${p.slice(-4)}` : "****";
}

/** Every page of a list (the map and the calendar want all rows of a range). */
export async function allPages<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T[]> {
  const out: T[] = [];
  for (let p = 1; p < 50; p++) {
    const r = await call<T[]>(path, { query: { ...query, page: p, page_size: 100 } });
    out.push(...r.data);
    if (!r.pagination || !r.pagination.total_pages || p >= r.pagination.total_pages) break;
  }
  return out;
}
