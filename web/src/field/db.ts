// The field app's local storage (IndexedDB via idb): the bundle (cells, places, households,
// tasks, events), the queue of records made offline with their photos, and the device token.
// Everything the app shows is read from here, so it works with no network.
import { type DBSchema, type IDBPDatabase, deleteDB, openDB } from "idb";
export { sha256Hex, uuid4 } from "../common/sha256";

export const DB_NAME = "gridserve-field";

export interface Place {
  id: number;
  type: string;
  external_id?: string | null;
  name?: string | null;
  lon: number;
  lat: number;
  cell_id: number | null;
  attributes?: Record<string, unknown> | null;
}

export interface Household {
  id: number;
  place_id: number;
  cell_id: number | null;
  door_number?: string | null;
  address?: string | null;
  phone?: string | null;
  member_count?: number;
  members?: { name: string; relation?: string }[];
  version: number;
}

export interface Task {
  id: number;
  kind: string;
  title: string;
  details?: string | null;
  place_id?: number | null;
  cell_code?: string | null;
  status: string;
  priority: string;
  due_at?: string | null;
  note?: string | null;
  version: number;
  location?: { lon: number; lat: number } | null;
  uuid?: string | null;
  source?: string;
  created_at?: string;
  // a case on the escalation ladder (null or false for a task)
  category?: string | null;
  category_name?: string | null;
  level?: string | null; // cell | community | street | district
  level_due_at?: string | null;
  overdue?: boolean; // as of the bundle's server_time
  paused?: boolean;
  pause_reason?: string;
  escalations?: number;
  supervised?: boolean;
  supervision_due_at?: string | null;
  department_id?: number | null;
  needs_verification?: boolean;
}

/** A case category the worker may report under (bundle key `case_categories`). */
export interface CaseCategory {
  id: number;
  code: string;
  name: string;
  name_en?: string;
  report_class: string;
  start_level: string;
  to_street_at_once?: boolean;
}

export interface OutreachEvent {
  id: number;
  title: string;
  starts_at: string;
  ends_at: string;
  status: string;
  venue: { place_id: number | null; address?: string | null; lon: number; lat: number };
}

/** One of the worker's listed enterprises of an SME visits programme (bundle kind
 * `sme_enterprises`: the `visitor: cell` rows whose place lies in a cell the worker holds). */
export interface SmeEnterprise {
  id: number;
  programme_id: number;
  programme_code: string;
  credit_code: string;
  name: string;
  address?: string | null;
  industry?: string | null;
  institution: string; // the responsible institution's code
  place_id: number | null;
  lon: number | null;
  lat: number | null;
  status: string; // listed | visited | closed
  version: number;
}

/** The SME part of an `sme_visit` upload item (the visit body less enterprise and time). */
export interface SmeBody {
  operating_status: string;
  need: { amount: number; term_months: number; purpose: string } | null;
  lenders: string[];
  eligible: boolean | null;
  outcome: string;
  products: string[];
  explanation: string;
  next_step: string;
  next_step_due_on: string | null;
  notes: string;
}

export type RecordKind = "patrol" | "household_visit" | "sme_visit" | "place_check" | "case";
export type RecordStatus =
  | "pending" // waiting to be sent
  | "created"
  | "updated"
  | "duplicate"
  | "conflict"
  | "rejected"
  | "unsupported"; // the server does not take this kind yet: kept, sent again later

export interface Location {
  lon: number;
  lat: number;
  accuracy_m: number | null;
}

/** One record made on the terminal: a visit, a patrol, a problem (case) or a task step. */
export interface QueuedRecord {
  uuid: string;
  kind: RecordKind | "task_update";
  made_at: string; // ISO, when recorded
  started_at: string;
  ended_at: string | null;
  place_id: number | null;
  location: Location | null;
  notes: string;
  answers: Record<string, string>;
  photos: string[]; // attachment uuids (rows in the photos store)
  // a case
  title?: string;
  priority?: string;
  category?: string; // its category's code
  // an SME visit of a listed enterprise (title: the enterprise's name)
  programme_id?: number;
  enterprise_id?: number;
  sme?: SmeBody;
  // a task step
  task_id?: number;
  task_status?: string;
  version?: number;
  // the last answer
  status: RecordStatus;
  code?: string;
  errors?: Record<string, unknown>;
  flags?: string[];
  sent_at?: string;
}

