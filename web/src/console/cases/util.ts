// Types and helpers of the cases screens (issue 14): the ladder's levels and steps as the API
// states them (api/cases.py, services/cases/ladder.py STEP_ROLES), categories and departments
// looked up once per screen.
import { get, page } from "../../common/api";
import { lang, t } from "../../common/i18n";
import { useAsync } from "../../common/ui";
import { current } from "../session";

export const LEVELS = ["cell", "community", "street", "district"] as const;
export const CASE_STATUSES = ["open", "accepted", "settled", "verified", "closed", "cancelled"];

export interface Reporter {
  name: string | null;
  phone: string | null;
  consent: boolean;
  masked: boolean;
}

export interface Case {
  id: number;
  kind: string;
  title: string;
  details: string;
  area_id: number;
  cell_code: string | null;
  location: { lon: number; lat: number } | null;
  assigned_worker_id: number | null;
  status: string;
  priority: string;
  source: string;
  note: string;
  created_at: string;
  closed_at: string | null;
  version: number;
  category: string | null;
  level: string | null;
  level_started_at: string | null;
  level_due_at: string | null;
  paused: boolean;
  pause_reason: string;
  escalations: number;
  department_id: number | null;
  dispatch_due_at: string | null;
  supervised_at: string | null;
  supervision_due_at: string | null;
  reporter: Reporter | null;
  needs_verification: boolean;
  duplicate_of: number | null;
  rating: number | null;
  attachments: string[];
}

export interface CaseEvent {
  action: string;
  from_status: string | null;
  to_status: string | null;
  from_worker_id: number | null;
  to_worker_id: number | null;
  from_level: string | null;
  to_level: string | null;
  department_id: number | null;
  location: { lon: number; lat: number } | null;
  attachments: string[];
  note: string;
  actor_id: number | null;
  actor_name: string | null;
  at: string;
}

export interface Category {
  id: number;
  code: string;
  name: string;
  name_en: string;
  report_class: string;
  start_level: string;
  needs_verification: boolean;
  active: boolean;
}

export interface Institution {
  id: number;
  code: string;
  name: string;
  kind: string;
}

export interface Area {
  id: number;
  code: string;
  name: string;
  level: string;
}

const CENTRES = ["street_centre", "district_centre"];
const OFFICES = ["station", ...CENTRES];
const DEPARTMENT = "institution_contact";
/** Who may ever take each step (ladder.STEP_ROLES; admin always may). */
export const STEP_ROLES: Record<string, string[]> = {
  accept: ["worker", ...OFFICES, DEPARTMENT],
  settle: ["worker", ...OFFICES, DEPARTMENT],
  escalate: ["worker", ...OFFICES],
  dispatch: CENTRES,
  return: [...OFFICES, DEPARTMENT],
  verify: ["station"],
  close: OFFICES,
  reopen: OFFICES,
  cancel: OFFICES,
  pause: ["worker", ...OFFICES, DEPARTMENT],
  resume: ["worker", ...OFFICES, DEPARTMENT],
  supervise: CENTRES,
  recategorise: OFFICES,
};
/** The steps each status takes (the service's transitions); a paused case only resume,
 * cancel and supervise. Where the holder's level differs the service answers 409. */
const BY_STATUS: Record<string, string[]> = {
  open: ["accept", "escalate", "dispatch", "return", "pause", "supervise", "recategorise", "cancel"],
  accepted: ["settle", "escalate", "dispatch", "return", "pause", "supervise", "recategorise", "cancel"],
  settled: ["verify", "close", "supervise", "cancel"],
  verified: ["close", "cancel"],
  closed: ["reopen"],
  cancelled: [],
};

/** The steps the signed-in user's role may take on ``c`` now (verify has its own form). */
export function stepsFor(c: Case): string[] {
  const role = current()?.role ?? "";
  let steps = c.paused ? ["resume", "cancel", "supervise"] : (BY_STATUS[c.status] ?? []);
  if (!c.paused && c.status !== "closed" && c.status !== "cancelled") steps = steps.filter((s) => s !== "resume");
  // A settled case is verified first where its category needs it, else closed directly.
  if (c.status === "settled")
    steps = steps.filter((s) => s !== (c.needs_verification ? "close" : "verify"));
  return steps.filter((s) => role === "admin" || (STEP_ROLES[s] ?? []).includes(role));
}

/** A label from the table, or the raw value when none is registered. */
export function tl(key: string): string {
  const s = t(key);
  return s === key ? key.split(".").pop()! : s;
}

export function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Pending (open, accepted), past the level's due time and not paused (lists.overdue). */
export function isOverdue(c: Case, now = Date.now()): boolean {
  return (
    (c.status === "open" || c.status === "accepted") &&
    !!c.level_due_at &&
    new Date(c.level_due_at).getTime() < now &&
    !c.paused
  );
}

/** A datetime-local input's value as an ISO moment with its zone. */
export function isoOf(local: string): string {
  return new Date(local).toISOString();
}

/** The case categories, and a code → name in the current language. */
export function useCategories() {
  const r = useAsync(() => page<Category>("/case-categories", {}, 1, 200).then((x) => x.rows), []);
  const byCode = new Map((r.data ?? []).map((c) => [c.code, c]));
  const name = (code: string | null) => {
    if (!code) return "—";
    const c = byCode.get(code);
    return c ? (lang() === "en" && c.name_en ? c.name_en : c.name) : code;
  };
  return { ...r, name };
}

/** The departments (institutions of kind department) by id. */
export function useDepartments() {
  const r = useAsync(
    () => page<Institution>("/institutions", { kind: "department" }, 1, 200).then((x) => x.rows),
    [],
  );
  const byId = new Map((r.data ?? []).map((d) => [d.id, d]));
  const name = (id: number | null) => (id == null ? "—" : (byId.get(id)?.name ?? `#${id}`));
  return { ...r, name };
}

export function useCase(id: number) {
  return useAsync(() => get<Case>(`/tasks/${id}`), [id]);
}
