// Types and helpers of the assessment screens, as the API states them (api/assessments.py,
// api/assessment_cards.py).
import { get, page } from "../../common/api";
import { t } from "../../common/i18n";
import { useAsync } from "../../common/ui";
import { type AreaSummary, areaName, visibleAreas } from "../map/areas";
import { current, hasRole } from "../session";

export const GRADES = ["excellent", "good", "pass", "fail"] as const;

export interface Run {
  id: number;
  template_id: number;
  template_code: string;
  template_name: string;
  target_kind: string;
  period: string;
  period_start: string;
  period_end: string;
  area_id: number;
  provisional: boolean;
  status: "computing" | "computed" | "published" | "failed";
  error: { code?: string; message?: string } | null;
  version: number;
  supersedes_id: number | null;
  superseded_by: number | null;
  reason: string;
  job_id: number | null;
  counts: Record<string, number>;
  computed_at: string | null;
  published_at: string | null;
  template_snapshot?: { deductions?: DeductionKind[]; assessor_role?: string };
}

export interface Ranks {
  community: number | null;
  street: number | null;
  run: number | null;
}

export interface CardSummary {
  id: number;
  run_id: number;
  period: string;
  run_status: string;
  target_kind: string;
  target_id: number;
  target_name: string;
  area_id: number | null;
  total: string | null;
  grade: string | null;
  grade_name: string;
  rated_weight: number;
  deducted: string;
  disqualified: boolean;
  ranks: Ranks | null;
  version: number;
}

export interface Evidence {
  note: string;
  attachments?: string[];
}

export interface Line {
  code: string;
  name: string;
  group: string;
  weight: number;
  source: "computed" | "entered";
  metric: string | null;
  metric_name: string;
  scoring: string;
  scale: number | null;
  cap: number | null;
  min_count: number | null;
  formula: string;
  rule: string;
  max_points: string;
  raw: Record<string, unknown> | null;
  value: number | null;
  points: string | null;
  capped: boolean;
  rated: boolean;
  not_rated_reason: string | null;
  not_rated_text: string | null;
  entered_value: number | null;
  evidence: Evidence | null;
  entered_at: string | null;
  records_url: string | null;
  ranks: Ranks | null;
}

export interface Deduction {
  id: number;
  code: string;
  name: string;
  points: string;
  reason: string;
  evidence: Evidence | null;
  created_at: string;
}

export interface DeductionKind {
  code: string;
  name: string;
  points: number;
}

export interface Card extends CardSummary {
  period_start: string;
  period_end: string;
  template: { code: string; name: string; assessor_role: string; bands: Record<string, number> };
  lines: Line[];
  deductions: Deduction[];
}

export interface Template {
  id: number;
  code: string;
  name: string;
  target_kind: string;
  assessor_role: string;
  active: boolean;
  deductions: DeductionKind[];
}

export interface Recommendation {
  id: number;
  scorecard_id: number;
  run_id: number;
  worker_id: number;
  worker_name: string;
  period: string;
  total: string | null;
  grade: string | null;
  area_id: number;
  status: "open" | "confirmed" | "overturned";
  reason: string;
  decided_at: string | null;
  created_at: string;
}

/** 优秀 / 良好 / 合格 / 不合格 (or the English), 未评定 for a card without a grade. */
export function gradeName(grade: string | null | undefined): string {
  return t(`as.grade.${grade ?? "none"}`);
}

export function statusName(status: string): string {
  return t(`as.status.${status}`);
}

/** "2027-04-14T09:00:00+00:00" → local "2027-04-14 17:00". */
export function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function num(value: unknown, digits = 2): string {
  if (value === null || value === undefined || value === "") return "—";
  const n = Number(value);
  if (Number.isNaN(n)) return String(value);
  return Number.isInteger(n) ? String(n) : n.toFixed(digits);
}

/** A score as the API gives it (rounded half-up to 2 decimals, as a string). */
export function score(value: string | null | undefined): string {
  return value === null || value === undefined ? "—" : String(value);
}

/** Roles that act for a template (the template's assessor role and those above it). */
const ABOVE: Record<string, string[]> = {
  station: ["station", "street_centre", "district_centre"],
  street_centre: ["street_centre", "district_centre"],
  coordinator: ["coordinator"],
};

export function mayAssess(assessorRole: string | undefined): boolean {
  if (!assessorRole) return false;
  return hasRole(...(ABOVE[assessorRole] ?? [assessorRole]));
}

/** The areas the user sees, by id, with their names. */
export function useAreas() {
  const r = useAsync(() => visibleAreas(), []);
  const byId = new Map((r.data ?? []).map((a) => [a.id, a]));
  const name = (id: number | null | undefined) => {
    if (id == null) return "—";
    const a = byId.get(id);
    return a ? areaName(a) : `#${id}`;
  };
  return { ...r, areas: r.data ?? ([] as AreaSummary[]), name };
}

/** Every template the user reads (a handful; one page). */
export function useTemplates() {
  return useAsync(() => page<Template>("/assessments/templates", {}, 1, 100).then((p) => p.rows), []);
}

/** The deduction kinds of a card's template: its run's snapshot when the user sees the run,
 * else the template as it is now. */
export async function deductionKinds(card: Card): Promise<DeductionKind[]> {
  try {
    const run = await get<Run>(`/assessments/runs/${card.run_id}`);
    if (run.template_snapshot?.deductions) return run.template_snapshot.deductions;
  } catch {
    // a station sees its workers' cards of a street's run, not the run itself
  }
  const rows = (await page<Template>("/assessments/templates", {}, 1, 100)).rows;
  return rows.find((x) => x.code === card.template.code)?.deductions ?? [];
}

export function isContact(): boolean {
  return current()?.role === "institution_contact";
}
