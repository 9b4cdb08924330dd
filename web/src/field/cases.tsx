// The worker's cases (事件) on the terminal (loaded lazily, like the SME screens).
// - The list: the cases the bundle carries (IndexedDB, so it works offline) — category, level on
//   the ladder (网格 → 社区 → 街道 → 区), status, the level's deadline or overdue, paused,
//   supervised — and the problems reported here that wait in the outbox.
// - One case: what the terminal holds; online, its fresh state and history from
//   GET /tasks/{id}, and the worker's steps where the worker holds it (level `cell`, not with a
//   department): accept, settle (a result and photos), escalate, pause and resume, each
//   `POST /tasks/{id}/{step}` naming the version it is based on. The upload protocol takes no
//   steps, so offline the buttons say they need a connection. A stale version (409
//   `stale_version`) reloads the case and says so; any other refusal shows the envelope's
//   message and code.
import { useEffect, useState } from "preact/hooks";
import { ApiError, call } from "../common/api";
import { registerStrings, t } from "../common/i18n";
import { messageOf } from "../common/ui";
import { type QueuedRecord, type Task, db, getMeta, isSent, sha256Hex, uuid4 } from "./db";
import { preparePhoto } from "./record";

registerStrings(
  {
    "cases.h": "我的事件",
    "cases.none": "没有待处理的事件",
    "cases.report": "上报事件",
    "cases.waiting": "本机上报，等待上传",
    "cases.due": "限办 {at}",
    "cases.overdue": "已超时",
    "cases.paused": "已暂停",
    "cases.supervised": "督办",
    "cases.escalations": "升级 {n} 次",
    "cases.dept": "已派遣部门处理",
    "case.h": "事件详情",
    "case.gone": "此事件已不在本机（已结案、撤销或转给他人）。",
    "case.back": "返回事件列表",
    "case.category": "类别",
    "case.level": "层级",
    "case.status": "状态",
    "case.due": "本级期限",
    "case.history": "处理记录",
    "case.history.offline": "联网后可查看处理记录",
    "case.history.loading": "正在载入处理记录…",
    "case.offline": "处理事件需要联网。联网后即可受理、处置或上报。",
    "case.held": "此事件现由{level}处理，您无需操作。",
    "case.note": "说明（处置时写处置结果，上报或暂停时写原因）",
    "case.photos": "现场照片",
    "case.accept": "受理",
    "case.settle": "处置完成",
    "case.escalate": "上报上级",
    "case.pause": "暂停计时",
    "case.resume": "恢复计时",
    "case.need.note": "{step}需要填写说明",
    "case.done": "已{step}",
    "case.stale": "此事件已被他人修改，已载入最新版本，请确认后重新操作。",
    "case.failed": "操作未成功：{message}（{code}）",
    "case.busy": "正在提交…",
    "level.cell": "网格",
    "level.community": "社区",
    "level.street": "街道",
    "level.district": "区",
    "status.accepted": "已受理",
    "status.settled": "已处置",
    "status.verified": "已核查",
    "status.closed": "已结案",
    "status.cancelled": "已撤销",
    "act.created": "上报",
    "act.accept": "受理",
    "act.settle": "处置",
    "act.escalate": "上报上级",
    "act.dispatch": "派遣",
    "act.return": "退回",
    "act.verify": "核查",
    "act.close": "结案",
    "act.reopen": "重新办理",
    "act.cancel": "撤销",
    "act.pause": "暂停",
    "act.resume": "恢复",
    "act.supervise": "督办",
    "act.recategorise": "改类",
    "act.merge": "合并",
    "act.assigned": "分派",
    "act.edited": "修改",
    "act.status": "状态变更",
    "act.rate": "评价",
    "act.feedback": "回访",
  },
  {
    "cases.h": "My cases",
    "cases.none": "No open cases",
    "cases.report": "Report a case",
    "cases.waiting": "Reported here, waiting to upload",
    "cases.due": "Due {at}",
    "cases.overdue": "Overdue",
    "cases.paused": "Paused",
    "cases.supervised": "Supervised",
    "cases.escalations": "Escalated {n}×",
    "cases.dept": "With a department",
    "case.h": "Case",
    "case.gone": "This case is no longer on this terminal (closed, cancelled or handed on).",
    "case.back": "Back to my cases",
    "case.category": "Category",
    "case.level": "Level",
    "case.status": "Status",
    "case.due": "Due at this level",
    "case.history": "History",
    "case.history.offline": "The history shows when online",
    "case.history.loading": "Loading the history…",
    "case.offline": "Handling a case needs a connection: accept, settle or escalate it when online.",
    "case.held": "The {level} holds this case now; nothing to do here.",
    "case.note": "Note (the result when settling, the reason when escalating or pausing)",
    "case.photos": "Photos on site",
    "case.accept": "Accept",
    "case.settle": "Settled",
    "case.escalate": "Escalate",
    "case.pause": "Pause the clock",
    "case.resume": "Resume the clock",
    "case.need.note": "{step} needs a note",
    "case.done": "Done: {step}",
    "case.stale": "Someone changed this case; the latest version is loaded. Check it and try again.",
    "case.failed": "Not done: {message} ({code})",
    "case.busy": "Sending…",
    "level.cell": "cell",
    "level.community": "community",
    "level.street": "street",
    "level.district": "district",
    "status.accepted": "Accepted",
    "status.settled": "Settled",
    "status.verified": "Verified",
    "status.closed": "Closed",
    "status.cancelled": "Cancelled",
    "act.created": "Reported",
    "act.accept": "Accepted",
    "act.settle": "Settled",
    "act.escalate": "Escalated",
    "act.dispatch": "Dispatched",
    "act.return": "Returned",
    "act.verify": "Verified",
    "act.close": "Closed",
    "act.reopen": "Reopened",
    "act.cancel": "Cancelled",
    "act.pause": "Paused",
    "act.resume": "Resumed",
    "act.supervise": "Supervised",
    "act.recategorise": "Recategorised",
    "act.merge": "Merged",
    "act.assigned": "Assigned",
    "act.edited": "Edited",
    "act.status": "Status",
    "act.rate": "Rated",
    "act.feedback": "Feedback",
  },
);

