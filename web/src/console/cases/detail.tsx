// One case: its fields (the reporter masked unless the service shows them), its history
// (GET /tasks/{id}/history) as a timeline with who, when and the levels, the history's places on
// a small map, and the steps the user's role may take (POST /tasks/{id}/{step} with the version
// read), each with a form for its fields and the envelope's message on refusal.
import { useEffect, useRef, useState } from "preact/hooks";
import { get, post } from "../../common/api";
import type { MapHandle } from "../../common/map";
import { t } from "../../common/i18n";
import { ErrorMessage, useAsync } from "../../common/ui";
import { MapView } from "../map/MapView";
import { photoUrl } from "./photo";
import { current } from "../session";
import { fieldErrors } from "../visits/util";
import {
  type Case,
  type CaseEvent,
  isOverdue,
  isoOf,
  stepsFor,
  tl,
  useCase,
  useCategories,
  useDepartments,
  when,
} from "./util";

// The note each step requires, and the label it goes by.
const NOTE_LABEL: Record<string, string> = {
  settle: "cases.result",
  escalate: "cases.reason",
  return: "cases.reason",
  reopen: "cases.reason",
  cancel: "cases.reason",
  pause: "cases.reason",
};

function StepForm({
  c,
  step,
  onDone,
  onClose,
}: {
  c: Case;
  step: string;
  onDone: (updated: Case) => void;
  onClose: () => void;
}) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const categories = useCategories();
  const departments = useDepartments();
  async function submit(e: Event) {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    const body: Record<string, unknown> = { version: c.version };
    const note = String(f.get("note") ?? "").trim();
    if (note) body.note = note;
    if (f.get("department")) body.department = String(f.get("department"));
    if (f.get("due_at")) body.due_at = isoOf(String(f.get("due_at")));
    if (f.get("category")) body.category = String(f.get("category"));
    setBusy(true);
    setError(null);
    try {
      onDone(await post<Case>(`/tasks/${c.id}/${step}`, body));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  const noteLabel = NOTE_LABEL[step];
  return (
    <form class="step-form card" onSubmit={submit} aria-label={tl(`cases.step.${step}`)} data-step={step}>
      <h3>{tl(`cases.step.${step}`)}</h3>
      {step === "dispatch" && (
        <label>
          {t("cases.department")}
          <select name="department" required>
            <option value="" />
            {(departments.data ?? []).map((d) => (
              <option value={d.code}>{d.name}</option>
            ))}
          </select>
        </label>
      )}
      {step === "recategorise" && (
        <label>
          {t("cases.category")}
          <select name="category" required>
            <option value="" />
            {(categories.data ?? [])
              .filter((x) => x.active && x.code !== c.category)
              .map((x) => (
                <option value={x.code}>{categories.name(x.code)}</option>
              ))}
          </select>
        </label>
      )}
      {(step === "dispatch" || step === "supervise") && (
        <label>
          {t("cases.due_at")}
          <input type="datetime-local" name="due_at" required />
        </label>
      )}
      <label>
        {noteLabel ? t(noteLabel) : t("cases.note")}
        <textarea name="note" rows={3} maxLength={2000} required={!!noteLabel} />
      </label>
      <ErrorMessage error={error ?? departments.error ?? categories.error} />
      {fieldErrors(error).length > 0 && (
        <ul class="error">
          {fieldErrors(error).map(([k, m]) => (
            <li>
              {k}: {m}
            </li>
          ))}
        </ul>
      )}
      <div class="actions">
        <button type="submit" disabled={busy}>
          {t("cases.submit")}
        </button>
        <button type="button" onClick={onClose}>
          {t("cases.cancel_form")}
        </button>
      </div>
    </form>
  );
}

/** One photo of a step, fetched with the session's token. */
function Photo({ id }: { id: string }) {
  const [src, setSrc] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let made: string | null = null;
    let gone = false;
    photoUrl(id)
      .then((u) => {
        if (gone) URL.revokeObjectURL(u);
        else setSrc((made = u));
      })
      .catch(setError);
    return () => {
      gone = true;
      if (made) URL.revokeObjectURL(made);
    };
  }, [id]);
  if (error) return <ErrorMessage error={error} />;
  return src ? <img class="step-photo" src={src} alt={t("cases.photo")} /> : null;
}

