// SME visits on the terminal (loaded lazily: only a worker who opens them pays for them).
// - The list: the worker's listed enterprises from the bundle (`sme_enterprises`), with credit
//   code, address, responsible institution, status (visited once a visit is recorded here, even
//   before it is sent) and the distance from the worker when the position is known.
// - The visit form for one enterprise: operating status, financing need, existing lenders,
//   eligibility, outcome and what the outcome needs (products for product_matched, an
//   explanation for not_eligible_explained), the next step and its date. It checks the
//   server's outcome rules before saving, then saves into the local queue as an `sme_visit`
//   upload item (`programme_id`, `enterprise_id`, `sme`); a rejected one opens here again.
import { useEffect, useState } from "preact/hooks";
import { registerStrings, t } from "../common/i18n";
import { type Location, type QueuedRecord, type SmeBody, type SmeEnterprise, db, getMeta, isSent, uuid4 } from "./db";

registerStrings(
  {
    "sme.h": "走访企业",
    "sme.none": "没有分配给您的走访企业。联网同步后会自动下载。",
    "sme.count": "{n} 家企业，已走访 {v} 家",
    "sme.search": "搜索企业（名称、信用代码、地址）",
    "sme.filter": "状态",
    "sme.filter.all": "全部",
    "sme.code": "统一社会信用代码 {code}",
    "sme.inst": "责任机构 {code}",
    "sme.programme": "走访计划 {code}",
    "sme.distance.m": "距您 {n} 米",
    "sme.distance.km": "距您 {n} 公里",
    "sme.locate": "显示与我的距离",
    "sme.locating": "正在定位…",
    "sme.located": "已定位，按距离排序",
    "sme.noloc": "无法定位：{reason}",
    "sme.st.listed": "未走访",
    "sme.st.visited": "已走访",
    "sme.st.closed": "已关闭",
    "sme.record": "记录走访",
    "sme.last": "本机记录：{status}",
    "sme.fix": "修改被拒绝的记录",
    "sme.form.h": "企业走访记录",
    "sme.form.fix": "修改企业走访记录",
    "sme.gone": "此企业已不在您的走访名单中。",
    "sme.op": "经营状况",
    "op.normal": "正常经营",
    "op.difficult": "经营困难",
    "op.suspended": "停业",
    "op.closed": "已关闭",
    "sme.need": "融资需求",
    "sme.need.has": "企业有融资需求",
    "sme.need.amount": "需求金额（元）",
    "sme.need.term": "期限（月）",
    "sme.need.purpose": "用途",
    "sme.lenders": "现有贷款机构",
    "sme.lenders.other": "其他机构代码（用逗号分隔）",
    "sme.eligible": "是否符合贷款条件",
    "sme.eligible.yes": "符合",
    "sme.eligible.no": "不符合",
    "sme.eligible.unknown": "尚不确定",
    "sme.outcome": "走访结果",
    "out.follow_up": "跟进存量客户",
    "out.renewal": "续贷",
    "out.product_matched": "已匹配产品",
    "out.not_eligible_explained": "不符合条件，已解释",
    "out.no_need": "暂无需求",
    "sme.products": "推荐的产品（用逗号分隔）",
    "sme.explanation": "向企业所作的解释",
    "sme.next": "下一步",
    "sme.next.due": "下一步完成日期",
    "sme.notes": "备注",
    "sme.save": "保存到待发送",
    "sme.cancel": "取消",
    "sme.rejected": "服务器拒绝了此记录：{reason}。请修改后重新保存。",
    "sme.err.amount": "请填写不小于 0 的整数金额",
    "sme.err.term": "期限为 1 到 360 个月",
    "sme.err.lenders": "跟进和续贷需要填写现有贷款机构",
    "sme.err.products": "已匹配产品时请填写产品",
    "sme.err.need": "已匹配产品时需求金额须大于 0",
    "sme.err.eligible.yes": "已匹配产品时企业须符合条件",
    "sme.err.eligible.no": "“不符合条件”时请选择“不符合”",
    "sme.err.explanation": "请填写向企业所作的解释",
    "sme.err.no_need": "“暂无需求”时不能有需求金额",
    "sme.err.summary": "请更正标出的 {n} 处",
    "sme.gps": "获取 GPS 位置",
  },
  {
    "sme.h": "Businesses to visit",
    "sme.none": "No businesses are listed for you. They download when online.",
    "sme.count": "{n} businesses, {v} visited",
    "sme.search": "Search (name, credit code, address)",
    "sme.filter": "Status",
    "sme.filter.all": "All",
    "sme.code": "Credit code {code}",
    "sme.inst": "Institution {code}",
    "sme.programme": "Programme {code}",
    "sme.distance.m": "{n} m from you",
    "sme.distance.km": "{n} km from you",
    "sme.locate": "Show distances from me",
    "sme.locating": "Locating…",
    "sme.located": "Located; nearest first",
    "sme.noloc": "No position: {reason}",
    "sme.st.listed": "Not visited",
    "sme.st.visited": "Visited",
    "sme.st.closed": "Closed",
    "sme.record": "Record a visit",
    "sme.last": "Recorded here: {status}",
    "sme.fix": "Fix the rejected record",
    "sme.form.h": "Business visit",
    "sme.form.fix": "Fix the business visit",
    "sme.gone": "This business is no longer on your list.",
    "sme.op": "Operating status",
    "op.normal": "Operating normally",
    "op.difficult": "In difficulty",
    "op.suspended": "Suspended",
    "op.closed": "Closed",
    "sme.need": "Financing need",
    "sme.need.has": "The business needs financing",
    "sme.need.amount": "Amount (yuan)",
    "sme.need.term": "Term (months)",
    "sme.need.purpose": "Purpose",
    "sme.lenders": "Existing lenders",
    "sme.lenders.other": "Other institution codes (comma separated)",
    "sme.eligible": "Eligible for a loan",
    "sme.eligible.yes": "Eligible",
    "sme.eligible.no": "Not eligible",
    "sme.eligible.unknown": "Not known yet",
    "sme.outcome": "Outcome",
    "out.follow_up": "Follow-up (existing borrower)",
    "out.renewal": "Renewal",
    "out.product_matched": "Product matched",
    "out.not_eligible_explained": "Not eligible, explained",
    "out.no_need": "No need",
    "sme.products": "Products offered (comma separated)",
    "sme.explanation": "Explanation given to the business",
    "sme.next": "Next step",
    "sme.next.due": "Next step due on",
    "sme.notes": "Notes",
    "sme.save": "Save to the outbox",
    "sme.cancel": "Cancel",
    "sme.rejected": "The server rejected this record: {reason}. Fix it and save again.",
    "sme.err.amount": "Give a whole amount of 0 or more",
    "sme.err.term": "The term is 1 to 360 months",
    "sme.err.lenders": "A follow-up or renewal needs the existing lenders",
    "sme.err.products": "Name the products offered",
    "sme.err.need": "A matched product needs an amount above 0",
    "sme.err.eligible.yes": "A matched product needs the business to be eligible",
    "sme.err.eligible.no": "Choose “Not eligible” for this outcome",
    "sme.err.explanation": "Give the explanation",
    "sme.err.no_need": "“No need” cannot have an amount",
    "sme.err.summary": "Correct the {n} marked fields",
    "sme.gps": "Get GPS position",
  },
);

