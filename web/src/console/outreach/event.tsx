// One outreach event: details and conflicts, readiness (who must act), the rosters (phones
// masked), the site plan (the lead files it, the coordinator approves or returns it), the
// life-cycle buttons the coordinator may press, and the reports.
import { useState } from "preact/hooks";
import { ApiError, get, post } from "../../common/api";
import { t } from "../../common/i18n";
import { ErrorMessage, useAsync } from "../../common/ui";
import { current, hasRole } from "../session";
import { type EventDetail, maskPhone, span, tl, when } from "./util";

interface Readiness {
  ready: boolean;
  items: { rule: string; institution: string | null; who: string | null; message: string }[];
}
interface Team {
  institution: string;
  institution_name: string;
  participant: boolean;
  filed: boolean;
  boards: number | null;
  boards_required: number | null;
  members: { name: string; duty: string; phone: string }[];
  size: number;
  min_team: number | null;
  problems: (string | { message?: string; code?: string })[];
}
interface Plan {
  lead: string | null;
  text: string;
  status: string;
  late: boolean;
  due_on: string | null;
  submitted_at: string;
  note: string | null;
  version: number;
}
interface Report {
  institution: string;
  participants: number;
  materials: number;
  consultations: number;
  summary: string;
  late: boolean;
  submitted_at: string;
}

/** The signed-in contact's institution code (null for the offices). */
function useMyInstitution(): string | null {
  const me = current() as unknown as { scope?: { institution_id?: number | null } } | null;
  const id = me?.scope?.institution_id ?? null;
  const { data } = useAsync(() => (id ? get<{ code: string }>(`/institutions/${id}`) : Promise.resolve(null)), [id]);
  return data?.code ?? null;
}

function useAction(after: () => void) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState("");
  async function run(f: () => Promise<unknown>) {
    setBusy(true);
    setError(null);
    setDone("");
    try {
      await f();
      setDone(t("or.done"));
      after();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }
  return { error, busy, done, run };
}

function Lifecycle({ ev, after }: { ev: EventDetail; after: () => void }) {
  const [reason, setReason] = useState("");
  const { error, busy, done, run } = useAction(after);
  const step = (name: string) => run(() => post(`/outreach/events/${ev.id}/${name}`, { version: ev.version }));
  const cancellable = ["draft", "planned", "approved", "held"].includes(ev.status);
  return (
    <section aria-labelledby="or-life-h" class="card">
      <h2 id="or-life-h">{t("or.lifecycle")}</h2>
      <div class="actions">
        {ev.status === "draft" && (
          <button type="button" class="primary" disabled={busy} onClick={() => step("publish")}>
            {t("or.publish")}
          </button>
        )}
        {ev.status === "planned" && (
          <button type="button" class="primary" disabled={busy} onClick={() => step("approve")}>
            {t("or.approve")}
          </button>
        )}
        {ev.status === "held" && (
          <button type="button" disabled={busy} onClick={() => step("close")}>
            {t("or.close")}
          </button>
        )}
      </div>
      {cancellable && (
        <form
          class="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            run(() => post(`/outreach/events/${ev.id}/cancel`, { version: ev.version, reason }));
          }}
        >
          <label for="or-cancel-reason">{t("or.cancel_reason")}</label>
          <input id="or-cancel-reason" required value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
          <button type="submit" disabled={busy || !reason.trim()}>
            {t("or.cancel")}
          </button>
        </form>
      )}
      <ErrorMessage error={error} />
      <p aria-live="polite">{done}</p>
    </section>
  );
}

