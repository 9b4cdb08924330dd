// The field app's screens, all rendered from IndexedDB: tasks, places and households by cell,
// one place, the outbox (records waiting or sent, with each one's result).
import { useEffect, useRef, useState } from "preact/hooks";
import { registerStrings, t } from "../common/i18n";
import {
  type Household,
  type OutreachEvent,
  type Place,
  type QueuedRecord,
  type Task,
  db,
  getMeta,
  isSent,
  uuid4,
} from "./db";
import { refreshTask } from "./sync";

registerStrings(
  {
    "tasks.h": "我的任务",
    "tasks.none": "没有待办任务",
    "tasks.start": "开始处理",
    "tasks.done": "完成",
    "tasks.note": "处理结果（完成时必填）",
    "tasks.note.need": "完成任务需要填写处理结果",
    "tasks.queued": "已记录，将在联网时提交",
    "tasks.due": "截止 {at}",
    "status.open": "待处理",
    "status.in_progress": "处理中",
    "status.done": "已完成",
    "events.h": "辖区内的宣传活动",
    "places.h": "地点与住户",
    "places.cell": "网格",
    "places.search": "搜索地点",
    "places.count": "{n} 个地点",
    "places.more": "显示更多",
    "places.none": "还没有下载数据。联网后会自动下载。",
    "places.households": "{n} 户",
    "place.households": "住户",
    "place.record": "记录走访",
    "place.problem": "上报问题",
    "place.back": "返回列表",
    "hh.members": "{n} 人",
    "outbox.h": "待发送与结果",
    "outbox.none": "没有记录",
    "outbox.upload": "上传",
    "outbox.resend.all": "全部重发",
    "outbox.clear": "清除已发送",
    "outbox.fix": "修改",
    "outbox.resend": "重新发送",
    "outbox.delete": "删除",
    "outbox.delete.confirm": "删除这条未发送的记录？",
    "outbox.photos": "{n} 张照片",
    "outbox.offline": "离线：记录会在联网后上传",
    "outbox.reason": "原因：{reason}",
    "outbox.latest": "按最新版本重发",
    "res.pending": "待发送",
    "res.created": "已创建",
    "res.updated": "已更新",
    "res.duplicate": "重复（已存在）",
    "res.conflict": "冲突",
    "res.rejected": "被拒绝",
    "res.unsupported": "服务器暂不接受，稍后重发",
  },
  {
    "tasks.h": "My tasks",
    "tasks.none": "No open tasks",
    "tasks.start": "Start",
    "tasks.done": "Done",
    "tasks.note": "Result (needed when done)",
    "tasks.note.need": "Say what was done before marking it done",
    "tasks.queued": "Recorded; sent when online",
    "tasks.due": "Due {at}",
    "status.open": "Open",
    "status.in_progress": "In progress",
    "status.done": "Done",
    "events.h": "Outreach events in my cells",
    "places.h": "Places and households",
    "places.cell": "Cell",
    "places.search": "Search places",
    "places.count": "{n} places",
    "places.more": "Show more",
    "places.none": "Nothing downloaded yet. It downloads when online.",
    "places.households": "{n} households",
    "place.households": "Households",
    "place.record": "Record a visit",
    "place.problem": "Report a problem",
    "place.back": "Back to the list",
    "hh.members": "{n} people",
    "outbox.h": "Outbox and results",
    "outbox.none": "No records",
    "outbox.upload": "Upload",
    "outbox.resend.all": "Resend all",
    "outbox.clear": "Clear sent",
    "outbox.fix": "Fix",
    "outbox.resend": "Send again",
    "outbox.delete": "Delete",
    "outbox.delete.confirm": "Delete this unsent record?",
    "outbox.photos": "{n} photos",
    "outbox.offline": "Offline: records go up when online",
    "outbox.reason": "Reason: {reason}",
    "outbox.latest": "Resend on the latest version",
    "res.pending": "Waiting",
    "res.created": "Created",
    "res.updated": "Updated",
    "res.duplicate": "Duplicate (already there)",
    "res.conflict": "Conflict",
    "res.rejected": "Rejected",
    "res.unsupported": "Not accepted by the server yet; sent again later",
  },
);

const PRIO = ["urgent", "high", "normal", "low"];

export interface Cell {
  id: number;
  code: string;
}

export async function loadCells(): Promise<Cell[]> {
  const fc = await getMeta<GeoJSON.FeatureCollection>("cells");
  const cells = (fc?.features ?? []).map((f) => f.properties as Cell);
  return cells.sort((a, b) => a.code.localeCompare(b.code));
}