export const OPERATING = ["normal", "difficult", "suspended", "closed"];
export const OUTCOMES = ["follow_up", "renewal", "product_matched", "not_eligible_explained", "no_need"];

interface Position {
  lon: number;
  lat: number;
}

/** Great-circle distance in metres. */
export function distanceM(a: Position, b: Position): number {
  const r = 6371008.8;
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * r * Math.asin(Math.min(1, Math.sqrt(h)));
}

function distanceText(m: number): string {
  return m < 1000 ? t("sme.distance.m", { n: Math.round(m) }) : t("sme.distance.km", { n: (m / 1000).toFixed(1) });
}

/** The last local record of each enterprise (rejected ones included: they still need fixing). */
function latestByEnterprise(queue: QueuedRecord[]): Map<number, QueuedRecord> {
  const out = new Map<number, QueuedRecord>();
  for (const r of queue) {
    if (r.kind !== "sme_visit" || r.enterprise_id === undefined) continue;
    const seen = out.get(r.enterprise_id);
    if (!seen || seen.made_at < r.made_at) out.set(r.enterprise_id, r);
  }
  return out;
}

/** Visited when the server says so, or a visit recorded here was not rejected. */
function statusOf(e: SmeEnterprise, local?: QueuedRecord): string {
  if (e.status === "listed" && local && local.status !== "rejected" && local.status !== "conflict") return "visited";
  return e.status;
}