function PlanSection({ ev, mine, after }: { ev: EventDetail; mine: string | null; after: () => void }) {
  const plan = useAsync(
    () =>
      get<Plan>(`/outreach/events/${ev.id}/plan`).catch((e) => {
        if (e instanceof ApiError && e.code === "plan_not_found") return null;
        throw e;
      }),
    [ev.id, ev.version],
  );
  const act = useAction(() => {
    plan.reload();
    after();
  });
  const [note, setNote] = useState("");
  const [text, setText] = useState<string | null>(null);
  const coordinator = hasRole("coordinator");
  const p = plan.data;
  const canFile = ev.lead && (coordinator || (mine && mine === ev.lead)) && (!p || p.status !== "approved");
  if (ev.kind !== "site" && !ev.lead) return null;
  const body = text ?? p?.text ?? "";
  return (
    <section aria-labelledby="or-plan-h" class="card">
      <h2 id="or-plan-h">{t("or.plan")}</h2>
      <ErrorMessage error={plan.error} />
      {plan.loading && <p aria-live="polite">{t("ui.loading")}</p>}
      {plan.data === null && <p>{t("or.plan.none")}</p>}
      {p && (
        <>
          <p data-testid="plan-status">
            {t("or.plan.status", { status: tl(`or.plan.status.${p.status}`) })}
            {p.late ? t("or.plan.late") : ""} · {when(p.submitted_at)}
          </p>
          {p.note && <p class="warn">{t("or.plan.note", { note: p.note })}</p>}
          <blockquote>{p.text}</blockquote>
        </>
      )}
      {coordinator && p?.status === "submitted" && (
        <div class="inline-form">
          <label for="or-plan-note">{t("or.plan.return_note")}</label>
          <input id="or-plan-note" value={note} onInput={(e) => setNote((e.target as HTMLInputElement).value)} />
          <div class="actions">
            <button
              type="button"
              class="primary"
              disabled={act.busy}
              onClick={() => act.run(() => post(`/outreach/events/${ev.id}/plan/approve`, { version: p.version, ...(note ? { note } : {}) }))}
            >
              {t("or.plan.approve")}
            </button>
            <button
              type="button"
              disabled={act.busy || !note.trim()}
              onClick={() => act.run(() => post(`/outreach/events/${ev.id}/plan/return`, { version: p.version, note }))}
            >
              {t("or.plan.return")}
            </button>
          </div>
        </div>
      )}
      {canFile && (
        <form
          class="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            act.run(() => post(`/outreach/events/${ev.id}/plan`, { text: body, attachments: [], version: p?.version ?? 0 }));
          }}
        >
          <label for="or-plan-text">{t("or.plan.text")}</label>
          <textarea id="or-plan-text" rows={4} required value={body} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
          <button type="submit" disabled={act.busy || !body.trim()}>
            {t("or.plan.file")}
          </button>
        </form>
      )}
      <ErrorMessage error={act.error} />
      <p aria-live="polite">{act.done}</p>
    </section>
  );
}

function problemText(p: string | { message?: string; code?: string }): string {
  return typeof p === "string" ? tl(`or.rule.${p}`) : p.message ?? (p.code ? tl(`or.rule.${p.code}`) : JSON.stringify(p));
}

