// Talking to the service: enrolment, the bundle (all pages, then deltas by cursor with
// tombstones), and the upload of the local queue (photos first, then visits/patrols, problems
// and task steps), one result per record. Only the public API, through common/api.ts.
import { ApiError, call, setToken } from "../common/api";
import {
  BUNDLE_STORES,
  type CaseCategory,
  type Household,
  type OutreachEvent,
  type Place,
  type QueuedRecord,
  type SmeEnterprise,
  type Task,
  db,
  delMeta,
  getMeta,
  isSent,
  setMeta,
} from "./db";

export const VISIT_KINDS = ["patrol", "household_visit", "sme_visit", "place_check"] as const;
const BATCH = 200;

interface Bundle {
  reset: boolean;
  more: boolean;
  next_cursor: string;
  server_time?: string;
  cells: GeoJSON.FeatureCollection | null;
  places: Place[];
  households: Household[];
  tasks: Task[];
  tombstones: { entity: string; id: number }[];
  events: OutreachEvent[];
  sme_enterprises?: SmeEnterprise[]; // absent from a server that does not carry them
  institutions?: { code: string; name?: string }[]; // lenders to offer, when the bundle has them
  case_categories?: CaseCategory[] | null; // the whole list when it changed, else null
}

export interface Enrolled {
  device_token: string;
  device_id: number;
  worker_id: number;
}

/** Strip what a scanned QR code carries around the code itself. */
export function codeFromScan(text: string): string {
  const t = text.trim();
  const i = t.toLowerCase().indexOf("gridserve:enrol:");
  return i >= 0 ? t.slice(i + "gridserve:enrol:".length) : t;
}

export async function enrol(code: string, label: string): Promise<Enrolled> {
  const r = await call<Enrolled>("/devices/enrol", {
    method: "POST",
    token: null,
    body: { code: codeFromScan(code), label, platform: "web" },
    headers: { "X-App-Version": "field-web-1" },
  });
  const d = await db();
  const previous = await getMeta<number>("worker_id");
  if (previous !== undefined && previous !== r.data.worker_id) {
    // another worker's terminal now: drop the old worker's bundle (the queue stays visible)
    const tx = d.transaction([...BUNDLE_STORES], "readwrite");
    await Promise.all(BUNDLE_STORES.map((name) => tx.objectStore(name).clear()));
    await tx.done;
  }
  await delMeta("cursor");
  await setMeta("token", r.data.device_token);
  await setMeta("device_id", r.data.device_id);
  await setMeta("worker_id", r.data.worker_id);
  await delMeta("auth_problem");
  setToken(r.data.device_token);
  try {
    const me = await call<Record<string, unknown>>("/me");
    await setMeta("me", me.data);
  } catch {
    /* shown later */
  }
  return r.data;
}

