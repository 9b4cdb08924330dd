// Recording a patrol, a visit or a problem (case) offline: GPS position and accuracy (or typed
// in when there is none), notes, answers and photos (kept as Blobs in IndexedDB). The record
// waits in the local queue until it is sent.
import { useEffect, useState } from "preact/hooks";
import { lang, registerStrings, t } from "../common/i18n";
import { type CaseCategory, type Location, type Place, type QueuedRecord, type RecordKind, db, getMeta, sha256Hex, uuid4 } from "./db";

registerStrings(
  {
    "rec.title.new": "新记录",
    "rec.title.fix": "修改记录",
    "rec.kind": "类型",
    "kind.patrol": "巡查",
    "kind.household_visit": "入户走访",
    "kind.sme_visit": "企业走访",
    "kind.place_check": "场所检查",
    "kind.case": "问题上报",
    "kind.task_update": "任务进度",
    "rec.place": "地点",
    "rec.place.none": "（无，用位置）",
    "rec.gps": "获取 GPS 位置",
    "rec.gps.wait": "正在定位…",
    "rec.gps.none": "无法定位：{reason}。请手动填写经纬度。",
    "rec.gps.got": "已定位，精度 {acc} 米",
    "rec.lon": "经度",
    "rec.lat": "纬度",
    "rec.acc": "精度（米）",
    "rec.notes": "备注",
    "rec.checks": "检查项",
    "rec.case.title": "问题标题",
    "rec.case.details": "问题描述",
    "rec.priority": "优先级",
    "rec.category": "事件类别",
    "rec.category.pick": "未选择（归入“其他”）",
    "prio.low": "低",
    "prio.normal": "普通",
    "prio.high": "高",
    "prio.urgent": "紧急",
    "rec.q.normal": "情况正常",
    "rec.q.home": "住户在家",
    "rec.photos": "照片",
    "rec.photo.alt": "照片 {n}",
    "rec.photo.remove": "删除照片 {n}",
    "rec.save": "保存到待发送",
    "rec.saved": "已保存，等待上传（共 {n} 条待发送）",
    "rec.need.title": "请填写问题标题",
    "rec.need.where": "请选择地点或填写位置",
    "rec.bad.loc": "经纬度不正确",
    "rec.cancel": "取消",
  },
  {
    "rec.title.new": "New record",
    "rec.title.fix": "Fix the record",
    "rec.kind": "Kind",
    "kind.patrol": "Patrol",
    "kind.household_visit": "Household visit",
    "kind.sme_visit": "Business visit",
    "kind.place_check": "Place check",
    "kind.case": "Report a problem",
    "kind.task_update": "Task step",
    "rec.place": "Place",
    "rec.place.none": "(none, use the position)",
    "rec.gps": "Get GPS position",
    "rec.gps.wait": "Locating…",
    "rec.gps.none": "No position: {reason}. Type the longitude and latitude.",
    "rec.gps.got": "Located, accuracy {acc} m",
    "rec.lon": "Longitude",
    "rec.lat": "Latitude",
    "rec.acc": "Accuracy (m)",
    "rec.notes": "Notes",
    "rec.checks": "Checks",
    "rec.case.title": "Problem title",
    "rec.case.details": "Description",
    "rec.priority": "Priority",
    "rec.category": "Category",
    "rec.category.pick": "Not chosen (filed under “other”)",
    "prio.low": "Low",
    "prio.normal": "Normal",
    "prio.high": "High",
    "prio.urgent": "Urgent",
    "rec.q.normal": "All in order",
    "rec.q.home": "Someone at home",
    "rec.photos": "Photos",
    "rec.photo.alt": "Photo {n}",
    "rec.photo.remove": "Remove photo {n}",
    "rec.save": "Save to the outbox",
    "rec.saved": "Saved, waiting to upload ({n} waiting)",
    "rec.need.title": "Give the problem a title",
    "rec.need.where": "Choose a place or give a position",
    "rec.bad.loc": "The longitude or latitude is not valid",
    "rec.cancel": "Cancel",
  },
);

export const KINDS: RecordKind[] = ["patrol", "household_visit", "sme_visit", "place_check", "case"];
const PRIORITIES = ["low", "normal", "high", "urgent"];
const MAX_SIDE = 1600;