function Rosters({ id, version }: { id: number; version: number }) {
  const { data, error, loading } = useAsync(() => get<Team[]>(`/outreach/events/${id}/teams`), [id, version]);
  return (
    <section aria-labelledby="or-teams-h">
      <h2 id="or-teams-h">{t("or.rosters")}</h2>
      <ErrorMessage error={error} />
      {loading && <p aria-live="polite">{t("ui.loading")}</p>}
      {data && (
        <table data-testid="rosters">
          <thead>
            <tr>
              <th scope="col">{t("or.institutions")}</th>
              <th scope="col">{t("or.team_size")}</th>
              <th scope="col">{t("or.boards")}</th>
              <th scope="col">{t("or.members")}</th>
            </tr>
          </thead>
          <tbody>
            {data.map((team) => (
              <tr>
                <th scope="row">
                  {team.institution_name} <small>{team.institution}</small>
                  <br />
                  <small>{team.filed ? t("or.filed") : t("or.not_filed")}</small>
                  {team.problems.map((p) => (
                    <p class="warn">{problemText(p)}</p>
                  ))}
                </th>
                <td>
                  {team.size}
                  {team.min_team ? ` / ${team.min_team}` : ""}
                </td>
                <td>
                  {team.boards ?? 0}
                  {team.boards_required ? ` / ${team.boards_required}` : ""}
                </td>
                <td>
                  <ul class="members">
                    {team.members.map((m) => (
                      <li>
                        {m.name}（{m.duty}）<span class="phone">{maskPhone(m.phone)}</span>
                      </li>
                    ))}
                  </ul>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function ReadinessSection({ id, version }: { id: number; version: number }) {
  const { data, error, loading } = useAsync(() => get<Readiness>(`/outreach/events/${id}/readiness`), [id, version]);
  return (
    <section aria-labelledby="or-ready-h" data-testid="readiness">
      <h2 id="or-ready-h">{t("or.readiness")}</h2>
      <ErrorMessage error={error} />
      {loading && <p aria-live="polite">{t("ui.loading")}</p>}
      {data && (
        <>
          <p class={data.ready ? "ok" : "warn"}>{data.ready ? t("or.ready") : t("or.not_ready", { n: data.items.length })}</p>
          {data.items.length > 0 && (
            <table>
              <thead>
                <tr>
                  <th scope="col">{t("or.who")}</th>
                  <th scope="col">{t("or.rule")}</th>
                  <th scope="col">{t("or.message")}</th>
                </tr>
              </thead>
              <tbody>
                {data.items.map((it) => (
                  <tr>
                    <td>
                      <strong>{it.who ?? it.institution ?? "—"}</strong>
                    </td>
                    <td>{tl(`or.rule.${it.rule}`)}</td>
                    <td>{it.message}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}

function Reports({ id, version }: { id: number; version: number }) {
  const { data, error } = useAsync(() => get<Report[]>(`/outreach/events/${id}/reports`), [id, version]);
  return (
    <section aria-labelledby="or-reports-h">
      <h2 id="or-reports-h">{t("or.report_list")}</h2>
      <ErrorMessage error={error} />
      {data && !data.length && <p>{t("or.reports.none")}</p>}
      {data && data.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">{t("or.institutions")}</th>
              <th scope="col">{t("or.participants")}</th>
              <th scope="col">{t("or.materials")}</th>
              <th scope="col">{t("or.consultations")}</th>
              <th scope="col">{t("or.message")}</th>
            </tr>
          </thead>
          <tbody>
            {data.map((r) => (
              <tr>
                <td>
                  {r.institution}
                  {r.late ? ` · ${t("or.late_reports")}` : ""}
                </td>
                <td>{r.participants}</td>
                <td>{r.materials}</td>
                <td>{r.consultations}</td>
                <td>{r.summary}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function EventPage({ id }: { id: number }) {
  const { data: ev, error, loading, reload } = useAsync(() => get<EventDetail>(`/outreach/events/${id}`), [id]);
  const mine = useMyInstitution();
  return (
    <div class="or-event">
      <p>
        {ev ? <a href={`#/outreach/programme/${ev.programme_id}`}>{t("or.back")}</a> : <a href="#/outreach">{t("or.back")}</a>}
      </p>
      <h1>{ev ? ev.title : t("or.event")}</h1>
      <ErrorMessage error={error} />
      {loading && <p aria-live="polite">{t("ui.loading")}</p>}
      {ev && (
        <>
          <dl class="facts">
            <dt>{t("or.status")}</dt>
            <dd data-testid="event-status">{tl(`or.status.${ev.status}`)}</dd>
            <dt>{t("or.kind")}</dt>
            <dd>{tl(`or.kind.${ev.kind}`)}</dd>
            <dt>{t("or.when")}</dt>
            <dd>{span(ev.starts_at, ev.ends_at)}</dd>
            <dt>{t("or.where")}</dt>
            <dd>
              {ev.address ?? "—"}（{ev.venue_confirmed ? t("or.venue_confirmed") : t("or.venue_unconfirmed")}）
            </dd>
            <dt>{t("or.host")}</dt>
            <dd>{ev.host ?? "—"}</dd>
            <dt>{t("or.lead")}</dt>
            <dd>{ev.lead ?? "—"}</dd>
            <dt>{t("or.co_organisers")}</dt>
            <dd>{ev.co_organisers.join("、") || "—"}</dd>
            {ev.booth && (
              <>
                <dt>{t("or.boards")}</dt>
                <dd>
                  {t("or.booth", { boards: ev.booth.boards, mm: ev.booth.board_mm.join("×") + "mm", team: ev.booth.min_team })}
                </dd>
              </>
            )}
            {ev.invited && (
              <>
                <dt>{t("or.invited")}</dt>
                <dd>{ev.invited}</dd>
              </>
            )}
          </dl>
          {ev.cancel_reason && <p class="warn">{t("or.cancelled_because", { reason: ev.cancel_reason })}</p>}
          {ev.warnings.length > 0 && (
            <section aria-labelledby="or-warn-h">
              <h2 id="or-warn-h">{t("or.warnings")}</h2>
              <ul>
                {ev.warnings.map((w) => (
                  <li class="warn">
                    {w.message ?? w.code}
                    {w.other_event_id && (
                      <>
                        {" "}
                        <a href={`#/outreach/event/${w.other_event_id}`}>#{w.other_event_id}</a>
                      </>
                    )}
                  </li>
                ))}
              </ul>
            </section>
          )}
          <ReadinessSection id={ev.id} version={ev.version} />
          {hasRole("coordinator") && <Lifecycle ev={ev} after={reload} />}
          <PlanSection ev={ev} mine={mine} after={reload} />
          <Rosters id={ev.id} version={ev.version} />
          <Reports id={ev.id} version={ev.version} />
        </>
      )}
    </div>
  );
}