function Timeline({ events, departments }: { events: CaseEvent[]; departments: ReturnType<typeof useDepartments> }) {
  const me = current()?.id;
  if (!events.length) return <p>{t("cases.history.none")}</p>;
  return (
    <ol class="timeline" data-testid="case-history">
      {events.map((h) => (
        <li data-testid="history-event" data-action={h.action}>
          <time dateTime={h.at}>{when(h.at)}</time>{" "}
          <strong>{tl(`cases.step.${h.action}`)}</strong>{" "}
          <span>
            {h.actor_id == null
              ? t("cases.by_scheduler")
              : h.actor_id === me
                ? t("cases.by_you")
                : t("cases.by", { name: h.actor_name ?? `#${h.actor_id}` })}
          </span>
          {(h.from_level || h.to_level) && h.from_level !== h.to_level && (
            <span class="levels">
              {" "}
              {h.from_level ? tl(`cases.level.${h.from_level}`) : "—"} → {h.to_level ? tl(`cases.level.${h.to_level}`) : "—"}
            </span>
          )}
          {h.from_status !== h.to_status && h.to_status && (
            <span class="levels">
              {" "}
              ({h.from_status ? tl(`cases.status.${h.from_status}`) : "—"} → {tl(`cases.status.${h.to_status}`)})
            </span>
          )}
          {h.department_id != null && (
            <span>
              {" "}
              · {t("cases.department")}: {departments.name(h.department_id)}
            </span>
          )}
          {h.attachments?.length ? <span> · {t("cases.photos", { n: h.attachments.length })}</span> : null}
          {h.location && (
            <span class="coords">
              {" "}
              · {h.location.lon.toFixed(5)}, {h.location.lat.toFixed(5)}
            </span>
          )}
          {h.note && <p class="note">{h.note}</p>}
          {h.attachments?.length ? (
            <div class="photos">
              {h.attachments.map((a) => (
                <Photo id={a} />
              ))}
            </div>
          ) : null}
        </li>
      ))}
    </ol>
  );
}

/** The case's point and the places its steps were taken, on a small map. */
function HistoryMap({ c, events }: { c: Case; events: CaseEvent[] }) {
  const [handle, setHandle] = useState<MapHandle | null>(null);
  const [drawn, setDrawn] = useState(-1);
  const layer = useRef<any>(null);
  useEffect(() => {
    if (!handle) return;
    const { L, map } = handle;
    layer.current?.remove();
    const group = L.featureGroup().addTo(map);
    layer.current = group;
    const points: [number, number][] = [];
    if (c.location) {
      L.circleMarker([c.location.lat, c.location.lon], {
        radius: 8, color: "#7a1410", weight: 2, fillColor: "#e5484d", fillOpacity: 0.8,
      })
        .bindTooltip(c.title)
        .addTo(group);
      points.push([c.location.lat, c.location.lon]);
    }
    for (const h of events) {
      if (!h.location) continue;
      L.circleMarker([h.location.lat, h.location.lon], {
        radius: 6, color: "#0b3d73", weight: 1, fillColor: "#3b82f6", fillOpacity: 0.8,
      })
        .bindTooltip(`${when(h.at)} ${tl(`cases.step.${h.action}`)}`)
        .addTo(group);
      points.push([h.location.lat, h.location.lon]);
    }
    if (points.length) map.fitBounds(L.latLngBounds(points).pad(0.5), { maxZoom: 17 });
    setDrawn(points.length);
  }, [handle, c, events]);
  return (
    <div class="case-map" data-testid="case-map" data-ready={drawn >= 0 ? "1" : "0"} data-points={drawn}>
      <MapView label={t("cases.history_map")} class="map small" onReady={setHandle} />
    </div>
  );
}