/** A photo as the server takes it: JPEG or PNG, at most 1600 px on a side (re-encoded if not). */
export async function preparePhoto(file: File): Promise<Blob> {
  const ok = file.type === "image/jpeg" || file.type === "image/png";
  if (ok && file.size < 1_500_000) return file;
  try {
    const bmp = await createImageBitmap(file);
    const scale = Math.min(1, MAX_SIDE / Math.max(bmp.width, bmp.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bmp.width * scale);
    canvas.height = Math.round(bmp.height * scale);
    canvas.getContext("2d")!.drawImage(bmp, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise<Blob | null>((res) => canvas.toBlob(res, "image/jpeg", 0.85));
    return blob ?? file;
  } catch {
    return file;
  }
}

interface PhotoDraft {
  uuid: string;
  blob: Blob;
  url: string;
}

export function RecordForm(props: {
  places: Place[];
  placeId?: number | null;
  kind?: RecordKind;
  existing?: QueuedRecord;
  onDone: (saved: boolean) => void;
}) {
  const ex = props.existing;
  const [kind, setKind] = useState<RecordKind>((ex?.kind as RecordKind) ?? props.kind ?? "household_visit");
  const [placeId, setPlaceId] = useState<string>(String(ex?.place_id ?? props.placeId ?? ""));
  const [lon, setLon] = useState(ex?.location ? String(ex.location.lon) : "");
  const [lat, setLat] = useState(ex?.location ? String(ex.location.lat) : "");
  const [acc, setAcc] = useState(ex?.location?.accuracy_m != null ? String(ex.location.accuracy_m) : "");
  const [gps, setGps] = useState("");
  const [notes, setNotes] = useState(ex?.notes ?? "");
  const [title, setTitle] = useState(ex?.title ?? "");
  const [priority, setPriority] = useState(ex?.priority ?? "normal");
  const [category, setCategory] = useState(ex?.category ?? "");
  const [categories, setCategories] = useState<CaseCategory[]>([]);
  const [normal, setNormal] = useState(ex ? ex.answers.normal !== "no" : true);
  const [home, setHome] = useState(ex ? ex.answers.home === "yes" : false);
  const [photos, setPhotos] = useState<PhotoDraft[]>([]);
  const [error, setError] = useState("");
  const [startedAt] = useState(ex?.started_at ?? new Date().toISOString());

  useEffect(() => {
    void getMeta<CaseCategory[]>("case_categories")
      .then((c) => setCategories(c ?? []))
      .catch(() => undefined);
  }, []);

  useEffect(() => {
    if (!ex) return;
    void (async () => {
      const d = await db();
      const rows: PhotoDraft[] = [];
      for (const id of ex.photos) {
        const p = await d.get("photos", id);
        if (p) rows.push({ uuid: id, blob: p.blob, url: URL.createObjectURL(p.blob) });
      }
      setPhotos(rows);
    })();
  }, [ex?.uuid]);

  function locate() {
    if (!("geolocation" in navigator)) {
      setGps(t("rec.gps.none", { reason: "—" }));
      return;
    }
    setGps(t("rec.gps.wait"));
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        setLon(pos.coords.longitude.toFixed(6));
        setLat(pos.coords.latitude.toFixed(6));
        setAcc(String(Math.round(pos.coords.accuracy * 10) / 10));
        setGps(t("rec.gps.got", { acc: Math.round(pos.coords.accuracy) }));
      },
      (err) => setGps(t("rec.gps.none", { reason: err.message || String(err.code) })),
      { enableHighAccuracy: true, timeout: 20000, maximumAge: 30000 },
    );
  }

  async function addPhotos(files: FileList | null) {
    if (!files) return;
    const added: PhotoDraft[] = [];
    for (const f of Array.from(files)) {
      const blob = await preparePhoto(f);
      added.push({ uuid: uuid4(), blob, url: URL.createObjectURL(blob) });
    }
    setPhotos((p) => [...p, ...added].slice(0, 20));
  }

  async function save(e: Event) {
    e.preventDefault();
    setError("");
    let location: Location | null = null;
    if (lon.trim() || lat.trim()) {
      const x = Number(lon);
      const y = Number(lat);
      const a = acc.trim() ? Number(acc) : null;
      if (!Number.isFinite(x) || !Number.isFinite(y) || Math.abs(x) > 180 || Math.abs(y) > 90 || (a !== null && !(a >= 0))) {
        setError(t("rec.bad.loc"));
        return;
      }
      location = { lon: x, lat: y, accuracy_m: a };
    }
    const place = placeId ? Number(placeId) : null;
    if (kind === "case" && !title.trim()) {
      setError(t("rec.need.title"));
      return;
    }
    if (kind === "case" && place === null && location === null) {
      setError(t("rec.need.where"));
      return;
    }
    const d = await db();
    for (const p of photos) {
      const old = await d.get("photos", p.uuid);
      if (!old) {
        const type = p.blob.type === "image/png" ? "image/png" : "image/jpeg";
        await d.put("photos", { uuid: p.uuid, blob: p.blob, type, sha256: await sha256Hex(p.blob), uploaded: false });
      }
    }
    if (ex) {
      for (const id of ex.photos) if (!photos.some((p) => p.uuid === id)) await d.delete("photos", id);
    }
    const answers: Record<string, string> = { normal: normal ? "yes" : "no" };
    if (kind === "household_visit") answers.home = home ? "yes" : "no";
    // a conflicting record (its uuid already holds other content) goes again as a new record
    const fresh = !ex || ex.status === "conflict";
    const rec: QueuedRecord = {
      uuid: fresh ? uuid4() : ex.uuid,
      kind,
      made_at: ex?.made_at ?? new Date().toISOString(),
      started_at: startedAt,
      ended_at: ex?.ended_at ?? new Date().toISOString(),
      place_id: place,
      location,
      notes,
      answers: kind === "case" ? {} : answers,
      photos: photos.map((p) => p.uuid),
      title: kind === "case" ? title.trim() : undefined,
      priority: kind === "case" ? priority : undefined,
      category: kind === "case" && category ? category : undefined,
      status: "pending",
    };
    if (ex && fresh) await d.delete("queue", ex.uuid);
    await d.put("queue", rec);
    props.onDone(true);
  }

  const isCase = kind === "case";
  return (
    <form class="record" onSubmit={save} aria-labelledby="rec-h">
      <h2 id="rec-h">{t(ex ? "rec.title.fix" : "rec.title.new")}</h2>
      <label>
        {t("rec.kind")}
        <select value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value as RecordKind)}>
          {KINDS.map((k) => (
            <option value={k} key={k}>
              {t(`kind.${k}`)}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t("rec.place")}
        <select value={placeId} onChange={(e) => setPlaceId((e.target as HTMLSelectElement).value)}>
          <option value="">{t("rec.place.none")}</option>
          {props.places.map((p) => (
            <option value={String(p.id)} key={p.id}>
              {p.name || p.external_id || `#${p.id}`}
            </option>
          ))}
        </select>
      </label>
      {isCase && (
        <>
          <label>
            {t("rec.case.title")}
            <input value={title} maxLength={200} onInput={(e) => setTitle((e.target as HTMLInputElement).value)} />
          </label>
          <label>
            {t("rec.category")}
            <select value={category} onChange={(e) => setCategory((e.target as HTMLSelectElement).value)}>
              <option value="">{t("rec.category.pick")}</option>
              {categories.map((c) => (
                <option value={c.code} key={c.code}>
                  {lang() === "en" && c.name_en ? c.name_en : c.name}
                </option>
              ))}
              {category && !categories.some((c) => c.code === category) && <option value={category}>{category}</option>}
            </select>
          </label>
          <label>
            {t("rec.priority")}
            <select value={priority} onChange={(e) => setPriority((e.target as HTMLSelectElement).value)}>
              {PRIORITIES.map((p) => (
                <option value={p} key={p}>
                  {t(`prio.${p}`)}
                </option>
              ))}
            </select>
          </label>
        </>
      )}
      <fieldset>
        <legend>GPS</legend>
        <button type="button" class="big" onClick={locate}>
          {t("rec.gps")}
        </button>
        <p aria-live="polite" class="hint">
          {gps}
        </p>
        <div class="row3">
          <label>
            {t("rec.lon")}
            <input inputMode="decimal" value={lon} onInput={(e) => setLon((e.target as HTMLInputElement).value)} />
          </label>
          <label>
            {t("rec.lat")}
            <input inputMode="decimal" value={lat} onInput={(e) => setLat((e.target as HTMLInputElement).value)} />
          </label>
          <label>
            {t("rec.acc")}
            <input inputMode="decimal" value={acc} onInput={(e) => setAcc((e.target as HTMLInputElement).value)} />
          </label>
        </div>
      </fieldset>
      {!isCase && (
        <fieldset>
          <legend>{t("rec.checks")}</legend>
          <label class="check">
            <input type="checkbox" checked={normal} onChange={(e) => setNormal((e.target as HTMLInputElement).checked)} />
            {t("rec.q.normal")}
          </label>
          {kind === "household_visit" && (
            <label class="check">
              <input type="checkbox" checked={home} onChange={(e) => setHome((e.target as HTMLInputElement).checked)} />
              {t("rec.q.home")}
            </label>
          )}
        </fieldset>
      )}
      <label>
        {t(isCase ? "rec.case.details" : "rec.notes")}
        <textarea rows={3} maxLength={5000} value={notes} onInput={(e) => setNotes((e.target as HTMLTextAreaElement).value)} />
      </label>
      <label>
        {t("rec.photos")}
        <input
          type="file"
          accept="image/jpeg,image/png,image/*"
          capture="environment"
          multiple
          onChange={(e) => {
            const input = e.target as HTMLInputElement;
            void addPhotos(input.files).then(() => (input.value = ""));
          }}
        />
      </label>
      {photos.length > 0 && (
        <ul class="thumbs">
          {photos.map((p, i) => (
            <li key={p.uuid}>
              <img src={p.url} alt={t("rec.photo.alt", { n: i + 1 })} />
              <button type="button" onClick={() => setPhotos(photos.filter((x) => x.uuid !== p.uuid))}>
                {t("rec.photo.remove", { n: i + 1 })}
              </button>
            </li>
          ))}
        </ul>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="actions">
        <button type="submit" class="big primary">
          {t("rec.save")}
        </button>
        <button type="button" class="big" onClick={() => props.onDone(false)}>
          {t("rec.cancel")}
        </button>
      </div>
    </form>
  );
}
