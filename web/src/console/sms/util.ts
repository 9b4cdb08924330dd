// Small shared helpers of the SMS screens.
import { t } from "../../common/i18n";

export interface Slot {
  sender: string;
  sender_name: string | null;
  start: string;
  end: string;
  round: number;
  position: number;
  status: string;
  note: string | null;
  days: string[];
}

export interface ScheduleEvent {
  kind: string;
  day?: string;
  sender?: string;
  round?: number;
  reason?: string;
  policy?: string;
}

export interface Schedule {
  campaign: { id: number; code: string; name: string };
  policy: string;
  timezone: string;
  window: string[];
  slots: Slot[];
  events: ScheduleEvent[];
  unknown_year: number | null;
  mandated_text_approved: boolean;
}

export interface Campaign {
  id: number;
  code: string;
  name: string;
  area_id: number;
  start_date: string;
  end_date: string;
  policy: string;
  slot_days: number;
  window_start: string;
  window_end: string;
}

export interface SmsText {
  id: number;
  campaign_id: number;
  sender_id: number | null;
  sender: string | null; // the sending institution's code
  kind: string;
  body: string;
  status: string;
  locked: boolean;
  version: number;
  note: string | null;
  measure: { encoding: string; characters: number; segments: number };
}

/** "2027-04-09T08:00:00+08:00" → "2027-04-09 08:00" (the local time the service gave). */
export function when(iso: string | null | undefined): string {
  return iso ? iso.slice(0, 16).replace("T", " ") : t("sms.none");
}

export function label(key: string): string {
  const s = t(key);
  return s === key ? key.split(".").pop()! : s;
}

/** Every day from ``from`` to ``to`` (ISO dates, inclusive). */
export function daysBetween(from: string, to: string): string[] {
  const out: string[] = [];
  const d = new Date(`${from}T00:00:00Z`);
  const end = new Date(`${to}T00:00:00Z`);
  while (d <= end && out.length < 400) {
    out.push(d.toISOString().slice(0, 10));
    d.setUTCDate(d.getUTCDate() + 1);
  }
  return out;
}