function reasonOf(r: QueuedRecord): string {
  const parts: string[] = [];
  if (r.code) parts.push(r.code);
  for (const [k, v] of Object.entries(r.errors ?? {})) {
    parts.push(`${k === "_" ? "" : `${k}: `}${Array.isArray(v) ? v.join(" ") : JSON.stringify(v)}`);
  }
  return parts.join("; ");
}

let lastPosition: Position | null = null; // for the session: the list keeps its distances

function locate(): Promise<Position> {
  return new Promise((resolve, reject) => {
    if (!("geolocation" in navigator)) {
      reject(new Error("—"));
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (pos) => resolve({ lon: pos.coords.longitude, lat: pos.coords.latitude }),
      (err) => reject(new Error(err.message || String(err.code))),
      { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 },
    );
  });
}

export function SmeListScreen(props: { rev: number }) {
  const [data, setData] = useState<{ rows: SmeEnterprise[]; local: Map<number, QueuedRecord> } | null>(null);
  const [q, setQ] = useState("");
  const [filter, setFilter] = useState("");
  const [here, setHere] = useState<Position | null>(lastPosition);
  const [gps, setGps] = useState("");
  useEffect(() => {
    let live = true;
    void (async () => {
      const d = await db();
      const [rows, queue] = await Promise.all([d.getAll("sme_enterprises"), d.getAll("queue")]);
      if (live) setData({ rows, local: latestByEnterprise(queue) });
    })().catch(() => undefined); // the database was just wiped
    return () => {
      live = false;
    };
  }, [props.rev]);
  useEffect(() => {
    // a position without asking: only when the browser already allows it
    if (here || !navigator.permissions?.query) return;
    void navigator.permissions
      .query({ name: "geolocation" })
      .then((p) => (p.state === "granted" ? locate().then(found) : undefined))
      .catch(() => undefined);
  }, []);

  function found(p: Position) {
    lastPosition = p;
    setHere(p);
    setGps(t("sme.located"));
  }

  function ask() {
    setGps(t("sme.locating"));
    locate()
      .then(found)
      .catch((e: Error) => setGps(t("sme.noloc", { reason: e.message })));
  }

  if (!data) return <p aria-live="polite">{t("ui.loading")}</p>;
  const needle = q.trim().toLowerCase();
  const rows = data.rows
    .map((e) => {
      const local = data.local.get(e.id);
      const dist = here && e.lon !== null && e.lat !== null ? distanceM(here, { lon: e.lon, lat: e.lat }) : null;
      return { e, local, status: statusOf(e, local), dist };
    })
    .filter((x) => !filter || x.status === filter)
    .filter((x) => !needle || `${x.e.name} ${x.e.credit_code} ${x.e.address ?? ""}`.toLowerCase().includes(needle))
    .sort((a, b) => (a.dist !== null && b.dist !== null ? a.dist - b.dist : a.e.name.localeCompare(b.e.name, "zh-CN")));
  const visited = data.rows.filter((e) => statusOf(e, data.local.get(e.id)) === "visited").length;
  return (
    <section aria-labelledby="sme-h">
      <h2 id="sme-h">{t("sme.h")}</h2>
      {data.rows.length === 0 ? (
        <p>{t("sme.none")}</p>
      ) : (
        <>
          <label>
            {t("sme.search")}
            <input type="search" value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
          </label>
          <label>
            {t("sme.filter")}
            <select value={filter} onChange={(e) => setFilter((e.target as HTMLSelectElement).value)}>
              <option value="">{t("sme.filter.all")}</option>
              {["listed", "visited", "closed"].map((s) => (
                <option key={s} value={s}>
                  {t(`sme.st.${s}`)}
                </option>
              ))}
            </select>
          </label>
          <button type="button" class="big" onClick={ask}>
            {t("sme.locate")}
          </button>
          <p aria-live="polite" class="hint">
            {gps}
          </p>
          <p aria-live="polite">{t("sme.count", { n: data.rows.length, v: visited })}</p>
        </>
      )}
      <ul class="cards" data-testid="sme-list">
        {rows.map(({ e, local, status, dist }) => (
          <li class="card" key={e.id} data-testid="sme-enterprise" data-status={status}>
            <h3>{e.name}</h3>
            <p>
              <span class={`badge e-${status}`} data-testid="sme-status">
                {t(`sme.st.${status}`)}
              </span>
              {dist !== null ? ` · ${distanceText(dist)}` : ""}
            </p>
            <p class="hint">{t("sme.code", { code: e.credit_code })}</p>
            {e.address && <p class="hint">{e.address}</p>}
            <p class="hint">
              {t("sme.inst", { code: e.institution })} · {t("sme.programme", { code: e.programme_code })}
            </p>
            {local && (
              <p>
                <span class={`badge r-${local.status}`}>{t("sme.last", { status: t(`res.${local.status}`) })}</span>
              </p>
            )}
            {local && (local.status === "rejected" || local.status === "conflict") ? (
              <a class="big primary button" href={`#/fix/${local.uuid}`} aria-label={`${t("sme.fix")}：${e.name}`}>
                {t("sme.fix")}
              </a>
            ) : (
              status !== "closed" && (
                <a class="big primary button" href={`#/sme-visit/${e.id}`} aria-label={`${t("sme.record")}：${e.name}`}>
                  {t("sme.record")}
                </a>
              )
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}

function splitCodes(s: string): string[] {
  return [
    ...new Set(
      s
        .split(/[,，;；\s]+/)
        .map((x) => x.trim())
        .filter(Boolean),
    ),
  ];
}

function splitList(s: string): string[] {
  return s
    .split(/[,，;；\n]+/)
    .map((x) => x.trim())
    .filter(Boolean);
}

type Errors = Record<string, string>;

/** The server's outcome rules, checked before saving (the server checks them again). */
export function smeErrors(b: SmeBody): Errors {
  const e: Errors = {};
  if (b.need) {
    if (!Number.isInteger(b.need.amount) || b.need.amount < 0) e.amount = t("sme.err.amount");
    if (!Number.isInteger(b.need.term_months) || b.need.term_months < 1 || b.need.term_months > 360) e.term = t("sme.err.term");
  }
  const amount = b.need?.amount ?? 0;
  if ((b.outcome === "follow_up" || b.outcome === "renewal") && b.lenders.length === 0) e.lenders = t("sme.err.lenders");
  if (b.outcome === "product_matched") {
    if (b.products.length === 0) e.products = t("sme.err.products");
    if (!e.amount && !(amount > 0)) e.amount = t("sme.err.need");
    if (b.eligible !== true) e.eligible = t("sme.err.eligible.yes");
  }
  if (b.outcome === "not_eligible_explained") {
    if (b.eligible !== false) e.eligible = t("sme.err.eligible.no");
    if (!b.explanation.trim()) e.explanation = t("sme.err.explanation");
  }
  if (b.outcome === "no_need" && amount > 0) e.amount = t("sme.err.no_need");
  return e;
}

const SERVER_FIELDS: Record<string, string> = {
  "need.amount": "amount",
  need: "amount",
  "need.term_months": "term",
  lenders: "lenders",
  products: "products",
  eligible: "eligible",
  explanation: "explanation",
};

/** A rejected record's field errors, on the form's fields (`sme.lenders` → lenders). */
function serverErrors(r?: QueuedRecord): Errors {
  const out: Errors = {};
  if (r?.status !== "rejected") return out;
  for (const [k, v] of Object.entries(r.errors ?? {})) {
    const key = k.replace(/^sme\./, "");
    const field = SERVER_FIELDS[key] ?? SERVER_FIELDS[key.split(".")[0]];
    if (field) out[field] = Array.isArray(v) ? v.join(" ") : JSON.stringify(v);
  }
  return out;
}

function FieldError(props: { id: string; text?: string }) {
  return props.text ? (
    <p class="error" id={props.id}>
      {props.text}
    </p>
  ) : null;
}

export function SmeVisitForm(props: { enterpriseId?: number; existing?: QueuedRecord; onDone: (saved: boolean) => void }) {
  const ex = props.existing;
  const s = ex?.sme;
  const enterpriseId = ex?.enterprise_id ?? props.enterpriseId;
  const [ent, setEnt] = useState<SmeEnterprise | null | undefined>(undefined);
  const [codes, setCodes] = useState<string[]>([]);
  const [names, setNames] = useState<Map<string, string>>(new Map());
  const [op, setOp] = useState(s?.operating_status ?? "normal");
  const [hasNeed, setHasNeed] = useState(s ? s.need !== null : false);
  const [amount, setAmount] = useState(s?.need ? String(s.need.amount) : "");
  const [term, setTerm] = useState(s?.need ? String(s.need.term_months) : "12");
  const [purpose, setPurpose] = useState(s?.need?.purpose ?? "");
  const [lenders, setLenders] = useState<string[]>(s?.lenders ?? []);
  const [otherLenders, setOtherLenders] = useState("");
  const [eligible, setEligible] = useState<string>(s ? (s.eligible === null ? "" : String(s.eligible)) : "");
  const [outcome, setOutcome] = useState(s?.outcome ?? "follow_up");
  const [products, setProducts] = useState((s?.products ?? []).join("，"));
  const [explanation, setExplanation] = useState(s?.explanation ?? "");
  const [nextStep, setNextStep] = useState(s?.next_step ?? "");
  const [nextDue, setNextDue] = useState(s?.next_step_due_on ?? "");
  const [notes, setNotes] = useState(s?.notes ?? "");
  const [loc, setLoc] = useState<Location | null>(ex?.location ?? null);
  const [gps, setGps] = useState("");
  const [errors, setErrors] = useState<Errors>(() => serverErrors(ex));
  const [startedAt] = useState(ex?.started_at ?? new Date().toISOString());

  useEffect(() => {
    void (async () => {
      const d = await db();
      const e = enterpriseId !== undefined ? await d.get("sme_enterprises", enterpriseId) : undefined;
      setEnt(e ?? null);
      // lenders: the bundle's institutions when it carries them, else the codes of the
      // enterprises' institutions; any other code can be typed
      const listed = await getMeta<{ code: string; name?: string }[]>("institutions");
      setNames(new Map((listed ?? []).map((i) => [i.code, i.name ?? ""])));
      const all = listed?.length ? listed.map((i) => i.code) : (await d.getAll("sme_enterprises")).map((x) => x.institution);
      const known = [...new Set(all.filter(Boolean))].sort();
      setCodes(known);
      if (s) {
        setLenders(s.lenders.filter((c) => known.includes(c)));
        setOtherLenders(s.lenders.filter((c) => !known.includes(c)).join(", "));
      }
    })().catch(() => setEnt(null));
  }, [enterpriseId]);

  if (ent === undefined) return <p aria-live="polite">{t("ui.loading")}</p>;
  if (ent === null && !ex) return <p>{t("sme.gone")}</p>;
  const name = ent?.name ?? ex?.title ?? "";

  function getPosition() {
    setGps(t("sme.locating"));
    if (!("geolocation" in navigator)) {
      setGps(t("sme.noloc", { reason: "—" }));
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        setLoc({ lon: Number(pos.coords.longitude.toFixed(6)), lat: Number(pos.coords.latitude.toFixed(6)), accuracy_m: Math.round(pos.coords.accuracy * 10) / 10 });
        setGps(t("rec.gps.got", { acc: Math.round(pos.coords.accuracy) }));
      },
      (err) => setGps(t("sme.noloc", { reason: err.message || String(err.code) })),
      { enableHighAccuracy: true, timeout: 20000, maximumAge: 30000 },
    );
  }

  async function save(e: Event) {
    e.preventDefault();
    const eligibleValue = eligible === "true" ? true : eligible === "false" ? false : null;
    const body: SmeBody = {
      operating_status: op,
      need: hasNeed
        ? { amount: amount.trim() === "" ? Number.NaN : Number(amount), term_months: Number(term), purpose: purpose.trim() }
        : null,
      lenders: [...new Set([...lenders, ...splitCodes(otherLenders)])],
      eligible: eligibleValue,
      outcome,
      products: outcome === "product_matched" ? splitList(products) : [],
      explanation: outcome === "not_eligible_explained" ? explanation.trim() : "",
      next_step: nextStep.trim(),
      next_step_due_on: nextDue || null,
      notes: notes.trim(),
    };
    const found = smeErrors(body);
    setErrors(found);
    if (Object.keys(found).length) {
      window.setTimeout(() => (document.querySelector("form.record [aria-invalid=true]") as HTMLElement | null)?.focus(), 0);
      return;
    }
    const d = await db();
    const fresh = !ex || ex.status === "conflict";
    const rec: QueuedRecord = {
      uuid: fresh ? uuid4() : ex.uuid,
      kind: "sme_visit",
      made_at: ex?.made_at ?? new Date().toISOString(),
      started_at: startedAt,
      ended_at: new Date().toISOString(),
      place_id: ent?.place_id ?? ex?.place_id ?? null,
      location: loc,
      notes: body.notes,
      answers: {},
      photos: [],
      title: name,
      programme_id: ent?.programme_id ?? ex?.programme_id,
      enterprise_id: enterpriseId,
      sme: body,
      status: "pending",
    };
    if (ex && fresh) await d.delete("queue", ex.uuid);
    await d.put("queue", rec);
    props.onDone(true);
  }

  const bad = (k: string) => (errors[k] ? { "aria-invalid": true, "aria-describedby": `sme-err-${k}` } : {});
  const nErrors = Object.keys(errors).length;
  return (
    <form class="record" onSubmit={save} aria-labelledby="sme-form-h" noValidate>
      <h2 id="sme-form-h">{t(ex ? "sme.form.fix" : "sme.form.h")}</h2>
      <p>
        <strong>{name}</strong>
        {ent && (
          <>
            <br />
            <span class="hint">{t("sme.code", { code: ent.credit_code })}</span>
          </>
        )}
      </p>
      {ex && ex.status === "rejected" && (
        <p class="error" role="alert">
          {t("sme.rejected", { reason: reasonOf(ex) })}
        </p>
      )}
      {ex && isSent(ex) && <p class="hint">{t(`res.${ex.status}`)}</p>}
      <label>
        {t("sme.op")}
        <select value={op} onChange={(e) => setOp((e.target as HTMLSelectElement).value)}>
          {OPERATING.map((o) => (
            <option key={o} value={o}>
              {t(`op.${o}`)}
            </option>
          ))}
        </select>
      </label>
      <fieldset>
        <legend>{t("sme.need")}</legend>
        <label class="check">
          <input type="checkbox" checked={hasNeed} onChange={(e) => setHasNeed((e.target as HTMLInputElement).checked)} />
          {t("sme.need.has")}
        </label>
        {hasNeed && (
          <>
            <label>
              {t("sme.need.amount")}
              <input inputMode="numeric" value={amount} onInput={(e) => setAmount((e.target as HTMLInputElement).value)} {...bad("amount")} />
            </label>
            <FieldError id="sme-err-amount" text={errors.amount} />
            <label>
              {t("sme.need.term")}
              <input inputMode="numeric" value={term} onInput={(e) => setTerm((e.target as HTMLInputElement).value)} {...bad("term")} />
            </label>
            <FieldError id="sme-err-term" text={errors.term} />
            <label>
              {t("sme.need.purpose")}
              <input value={purpose} maxLength={500} onInput={(e) => setPurpose((e.target as HTMLInputElement).value)} />
            </label>
          </>
        )}
        {!hasNeed && <FieldError id="sme-err-amount" text={errors.amount} />}
      </fieldset>
      <fieldset {...(errors.lenders ? { "aria-describedby": "sme-err-lenders" } : {})}>
        <legend>{t("sme.lenders")}</legend>
        {codes.map((c) => (
          <label class="check" key={c}>
            <input
              type="checkbox"
              checked={lenders.includes(c)}
              onChange={(e) => setLenders((e.target as HTMLInputElement).checked ? [...lenders, c] : lenders.filter((x) => x !== c))}
            />
            {names.get(c) ? `${c} ${names.get(c)}` : c}
          </label>
        ))}
        <label>
          {t(codes.length ? "sme.lenders.other" : "sme.lenders")}
          <input
            value={otherLenders}
            autoCapitalize="characters"
            onInput={(e) => setOtherLenders((e.target as HTMLInputElement).value)}
            {...bad("lenders")}
          />
        </label>
        <FieldError id="sme-err-lenders" text={errors.lenders} />
      </fieldset>
      <fieldset {...(errors.eligible ? { "aria-describedby": "sme-err-eligible" } : {})}>
        <legend>{t("sme.eligible")}</legend>
        {[
          ["true", "sme.eligible.yes"],
          ["false", "sme.eligible.no"],
          ["", "sme.eligible.unknown"],
        ].map(([v, k]) => (
          <label class="check" key={v}>
            <input type="radio" name="sme-eligible" value={v} checked={eligible === v} onChange={() => setEligible(v)} {...bad("eligible")} />
            {t(k)}
          </label>
        ))}
        <FieldError id="sme-err-eligible" text={errors.eligible} />
      </fieldset>
      <label>
        {t("sme.outcome")}
        <select value={outcome} onChange={(e) => setOutcome((e.target as HTMLSelectElement).value)}>
          {OUTCOMES.map((o) => (
            <option key={o} value={o}>
              {t(`out.${o}`)}
            </option>
          ))}
        </select>
      </label>
      {outcome === "product_matched" && (
        <>
          <label>
            {t("sme.products")}
            <input value={products} onInput={(e) => setProducts((e.target as HTMLInputElement).value)} {...bad("products")} />
          </label>
          <FieldError id="sme-err-products" text={errors.products} />
        </>
      )}
      {outcome === "not_eligible_explained" && (
        <>
          <label>
            {t("sme.explanation")}
            <textarea rows={3} maxLength={2000} value={explanation} onInput={(e) => setExplanation((e.target as HTMLTextAreaElement).value)} {...bad("explanation")} />
          </label>
          <FieldError id="sme-err-explanation" text={errors.explanation} />
        </>
      )}
      <label>
        {t("sme.next")}
        <input value={nextStep} maxLength={500} onInput={(e) => setNextStep((e.target as HTMLInputElement).value)} />
      </label>
      <label>
        {t("sme.next.due")}
        <input type="date" value={nextDue} onInput={(e) => setNextDue((e.target as HTMLInputElement).value)} />
      </label>
      <label>
        {t("sme.notes")}
        <textarea rows={3} maxLength={5000} value={notes} onInput={(e) => setNotes((e.target as HTMLTextAreaElement).value)} />
      </label>
      <fieldset>
        <legend>GPS</legend>
        <button type="button" class="big" onClick={getPosition}>
          {t("sme.gps")}
        </button>
        <p aria-live="polite" class="hint">
          {gps || (loc ? `${loc.lat.toFixed(5)}, ${loc.lon.toFixed(5)}` : "")}
        </p>
      </fieldset>
      {nErrors > 0 && (
        <p class="error" role="alert">
          {t("sme.err.summary", { n: nErrors })}
        </p>
      )}
      <div class="actions">
        <button type="submit" class="big primary">
          {t("sme.save")}
        </button>
        <button type="button" class="big" onClick={() => props.onDone(false)}>
          {t("sme.cancel")}
        </button>
      </div>
    </form>
  );
}