function useDb<T>(load: () => Promise<T>, deps: unknown[]): T | undefined {
  const [v, setV] = useState<T | undefined>(undefined);
  useEffect(() => {
    let live = true;
    load()
      .then((x) => live && setV(x))
      .catch(() => undefined); // the database was just wiped
    return () => {
      live = false;
    };
  }, deps);
  return v;
}

function when(iso?: string | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

// --- tasks ----------------------------------------------------------------------------------

export function TasksScreen(props: { rev: number; changed: () => void }) {
  const data = useDb(async () => {
    const d = await db();
    const [tasks, queue, events] = await Promise.all([d.getAll("tasks"), d.getAll("queue"), d.getAll("events")]);
    return { tasks, queue, events };
  }, [props.rev]);
  if (!data) return <p aria-live="polite">{t("ui.loading")}</p>;
  const pendingStep = (id: number) =>
    data.queue
      .filter((r) => r.kind === "task_update" && r.task_id === id && !isSent(r))
      .sort((a, b) => a.made_at.localeCompare(b.made_at))
      .pop();
  const rows = data.tasks
    .filter((task) => task.kind !== "case") // cases have their own screen (cases.tsx)
    .map((task) => ({ task, status: pendingStep(task.id)?.task_status ?? task.status }))
    .filter((x) => x.status !== "done")
    .sort((a, b) => PRIO.indexOf(a.task.priority) - PRIO.indexOf(b.task.priority) || (a.task.due_at ?? "~").localeCompare(b.task.due_at ?? "~"));
  return (
    <section aria-labelledby="tasks-h">
      <h2 id="tasks-h">{t("tasks.h")}</h2>
      {rows.length === 0 && <p>{t("tasks.none")}</p>}
      <ul class="cards">
        {rows.map(({ task, status }) => (
          <TaskCard key={task.id} task={task} status={status} changed={props.changed} />
        ))}
      </ul>
      {data.events.length > 0 && <Events events={data.events} />}
    </section>
  );
}

function TaskCard(props: { task: Task; status: string; changed: () => void }) {
  const { task, status } = props;
  const [note, setNote] = useState("");
  const [msg, setMsg] = useState("");
  const [err, setErr] = useState("");
  const noteId = `note-${task.id}`;

  async function step(next: string) {
    setErr("");
    if (next === "done" && !note.trim()) {
      setErr(t("tasks.note.need"));
      return;
    }
    const rec: QueuedRecord = {
      uuid: uuid4(),
      kind: "task_update",
      made_at: new Date().toISOString(),
      started_at: new Date().toISOString(),
      ended_at: null,
      place_id: task.place_id ?? null,
      location: null,
      notes: next === "done" ? note.trim() : "",
      answers: {},
      photos: [],
      task_id: task.id,
      task_status: next,
      version: task.version,
      title: task.title,
      status: "pending",
    };
    await (await db()).put("queue", rec);
    setMsg(t("tasks.queued"));
    props.changed();
  }

  return (
    <li class="card">
      <h3>{task.title}</h3>
      <p>
        <span class={`badge s-${status}`}>{t(`status.${status}`)}</span> · {t(`prio.${task.priority}`)}
        {task.cell_code ? ` · ${task.cell_code}` : ""}
        {task.due_at ? ` · ${t("tasks.due", { at: when(task.due_at) })}` : ""}
      </p>
      {task.details && <p>{task.details}</p>}
      {status === "open" && (
        <button type="button" class="big primary" onClick={() => void step("in_progress")}>
          {t("tasks.start")}
        </button>
      )}
      {status === "in_progress" && (
        <>
          <label for={noteId}>{t("tasks.note")}</label>
          <textarea id={noteId} rows={2} value={note} onInput={(e) => setNote((e.target as HTMLTextAreaElement).value)} />
          <button type="button" class="big primary" onClick={() => void step("done")}>
            {t("tasks.done")}
          </button>
        </>
      )}
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
      <p aria-live="polite" class="hint">
        {msg}
      </p>
    </li>
  );
}

function Events({ events }: { events: OutreachEvent[] }) {
  return (
    <section aria-labelledby="ev-h">
      <h2 id="ev-h">{t("events.h")}</h2>
      <ul class="cards">
        {events
          .sort((a, b) => a.starts_at.localeCompare(b.starts_at))
          .map((e) => (
            <li class="card" key={e.id}>
              <h3>{e.title}</h3>
              <p>
                {when(e.starts_at)} – {when(e.ends_at)}
                {e.venue.address ? ` · ${e.venue.address}` : ""}
              </p>
            </li>
          ))}
      </ul>
    </section>
  );
}

// --- places ---------------------------------------------------------------------------------

export function PlacesScreen(props: { rev: number; cellId?: number }) {
  const cells = useDb(loadCells, [props.rev]);
  const [cellId, setCellId] = useState<number | undefined>(props.cellId);
  const [q, setQ] = useState("");
  const [limit, setLimit] = useState(100);
  useEffect(() => {
    if (cellId === undefined && cells?.length) setCellId(cells[0].id);
  }, [cells]);
  const data = useDb(async () => {
    if (cellId === undefined) return { places: [] as Place[], counts: new Map<number, number>() };
    const d = await db();
    const places = await d.getAllFromIndex("places", "cell", cellId);
    const counts = new Map<number, number>();
    const tx = d.transaction("households");
    for (const p of places) counts.set(p.id, await tx.store.index("place").count(p.id));
    return { places, counts };
  }, [cellId, props.rev]);
  if (!cells) return <p aria-live="polite">{t("ui.loading")}</p>;
  const needle = q.trim().toLowerCase();
  const shown = (data?.places ?? [])
    .filter((p) => !needle || `${p.name ?? ""} ${p.external_id ?? ""} ${p.type}`.toLowerCase().includes(needle))
    .sort((a, b) => (a.name ?? "").localeCompare(b.name ?? ""));
  return (
    <section aria-labelledby="places-h">
      <h2 id="places-h">{t("places.h")}</h2>
      {cells.length === 0 && <p>{t("places.none")}</p>}
      {cells.length > 0 && (
        <label>
          {t("places.cell")}
          <select
            value={cellId === undefined ? "" : String(cellId)}
            onChange={(e) => {
              setCellId(Number((e.target as HTMLSelectElement).value));
              setLimit(100);
            }}
          >
            {cells.map((c) => (
              <option key={c.id} value={String(c.id)}>
                {c.code}
              </option>
            ))}
          </select>
        </label>
      )}
      <label>
        {t("places.search")}
        <input type="search" value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
      </label>
      <p aria-live="polite">{t("places.count", { n: shown.length })}</p>
      <ul class="list" data-testid="place-list">
        {shown.slice(0, limit).map((p) => (
          <li key={p.id}>
            <a class="rowlink" href={`#/place/${p.id}`}>
              <strong>{p.name || p.external_id || `#${p.id}`}</strong>
              <span>
                {p.type} · {t("places.households", { n: data?.counts.get(p.id) ?? 0 })}
              </span>
            </a>
          </li>
        ))}
      </ul>
      {shown.length > limit && (
        <button type="button" class="big" onClick={() => setLimit(limit + 200)}>
          {t("places.more")}
        </button>
      )}
    </section>
  );
}

export function PlaceScreen(props: { id: number; rev: number }) {
  const data = useDb(async () => {
    const d = await db();
    const place = await d.get("places", props.id);
    const households: Household[] = await d.getAllFromIndex("households", "place", props.id);
    return { place, households };
  }, [props.id, props.rev]);
  if (!data) return <p aria-live="polite">{t("ui.loading")}</p>;
  const p = data.place;
  if (!p) return <p>{t("ui.empty")}</p>;
  return (
    <section aria-labelledby="place-h">
      <h2 id="place-h">{p.name || p.external_id || `#${p.id}`}</h2>
      <p>
        {p.type} · {p.lat.toFixed(5)}, {p.lon.toFixed(5)}
      </p>
      <div class="actions">
        <a class="big primary button" href={`#/record/${p.id}`}>
          {t("place.record")}
        </a>
        <a class="big button" href={`#/problem/${p.id}`}>
          {t("place.problem")}
        </a>
      </div>
      <h3>{t("place.households")}</h3>
      {data.households.length === 0 && <p>{t("ui.empty")}</p>}
      <ul class="list">
        {data.households
          .sort((a, b) => (a.door_number ?? "").localeCompare(b.door_number ?? ""))
          .map((h) => (
            <li key={h.id} class="hh">
              <strong>{h.door_number || h.address || `#${h.id}`}</strong>
              <span>
                {h.address && h.door_number ? `${h.address} · ` : ""}
                {t("hh.members", { n: h.member_count ?? h.members?.length ?? 0 })}
                {h.phone ? ` · ${h.phone}` : ""}
              </span>
            </li>
          ))}
      </ul>
      <a class="big button" href={`#/places/${p.cell_id ?? ""}`}>
        {t("place.back")}
      </a>
    </section>
  );
}

// --- the outbox -----------------------------------------------------------------------------

function reasonOf(r: QueuedRecord): string {
  const parts: string[] = [];
  if (r.code) parts.push(r.code);
  for (const [k, v] of Object.entries(r.errors ?? {})) {
    parts.push(`${k === "_" ? "" : `${k}: `}${Array.isArray(v) ? v.join(" ") : JSON.stringify(v)}`);
  }
  return parts.join("; ");
}

export function OutboxScreen(props: {
  rev: number;
  online: boolean;
  busy: boolean;
  send: (recs?: QueuedRecord[]) => Promise<void>;
  changed: () => void;
  places: Map<number, string>;
}) {
  const rows = useDb(async () => {
    const all = await (await db()).getAll("queue");
    return all.sort((a, b) => b.made_at.localeCompare(a.made_at));
  }, [props.rev]);
  const headRef = useRef<HTMLHeadingElement>(null);
  if (!rows) return <p aria-live="polite">{t("ui.loading")}</p>;
  const sent = rows.filter(isSent);

  async function clearSent() {
    const d = await db();
    for (const r of sent) {
      for (const id of r.photos) await d.delete("photos", id);
      await d.delete("queue", r.uuid);
    }
    props.changed();
  }

  async function remove(r: QueuedRecord) {
    if (!window.confirm(t("outbox.delete.confirm"))) return;
    const d = await db();
    for (const id of r.photos) await d.delete("photos", id);
    await d.delete("queue", r.uuid);
    props.changed();
  }

  async function resend(r: QueuedRecord) {
    const d = await db();
    let rec = r;
    if (r.kind === "task_update" && r.status === "conflict") {
      // someone else changed the task: take its current version from the server
      const task = await refreshTask(r.task_id!).catch(() => d.get("tasks", r.task_id!));
      rec = { ...r, version: task?.version ?? r.version };
    }
    rec = { ...rec, status: "pending" };
    await d.put("queue", rec);
    await props.send([rec]);
  }

  return (
    <section aria-labelledby="outbox-h">
      <h2 id="outbox-h" ref={headRef}>
        {t("outbox.h")}
      </h2>
      {!props.online && <p class="hint">{t("outbox.offline")}</p>}
      <div class="actions">
        <button type="button" class="big primary" disabled={props.busy || !props.online} onClick={() => void props.send()}>
          {t("outbox.upload")}
        </button>
        <button
          type="button"
          class="big"
          disabled={props.busy || !props.online || rows.length === 0}
          onClick={() => void props.send(rows.filter((r) => r.kind !== "task_update"))}
        >
          {t("outbox.resend.all")}
        </button>
        <button type="button" class="big" disabled={sent.length === 0} onClick={() => void clearSent()}>
          {t("outbox.clear")}
        </button>
      </div>
      {rows.length === 0 && <p>{t("outbox.none")}</p>}
      <ul class="cards" data-testid="outbox">
        {rows.map((r) => {
          const what =
            r.kind === "case" || (r.kind === "sme_visit" && r.sme)
              ? r.title
              : r.kind === "task_update"
                ? `${r.title ?? ""} → ${t(`status.${r.task_status}`)}`
                : r.place_id !== null
                  ? (props.places.get(r.place_id) ?? `#${r.place_id}`)
                  : "";
          const fixable = r.status === "rejected" || r.status === "conflict";
          return (
            <li class={`card rec-${r.status}`} key={r.uuid} data-testid="record" data-status={r.status}>
              <h3>
                {t(`kind.${r.kind}`)}
                {what ? ` · ${what}` : ""}
              </h3>
              <p>
                <span class={`badge r-${r.status}`} data-testid="record-status">
                  {t(`res.${r.status}`)} · {r.status}
                </span>{" "}
                {when(r.started_at)}
                {r.photos.length > 0 ? ` · ${t("outbox.photos", { n: r.photos.length })}` : ""}
                {r.flags?.length ? ` · ${r.flags.join(", ")}` : ""}
              </p>
              {r.notes && r.kind !== "task_update" && <p class="hint">{r.notes.length > 80 ? `${r.notes.slice(0, 80)}…` : r.notes}</p>}
              {(fixable || r.status === "unsupported") && reasonOf(r) && <p class="error">{t("outbox.reason", { reason: reasonOf(r) })}</p>}
              <div class="actions">
                {fixable && r.kind !== "task_update" && (
                  <a class="button" href={`#/fix/${r.uuid}`}>
                    {t("outbox.fix")}
                  </a>
                )}
                {r.kind === "task_update" && r.status === "conflict" ? (
                  <button type="button" disabled={!props.online || props.busy} onClick={() => void resend(r)}>
                    {t("outbox.latest")}
                  </button>
                ) : (
                  <button type="button" disabled={!props.online || props.busy} onClick={() => void resend(r)}>
                    {t("outbox.resend")}
                  </button>
                )}
                {!isSent(r) && (
                  <button type="button" onClick={() => void remove(r)}>
                    {t("outbox.delete")}
                  </button>
                )}
              </div>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