export function CaseFacts({ c }: { c: Case }) {
  const categories = useCategories();
  const departments = useDepartments();
  const late = isOverdue(c);
  const r = c.reporter;
  return (
    <dl class="facts" data-testid="case-facts">
      <dt>{t("cases.category")}</dt>
      <dd>{categories.name(c.category)}</dd>
      <dt>{t("cases.level")}</dt>
      <dd data-testid="case-level">{c.level ? tl(`cases.level.${c.level}`) : "—"}</dd>
      <dt>{t("cases.status")}</dt>
      <dd data-testid="case-status">
        {tl(`cases.status.${c.status}`)}
        {c.paused && <span class="badge paused">{t("cases.paused")}</span>}
        {c.supervised_at && <span class="badge supervised">{t("cases.supervised")}</span>}
      </dd>
      <dt>{t("cases.level_due")}</dt>
      <dd>
        {when(c.level_due_at)}
        {late && <strong class="badge late">{t("cases.overdue_by")}</strong>}
      </dd>
      <dt>{t("cases.level_started")}</dt>
      <dd>{when(c.level_started_at)}</dd>
      {c.paused && (
        <>
          <dt>{t("cases.pause_reason")}</dt>
          <dd>{c.pause_reason || "—"}</dd>
        </>
      )}
      {c.supervised_at && (
        <>
          <dt>{t("cases.supervision_due")}</dt>
          <dd>{when(c.supervision_due_at)}</dd>
        </>
      )}
      {c.department_id != null && (
        <>
          <dt>{t("cases.department")}</dt>
          <dd>{departments.name(c.department_id)}</dd>
          <dt>{t("cases.dispatch_due")}</dt>
          <dd>{when(c.dispatch_due_at)}</dd>
        </>
      )}
      <dt>{t("cases.escalations")}</dt>
      <dd>{c.escalations ?? 0}</dd>
      <dt>{t("cases.source")}</dt>
      <dd>{tl(`cases.source.${c.source}`)}</dd>
      <dt>{t("cases.cell")}</dt>
      <dd>{c.cell_code ?? "—"}</dd>
      <dt>{t("cases.created")}</dt>
      <dd>{when(c.created_at)}</dd>
      <dt>{t("cases.needs_verification")}</dt>
      <dd>{c.needs_verification ? t("cases.yes") : t("cases.no")}</dd>
      <dt>{t("cases.reporter")}</dt>
      <dd data-testid="case-reporter">
        {r ? (
          <>
            {r.name ?? "—"} {r.phone ?? ""} {r.masked ? t("cases.reporter.masked") : ""}
            {r.consent ? ` · ${t("cases.reporter.consent")}` : ""}
          </>
        ) : (
          "—"
        )}
      </dd>
      {c.rating != null && (
        <>
          <dt>{t("cases.rating")}</dt>
          <dd>{tl(`cases.rating.${c.rating}`)}</dd>
        </>
      )}
      {c.location && (
        <>
          <dt>{t("cases.location")}</dt>
          <dd>
            {c.location.lon.toFixed(5)}, {c.location.lat.toFixed(5)}
          </dd>
        </>
      )}
      <dt>{t("cases.details")}</dt>
      <dd>{c.details || "—"}</dd>
    </dl>
  );
}

export function CaseDetail({ id }: { id: number }) {
  const found = useCase(id);
  const history = useAsync(() => get<CaseEvent[]>(`/tasks/${id}/history`), [id]);
  const departments = useDepartments();
  const [open, setOpen] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const c = found.data;
  const steps = c ? stepsFor(c) : [];
  return (
    <>
      <p>
        <a href="#/cases">{t("cases.back")}</a>
      </p>
      <h1>{c ? c.title : t("cases.title")}</h1>
      <ErrorMessage error={found.error} />
      {found.loading && !c && <p aria-live="polite">{t("ui.loading")}</p>}
      {c && (
        <div class="case-detail">
          <div>
            <CaseFacts c={c} />
            <section aria-labelledby="steps-h">
              <h2 id="steps-h">{t("cases.steps")}</h2>
              <p role="status" class="done">
                {done ? t("cases.done", { step: tl(`cases.step.${done}`) }) : ""}
              </p>
              {c.status === "settled" && c.needs_verification && <p>{t("cases.verify.hint")}</p>}
              <div class="actions">
                {steps.map((s) =>
                  s === "verify" ? (
                    <a class="button" href={`#/cases/${c.id}/verify`}>
                      {tl("cases.step.verify")}
                    </a>
                  ) : (
                    <button
                      type="button"
                      aria-expanded={open === s}
                      onClick={() => {
                        setOpen(open === s ? null : s);
                        setDone(null);
                      }}
                    >
                      {tl(`cases.step.${s}`)}
                    </button>
                  ),
                )}
              </div>
              {open && steps.includes(open) && (
                <StepForm
                  key={`${open}:${c.version}`}
                  c={c}
                  step={open}
                  onClose={() => setOpen(null)}
                  onDone={() => {
                    // Read the case again as the list and detail show it (reporter as shown to
                    // this reader), and its history with the new step.
                    void found.reload();
                    setDone(open);
                    setOpen(null);
                    void history.reload();
                  }}
                />
              )}
            </section>
          </div>
          <div>
            <h2>{t("cases.history")}</h2>
            <ErrorMessage error={history.error} />
            {history.data && <Timeline events={history.data} departments={departments} />}
            {history.data && <HistoryMap c={c} events={history.data} />}
          </div>
        </div>
      )}
    </>
  );
}