/** Fetch every page of the bundle after the stored cursor into IndexedDB. */
export async function pullBundle(progress?: (pages: number, items: number) => void): Promise<number> {
  let cursor = await getMeta<string>("cursor");
  let pages = 0;
  let items = 0;
  for (;;) {
    let b: Bundle;
    try {
      b = (await call<Bundle>("/sync/bundle", { query: { since: cursor, page_size: 2000 } })).data;
    } catch (e) {
      if (e instanceof ApiError && e.code === "invalid_cursor" && cursor) {
        cursor = undefined; // start again with everything
        continue;
      }
      throw e;
    }
    const d = await db();
    const tx = d.transaction(["meta", ...BUNDLE_STORES], "readwrite");
    const places = tx.objectStore("places");
    const households = tx.objectStore("households");
    const tasks = tx.objectStore("tasks");
    const events = tx.objectStore("events");
    const smes = tx.objectStore("sme_enterprises");
    if (b.reset) await Promise.all(BUNDLE_STORES.map((name) => tx.objectStore(name).clear()));
    if (b.cells) await tx.objectStore("meta").put(b.cells, "cells");
    if (b.institutions) await tx.objectStore("meta").put(b.institutions, "institutions");
    if (b.case_categories) await tx.objectStore("meta").put(b.case_categories, "case_categories");
    for (const p of b.places) void places.put(p);
    for (const h of b.households) void households.put(h);
    for (const t of b.tasks) void tasks.put(t);
    for (const e of b.events) {
      if (e.status === "cancelled") void events.delete(e.id);
      else void events.put(e);
    }
    for (const s of b.sme_enterprises ?? []) void smes.put(s);
    for (const t of b.tombstones) {
      if (t.entity === "place") void places.delete(t.id);
      else if (t.entity === "household") void households.delete(t.id);
      else if (t.entity === "task") void tasks.delete(t.id);
      else if (t.entity === "event") void events.delete(t.id);
      else if (t.entity === "sme_enterprise") void smes.delete(t.id);
    }
    void tx.objectStore("meta").put(b.next_cursor, "cursor");
    void tx.objectStore("meta").put(new Date().toISOString(), "synced_at");
    await tx.done;
    pages += 1;
    items += b.places.length + b.households.length + b.tasks.length + b.tombstones.length + (b.sme_enterprises?.length ?? 0);
    progress?.(pages, items);
    cursor = b.next_cursor;
    if (!b.more) return items;
  }
}

interface ItemResult {
  uuid: string | null;
  status: string;
  flags?: string[];
  errors?: Record<string, unknown>;
  code?: string;
  version?: number;
}

function visitItem(r: QueuedRecord) {
  const item: Record<string, unknown> = {
    uuid: r.uuid,
    type: r.kind,
    place_id: r.place_id,
    started_at: r.started_at,
    ended_at: r.ended_at,
    location: r.location,
    mock_location: false, // the browser cannot tell a mocked position
    notes: r.notes,
    answers: r.answers,
    attachments: r.photos,
  };
  if (r.kind === "sme_visit" && r.sme && r.programme_id !== undefined) {
    // a visit of a listed enterprise: the visit's own fields (visited_at = started_at)
    item.programme_id = r.programme_id;
    item.enterprise_id = r.enterprise_id;
    item.sme = r.sme;
  }
  return item;
}

function caseItem(r: QueuedRecord) {
  const item: Record<string, unknown> = {
    type: "case",
    uuid: r.uuid,
    title: r.title ?? "",
    details: r.notes,
    priority: r.priority ?? "normal",
    attachments: r.photos,
    observed_at: r.started_at,
  };
  if (r.place_id !== null) item.place_id = r.place_id;
  else item.location = r.location;
  if (r.category) item.category = r.category;
  return item;
}

async function save(rec: QueuedRecord): Promise<void> {
  await (await db()).put("queue", rec);
}

function applyResult(rec: QueuedRecord, res: ItemResult): QueuedRecord {
  const status = (
    ["created", "updated", "duplicate", "conflict", "rejected"].includes(res.status)
      ? res.status
      : "rejected"
  ) as QueuedRecord["status"];
  return {
    ...rec,
    status,
    code: res.code,
    errors: res.errors,
    flags: res.flags,
    sent_at: new Date().toISOString(),
  };
}

/** The server does not know `type: "case"` yet (before the backend for it lands). */
function caseUnsupported(res: ItemResult): boolean {
  if (res.status !== "rejected") return false;
  return "type" in (res.errors ?? {}); // "Must be one of: patrol, …"
}

async function uploadPhotos(recs: QueuedRecord[]): Promise<Set<string>> {
  const failed = new Set<string>();
  const d = await db();
  for (const rec of recs) {
    for (const id of rec.photos) {
      const photo = await d.get("photos", id);
      if (!photo || photo.uploaded) continue;
      try {
        await call(`/attachments/${id}`, {
          method: "PUT",
          body: photo.blob,
          contentType: photo.type,
          headers: { "X-Content-SHA256": photo.sha256 },
        });
        await d.put("photos", { ...photo, uploaded: true });
      } catch (e) {
        if (e instanceof ApiError && (e.status === 0 || e.status === 401)) throw e;
        failed.add(rec.uuid);
        await save({
          ...rec,
          status: "rejected",
          code: e instanceof ApiError ? e.code : "photo_failed",
          errors: { attachments: [e instanceof Error ? e.message : String(e)] },
          sent_at: new Date().toISOString(),
        });
      }
    }
  }
  return failed;
}