const FINAL = new Set(["closed", "cancelled"]);
const RUNNING = new Set(["open", "accepted"]);

interface HistoryEntry {
  action: string;
  from_status?: string | null;
  to_status?: string | null;
  from_level?: string | null;
  to_level?: string | null;
  note?: string;
  at: string;
  attachments?: string[];
}

/** A case as GET /tasks/{id} and the steps answer it (the task's fields and the ladder's). */
interface CaseDetail extends Task {
  reporter?: unknown;
  duplicates?: unknown;
  paused_at?: string | null;
  supervised_at?: string | null;
  history?: HistoryEntry[];
}

function when(iso?: string | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** Overdue now: pending (open or accepted), past its level's due time, not paused. */
function overdueNow(c: Task): boolean {
  if (!RUNNING.has(c.status) || c.paused || !c.level_due_at) return false;
  return new Date(c.level_due_at).getTime() < Date.now();
}

function levelName(level?: string | null): string {
  return level ? t(`level.${level}`) : "";
}

function statusName(status: string): string {
  return t(`status.${status}`);
}

/** The fresh answer merged into what the terminal holds (the bundle's own keys kept). */
async function keep(fresh: CaseDetail): Promise<Task | null> {
  const d = await db();
  if (FINAL.has(fresh.status)) {
    await d.delete("tasks", fresh.id);
    return null;
  }
  const held = await d.get("tasks", fresh.id);
  const names = (await getMeta<{ code: string; name: string }[]>("case_categories")) ?? [];
  // the bundle's shape: no history, and no reporter (masked or not, it stays on the server)
  const { history: _h, reporter: _r, duplicates: _d, paused_at, supervised_at, ...rest } = fresh;
  const row: Task = {
    ...(held ?? {}),
    ...rest,
    category_name: names.find((c) => c.code === fresh.category)?.name ?? held?.category_name ?? fresh.category,
    paused: paused_at != null,
    supervised: supervised_at != null,
  };
  row.overdue = overdueNow(row);
  await d.put("tasks", row);
  return row;
}

// --- the list -------------------------------------------------------------------------------

function Badges(props: { c: Task }) {
  const c = props.c;
  const late = overdueNow(c);
  return (
    <span class="badges">
      <span class={`badge s-${c.status}`} data-testid="case-status">
        {statusName(c.status)}
      </span>{" "}
      <span class="badge" data-testid="case-level">
        {levelName(c.level)}
      </span>
      {late && (
        <>
          {" "}
          <span class="badge r-rejected" data-testid="case-overdue">
            {t("cases.overdue")}
          </span>
        </>
      )}
      {c.paused && (
        <>
          {" "}
          <span class="badge r-pending">{t("cases.paused")}</span>
        </>
      )}
      {c.supervised && (
        <>
          {" "}
          <span class="badge r-duplicate">{t("cases.supervised")}</span>
        </>
      )}
    </span>
  );
}

export function CasesScreen(props: { rev: number }) {
  const [data, setData] = useState<{ cases: Task[]; waiting: QueuedRecord[]; names: Map<string, string> } | null>(null);
  useEffect(() => {
    let live = true;
    void (async () => {
      const d = await db();
      const [tasks, queue, cats] = await Promise.all([d.getAll("tasks"), d.getAll("queue"), getMeta<{ code: string; name: string }[]>("case_categories")]);
      const names = new Map((cats ?? []).map((c) => [c.code, c.name]));
      const cases = tasks.filter((x) => x.kind === "case");
      const held = new Set(cases.map((c) => c.uuid).filter(Boolean));
      const waiting = queue.filter((r) => r.kind === "case" && !isSent(r) && !held.has(r.uuid));
      if (live) setData({ cases, waiting, names });
    })().catch(() => undefined); // the database was just wiped
    return () => {
      live = false;
    };
  }, [props.rev]);
  if (!data) return <p aria-live="polite">{t("ui.loading")}</p>;
  const rows = [...data.cases].sort(
    (a, b) =>
      Number(overdueNow(b)) - Number(overdueNow(a)) ||
      (a.level_due_at ?? "~").localeCompare(b.level_due_at ?? "~") ||
      b.id - a.id,
  );
  const names = data.names;
  return (
    <section aria-labelledby="cases-h">
      <h2 id="cases-h">{t("cases.h")}</h2>
      <a class="big primary button" href="#/problem">
        {t("cases.report")}
      </a>
      {rows.length === 0 && data.waiting.length === 0 && <p>{t("cases.none")}</p>}
      <ul class="cards" data-testid="case-list">
        {data.waiting.map((r) => (
          <li class="card" key={r.uuid} data-testid="case-waiting">
            <h3>{r.title}</h3>
            <p>
              <span class="badge r-pending">{t("cases.waiting")}</span>
              {r.category ? ` · ${names.get(r.category) ?? r.category}` : ""}
            </p>
          </li>
        ))}
        {rows.map((c) => (
          <li class="card" key={c.id} data-testid="case" data-id={c.id}>
            <a class="rowlink" href={`#/case/${c.id}`}>
              <strong>{c.title}</strong>
              <span>
                {c.category_name ?? c.category ?? ""}
                {c.level_due_at && !overdueNow(c) && RUNNING.has(c.status) && !c.paused ? ` · ${t("cases.due", { at: when(c.level_due_at) })}` : ""}
              </span>
            </a>
            <p>
              <Badges c={c} />
            </p>
          </li>
        ))}
      </ul>
    </section>
  );
}

// --- one case -------------------------------------------------------------------------------

type Step = "accept" | "settle" | "escalate" | "pause" | "resume";

/** The steps the worker may take on ``c`` here (the ladder's rules for a worker). */
function stepsFor(c: Task): Step[] {
  if (c.level !== "cell" || c.department_id != null) return [];
  if (c.paused) return ["resume"];
  if (c.status === "open") return ["accept", "escalate", "pause"];
  if (c.status === "accepted") return ["settle", "escalate", "pause"];
  return [];
}

const NEEDS_NOTE = new Set<Step>(["settle", "escalate", "pause"]);

async function uploadPhoto(blob: Blob): Promise<string> {
  const id = uuid4();
  const type = blob.type === "image/png" ? "image/png" : "image/jpeg";
  await call(`/attachments/${id}`, {
    method: "PUT",
    body: blob,
    contentType: type,
    headers: { "X-Content-SHA256": await sha256Hex(blob) },
  });
  return id;
}

export function CaseScreen(props: { id: number; rev: number; online: boolean; changed: () => void }) {
  const [held, setHeld] = useState<Task | null | undefined>(undefined);
  const [history, setHistory] = useState<HistoryEntry[] | null>(null);
  const [note, setNote] = useState("");
  const [photos, setPhotos] = useState<Blob[]>([]);
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState("");
  const [err, setErr] = useState("");

  useEffect(() => {
    let live = true;
    void (async () => {
      const c = (await (await db()).get("tasks", props.id)) ?? null;
      if (live) setHeld(c);
    })().catch(() => undefined);
    return () => {
      live = false;
    };
  }, [props.id, props.rev]);

  async function reload(): Promise<Task | null> {
    const r = await call<CaseDetail>(`/tasks/${props.id}`);
    setHistory(r.data.history ?? []);
    const row = await keep(r.data);
    setHeld(row);
    return row;
  }

  useEffect(() => {
    if (!props.online) return;
    let live = true;
    void call<CaseDetail>(`/tasks/${props.id}`)
      .then(async (r) => {
        if (!live) return;
        setHistory(r.data.history ?? []);
        setHeld(await keep(r.data));
      })
      .catch(() => undefined); // shown from what the terminal holds
    return () => {
      live = false;
    };
  }, [props.id, props.online]);

  if (held === undefined) return <p aria-live="polite">{t("ui.loading")}</p>;
  if (held === null) {
    return (
      <section aria-labelledby="case-h">
        <h2 id="case-h">{t("case.h")}</h2>
        <p>{t("case.gone")}</p>
        <a class="big button" href="#/cases">
          {t("case.back")}
        </a>
      </section>
    );
  }
  const c = held;
  const steps = stepsFor(c);

  async function take(step: Step) {
    setErr("");
    setMsg("");
    if (NEEDS_NOTE.has(step) && !note.trim()) {
      setErr(t("case.need.note", { step: t(`case.${step}`) }));
      return;
    }
    setBusy(true);
    try {
      const body: Record<string, unknown> = { version: c.version };
      if (note.trim()) body.note = note.trim();
      if (step === "settle" && photos.length) body.attachments = await Promise.all(photos.map(uploadPhoto));
      const r = await call<CaseDetail>(`/tasks/${c.id}/${step}`, { method: "POST", body });
      setHistory(r.data.history ?? null);
      setHeld(await keep(r.data));
      setNote("");
      setPhotos([]);
      setMsg(t("case.done", { step: t(`case.${step}`) }));
      props.changed();
    } catch (e) {
      if (e instanceof ApiError && e.status === 409 && e.code === "stale_version") {
        setErr(t("case.stale"));
        await reload().catch(() => undefined);
      } else if (e instanceof ApiError && e.status !== 0) {
        setErr(t("case.failed", { message: messageOf(e), code: e.code }));
      } else {
        setErr(messageOf(e));
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="case-h" data-testid="case-detail">
      <h2 id="case-h">{c.title}</h2>
      <p>
        <Badges c={c} />
      </p>
      <dl class="facts">
        <dt>{t("case.category")}</dt>
        <dd data-testid="case-category">{c.category_name ?? c.category ?? "—"}</dd>
        <dt>{t("case.level")}</dt>
        <dd>
          {levelName(c.level)}
          {c.escalations ? ` · ${t("cases.escalations", { n: c.escalations })}` : ""}
          {c.department_id != null ? ` · ${t("cases.dept")}` : ""}
        </dd>
        {c.level_due_at && (
          <>
            <dt>{t("case.due")}</dt>
            <dd>
              {when(c.level_due_at)}
              {overdueNow(c) ? ` · ${t("cases.overdue")}` : ""}
              {c.paused ? ` · ${t("cases.paused")}${c.pause_reason ? `：${c.pause_reason}` : ""}` : ""}
            </dd>
          </>
        )}
      </dl>
      {c.details && <p>{c.details}</p>}

      {steps.length === 0 && c.level && c.level !== "cell" && <p class="hint">{t("case.held", { level: levelName(c.level) })}</p>}
      {steps.length > 0 && !props.online && (
        <p class="warn" role="status">
          {t("case.offline")}
        </p>
      )}
      {steps.length > 0 && (
        <div class="steps">
          {steps.some((s) => NEEDS_NOTE.has(s)) && (
            <label>
              {t("case.note")}
              <textarea
                rows={2}
                maxLength={2000}
                value={note}
                onInput={(e) => {
                  setNote((e.target as HTMLTextAreaElement).value);
                  setErr("");
                }}
              />
            </label>
          )}
          {steps.includes("settle") && (
            <label>
              {t("case.photos")}
              <input
                type="file"
                accept="image/jpeg,image/png,image/*"
                capture="environment"
                multiple
                onChange={(e) => {
                  const input = e.target as HTMLInputElement;
                  void Promise.all(Array.from(input.files ?? []).map(preparePhoto)).then((b) => setPhotos((p) => [...p, ...b].slice(0, 20)));
                }}
              />
              {photos.length > 0 && <span class="hint">{t("outbox.photos", { n: photos.length })}</span>}
            </label>
          )}
          <div class="actions">
            {steps.map((s, i) => (
              <button type="button" key={s} class={`big${i === 0 ? " primary" : ""}`} disabled={!props.online || busy} onClick={() => void take(s)}>
                {t(`case.${s}`)}
              </button>
            ))}
          </div>
        </div>
      )}
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
      <p aria-live="polite" class="hint" data-testid="case-message">
        {busy ? t("case.busy") : msg}
      </p>

      <h3>{t("case.history")}</h3>
      {!props.online && history === null && <p class="hint">{t("case.history.offline")}</p>}
      {props.online && history === null && <p class="hint">{t("case.history.loading")}</p>}
      {history && (
        <ol class="history" data-testid="case-history">
          {history.map((h, i) => (
            <li key={i}>
              <strong>{t(`act.${h.action}`)}</strong> {when(h.at)}
              {h.from_level && h.to_level && h.to_level !== h.from_level ? ` · ${levelName(h.from_level)} → ${levelName(h.to_level)}` : ""}
              {h.to_status && h.to_status !== h.from_status ? ` · ${statusName(h.to_status)}` : ""}
              {h.attachments?.length ? ` · ${t("outbox.photos", { n: h.attachments.length })}` : ""}
              {h.note ? <span class="hint"> · {h.note}</span> : null}
            </li>
          ))}
        </ol>
      )}
      <a class="big button" href="#/cases">
        {t("case.back")}
      </a>
    </section>
  );
}