export interface Photo {
  uuid: string;
  blob: Blob;
  type: string;
  sha256: string;
  uploaded: boolean;
}

interface FieldDB extends DBSchema {
  meta: { key: string; value: unknown };
  places: { key: number; value: Place; indexes: { cell: number } };
  households: { key: number; value: Household; indexes: { place: number } };
  tasks: { key: number; value: Task };
  events: { key: number; value: OutreachEvent };
  sme_enterprises: { key: number; value: SmeEnterprise };
  queue: { key: string; value: QueuedRecord };
  photos: { key: string; value: Photo };
}

export type Store = "places" | "households" | "tasks" | "events" | "sme_enterprises";

/** The stores holding the worker's bundle (cleared on a reset or for another worker). */
export const BUNDLE_STORES = ["places", "households", "tasks", "events", "sme_enterprises"] as const;

let dbp: Promise<IDBPDatabase<FieldDB>> | null = null;
let wiped = false; // after a wipe nothing may create the database again until the app reloads

export function db(): Promise<IDBPDatabase<FieldDB>> {
  if (wiped) return Promise.reject(new Error("wiped"));
  if (!dbp) {
    dbp = openDB<FieldDB>(DB_NAME, 3, {
      upgrade(d, oldVersion, _newVersion, tx) {
        if (oldVersion < 1) {
          d.createObjectStore("meta");
          d.createObjectStore("places", { keyPath: "id" }).createIndex("cell", "cell_id");
          d.createObjectStore("households", { keyPath: "id" }).createIndex("place", "place_id");
          d.createObjectStore("tasks", { keyPath: "id" });
          d.createObjectStore("events", { keyPath: "id" });
          d.createObjectStore("queue", { keyPath: "uuid" });
          d.createObjectStore("photos", { keyPath: "uuid" });
        }
        // version 2: the listed enterprises of SME visits programmes; a terminal that held a
        // bundle before downloads it whole once more (so the enterprises come too)
        if (oldVersion < 2) {
          d.createObjectStore("sme_enterprises", { keyPath: "id" });
          if (oldVersion >= 1) void tx.objectStore("meta").delete("cursor");
        }
        // version 3: cases carry their ladder (category, level, deadline) and the bundle the
        // case categories: a terminal that held a bundle downloads it whole once more
        if (oldVersion === 2) void tx.objectStore("meta").delete("cursor");
      },
      blocking() {
        // another tab wants to delete or upgrade: let it
        void dbp?.then((x) => x.close());
        dbp = null;
      },
    });
  }
  return dbp;
}

export async function getMeta<T>(key: string): Promise<T | undefined> {
  return (await (await db()).get("meta", key)) as T | undefined;
}

export async function setMeta(key: string, value: unknown): Promise<void> {
  await (await db()).put("meta", value, key);
}

export async function delMeta(key: string): Promise<void> {
  await (await db()).delete("meta", key);
}

/** Unsent records (what a wipe loses). */
export async function unsentCount(): Promise<number> {
  const rows = await (await db()).getAll("queue");
  return rows.filter((r) => !isSent(r)).length;
}

export function isSent(r: QueuedRecord): boolean {
  return r.status === "created" || r.status === "updated" || r.status === "duplicate";
}

/** Everything on this terminal: the database, the caches, the token. */
export async function wipeAll(): Promise<void> {
  const d = await db().catch(() => null);
  wiped = true;
  d?.close();
  dbp = null;
  await deleteDB(DB_NAME).catch(() => undefined);
  if ("caches" in self) {
    for (const name of await caches.keys()) await caches.delete(name);
  }
  try {
    localStorage.removeItem("gridserve.field.enrolled");
  } catch {
    /* storage off */
  }
  const regs = (await navigator.serviceWorker?.getRegistrations?.().catch(() => [])) ?? [];
  for (const r of regs) await r.unregister().catch(() => undefined);
}