async function sendBatch(recs: QueuedRecord[], isCase: boolean): Promise<void> {
  for (let i = 0; i < recs.length; i += BATCH) {
    const chunk = recs.slice(i, i + BATCH);
    let results: ItemResult[];
    try {
      const r = await call<{ results: ItemResult[] }>("/sync/visits", {
        method: "POST",
        body: {
          device_time: new Date().toISOString(),
          items: chunk.map(isCase ? caseItem : visitItem),
        },
      });
      results = r.data.results;
    } catch (e) {
      if (isCase && e instanceof ApiError && e.status === 422) {
        for (const rec of chunk) await save({ ...rec, status: "unsupported", code: e.code });
        continue;
      }
      throw e;
    }
    const byUuid = new Map(results.map((x) => [x.uuid, x]));
    for (const [k, rec] of chunk.entries()) {
      const res = byUuid.get(rec.uuid) ?? results[k];
      if (!res) continue;
      if (isCase && caseUnsupported(res)) await save({ ...rec, status: "unsupported", code: res.code });
      else await save(applyResult(rec, res));
    }
  }
}

async function sendTaskSteps(recs: QueuedRecord[]): Promise<void> {
  const d = await db();
  const latest = new Map<number, number>();
  recs.sort((a, b) => a.made_at.localeCompare(b.made_at));
  for (const rec of recs) {
    const id = rec.task_id!;
    // the version it is based on: the last answer for this task, else the copy held here
    // (updated by every step already sent), else the one it was recorded against
    const version = latest.get(id) ?? (await d.get("tasks", id))?.version ?? rec.version!;
    const body: Record<string, unknown> = { version, status: rec.task_status };
    if (rec.notes) body.note = rec.notes;
    try {
      const r = await call<Task>(`/tasks/${id}`, { method: "PATCH", body });
      latest.set(id, r.data.version);
      await save({ ...rec, version, status: "updated", code: undefined, errors: undefined, sent_at: new Date().toISOString() });
      if (r.data.status === "done" || r.data.status === "cancelled") await d.delete("tasks", id);
      else await d.put("tasks", r.data);
    } catch (e) {
      if (!(e instanceof ApiError) || e.status === 0 || e.status === 401) throw e;
      const status = e.status === 409 && e.code === "stale_version" ? "conflict" : "rejected";
      await save({
        ...rec,
        status,
        code: e.code,
        errors: { _: [e.message], ...((e.details.fields as object) ?? {}) },
        sent_at: new Date().toISOString(),
      });
    }
  }
}

/** Send the records (default: everything not yet accepted). Throws on no network / 401. */
export async function upload(only?: QueuedRecord[]): Promise<void> {
  const all = only ?? (await (await db()).getAll("queue")).filter((r) => !isSent(r) && r.status !== "conflict" && r.status !== "rejected");
  if (!all.length) return;
  const withPhotos = all.filter((r) => r.kind !== "task_update");
  const failed = await uploadPhotos(withPhotos);
  const ready = all.filter((r) => !failed.has(r.uuid));
  await sendBatch(ready.filter((r) => (VISIT_KINDS as readonly string[]).includes(r.kind)), false);
  await sendBatch(ready.filter((r) => r.kind === "case"), true);
  await sendTaskSteps(ready.filter((r) => r.kind === "task_update"));
}

/** A fresh copy of a task (to fix a stale step). */
export async function refreshTask(id: number): Promise<Task> {
  const r = await call<Task>(`/tasks/${id}`);
  await (await db()).put("tasks", r.data);
  return r.data;
}
