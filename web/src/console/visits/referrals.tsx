// Referrals (转介): sent and received, a new one (from a visit or for a listed enterprise),
// accepting, recording the outcome (care note when not converted), and the register per
// person and institution with the referrers' points.
import { useState } from "preact/hooks";
import { get, post } from "../../common/api";
import { t } from "../../common/i18n";
import { ErrorMessage, PagedList, useAsync } from "../../common/ui";
import { allPages } from "../outreach/util";
import { current, hasRole } from "../session";
import { InstitutionSelect } from "./list";
import { type Enterprise, type Query, type Referral, tl, type Visit, type VisitsProgramme, when, useMyInstitution } from "./util";
import { FieldErrors } from "./visits";

interface Tally {
  sent: number;
  received: number;
  accepted: number;
  converted: number;
  not_converted: number;
  points: number;
}
interface Register {
  people: (Tally & { user?: string; username?: string; institution?: string; name?: string })[];
  institutions: (Tally & { institution: string; name?: string })[];
}

function CreateReferral(props: { p: VisitsProgramme; mine: string | null; visitId?: number; after: (r: Referral) => void }) {
  const { p, mine, visitId } = props;
  const visit = useAsync(() => (visitId ? get<Visit>(`/outreach/visits/${visitId}`) : Promise.resolve(null)), [visitId]);
  const list = useAsync(
    () => (visitId ? Promise.resolve([]) : allPages<Enterprise>(`/outreach/programmes/${p.id}/enterprises`, { sort: "name" })),
    [p.id, visitId],
  );
  const others = p.institutions.filter((c) => c !== mine);
  const [to, setTo] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const v = visit.data;
  const defaultNeed = v?.need?.amount ? `${v.need.purpose || ""} ${v.need.amount} 元，${v.need.term_months ?? "—"} 个月`.trim() : "";
  async function submit(e: Event) {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    const s = (k: string) => String(f.get(k) ?? "").trim();
    const body: Record<string, unknown> = {
      to_institution: to || others[0],
      need: s("need"),
      note: s("note"),
    };
    if (visitId) body.visit_id = visitId;
    else body.enterprise_id = Number(s("enterprise_id"));
    setBusy(true);
    setError(null);
    try {
      props.after(await post<Referral>("/outreach/referrals", body));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <form class="inline-form vi-refer" aria-label={t("vi.ref.create")} onSubmit={submit} aria-busy={busy}>
      <h3>{visitId ? t("vi.ref.create_from") : t("vi.ref.create")}</h3>
      <ErrorMessage error={visit.error ?? list.error} />
      {visitId ? (
        v && (
          <p>
            {t("vi.enterprise")}：{v.enterprise.name}（{v.enterprise.credit_code}）· {tl(`vi.outcome.${v.outcome}`)}
          </p>
        )
      ) : (
        <label>
          {t("vi.enterprise")}
          <select name="enterprise_id" required>
            {(list.data ?? []).map((e) => (
              <option value={e.id}>
                {e.name}（{e.credit_code}）
              </option>
            ))}
          </select>
        </label>
      )}
      <label>
        {t("vi.ref.to_institution")}
        <select value={to || others[0]} onChange={(e) => setTo((e.target as HTMLSelectElement).value)}>
          {others.map((c) => (
            <option value={c}>{c}</option>
          ))}
        </select>
      </label>
      <label>
        {t("vi.ref.need")}
        <textarea name="need" rows={2} required defaultValue={defaultNeed} key={defaultNeed} />
      </label>
      <label>
        {t("vi.ref.note")}
        <textarea name="note" rows={2} />
      </label>
      <FieldErrors error={error} />
      <ErrorMessage error={error} />
      <button type="submit" disabled={busy}>
        {t("vi.ref.send")}
      </button>
    </form>
  );
}

function OutcomeForm({ r, after }: { r: Referral; after: (r: Referral) => void }) {
  const [outcome, setOutcome] = useState("converted");
  const [note, setNote] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      after(await post<Referral>(`/outreach/referrals/${r.id}/outcome`, { outcome, care_note: note, version: r.version }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <form class="inline-form" aria-label={t("vi.ref.outcome_for", { number: r.number })} onSubmit={submit} aria-busy={busy}>
      <label>
        {t("vi.ref.result")}
        <select value={outcome} onChange={(e) => setOutcome((e.target as HTMLSelectElement).value)}>
          <option value="converted">{t("vi.ref.converted")}</option>
          <option value="not_converted">{t("vi.ref.not_converted")}</option>
        </select>
      </label>
      <label>
        {t("vi.ref.care_note")}
        <textarea rows={2} value={note} onInput={(e) => setNote((e.target as HTMLTextAreaElement).value)} />
      </label>
      <FieldErrors error={error} />
      <ErrorMessage error={error} />
      <button type="submit" disabled={busy}>
        {t("vi.ref.outcome")}
      </button>
    </form>
  );
}

function ReferralCard({ r, mine, changed }: { r: Referral; mine: string | null; changed: (msg: string) => void }) {
  const [row, setRow] = useState(r);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [open, setOpen] = useState(false);
  const receiving = hasRole("institution_contact") && mine !== null && row.to_institution === mine;
  async function accept() {
    setBusy(true);
    setError(null);
    try {
      setRow(await post<Referral>(`/outreach/referrals/${row.id}/accept`, { version: row.version }));
      changed(t("vi.ref.accepted"));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <li class="card" data-testid={`referral-${row.number}`}>
      <strong>
        {t("vi.ref.number")} {row.number}
      </strong>
      <span>
        {row.enterprise.name}（{row.enterprise.credit_code}）
      </span>
      <span>
        {t("vi.ref.from")}：{row.from_institution}
        {row.from_user ? `（${row.from_user}）` : ""} → {t("vi.ref.to")}：{row.to_institution}
        {row.to_user ? `（${row.to_user}）` : ""}
      </span>
      <span>
        {t("vi.ref.need")}：{row.need}
        {row.note ? ` · ${row.note}` : ""}
      </span>
      <span data-testid="referral-status">
        {t("vi.status")}：{tl(`vi.ref.status.${row.status}`)}
        {row.points ? ` · ${t("vi.ref.points")} ${row.points}` : ""}
        {row.care_note ? ` · ${row.care_note}` : ""} · {when(row.created_at)}
      </span>
      <ErrorMessage error={error} />
      {receiving && row.status === "sent" && (
        <button type="button" disabled={busy} onClick={accept} aria-label={`${t("vi.ref.accept")} ${row.number}`}>
          {t("vi.ref.accept")}
        </button>
      )}
      {receiving && row.status === "accepted" && !open && (
        <button type="button" onClick={() => setOpen(true)} aria-label={`${t("vi.ref.outcome")} ${row.number}`}>
          {t("vi.ref.outcome")}
        </button>
      )}
      {receiving && row.status === "accepted" && open && (
        <OutcomeForm
          r={row}
          after={(next) => {
            setRow(next);
            setOpen(false);
            changed(t("vi.ref.outcome_saved"));
          }}
        />
      )}
    </li>
  );
}

function RegisterTables({ p, institution, tick }: { p: VisitsProgramme; institution: string; tick: number }) {
  const { data, error } = useAsync(
    () => get<Register>("/outreach/referrals/register", { programme: p.id, institution }),
    [p.id, institution, tick],
  );
  const cols: [keyof Tally, string][] = [
    ["sent", "vi.ref.sent_n"],
    ["received", "vi.ref.received"],
    ["accepted", "vi.ref.accepted_n"],
    ["converted", "vi.ref.converted_n"],
    ["not_converted", "vi.ref.not_converted_n"],
    ["points", "vi.ref.points"],
  ];
  const table = (caption: string, rows: [string, Tally][], testId: string) => (
    <table data-testid={testId}>
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">{caption}</th>
          {cols.map(([, k]) => (
            <th scope="col">{t(k)}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map(([label, r]) => (
          <tr>
            <th scope="row">{label}</th>
            {cols.map(([k]) => (
              <td>{r[k] ?? 0}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
  return (
    <section aria-labelledby="vi-reg-h">
      <h3 id="vi-reg-h">{t("vi.ref.register")}</h3>
      <ErrorMessage error={error} />
      {data && (
        <div class="vi-two">
          {table(
            t("vi.ref.people"),
            data.people.map((r) => [`${r.username ?? r.user ?? r.name ?? "—"}${r.institution ? `（${r.institution}）` : ""}`, r]),
            "register-people",
          )}
          {table(t("vi.ref.institutions"), data.institutions.map((r) => [r.name || r.institution, r]), "register-institutions")}
        </div>
      )}
    </section>
  );
}

export function ReferralsScreen({ p, fromVisit }: { p: VisitsProgramme; fromVisit?: number }) {
  const mine = useMyInstitution();
  const contact = current()?.role === "institution_contact";
  const [direction, setDirection] = useState(contact ? "received" : "");
  const [status, setStatus] = useState("");
  const [institution, setInstitution] = useState("");
  const [message, setMessage] = useState("");
  const [creating, setCreating] = useState(!!fromVisit);
  const [nonce, setNonce] = useState(0);
  const [tick, setTick] = useState(0); // a card changed: the register reloads
  const changed = (msg: string) => {
    setMessage(msg);
    setTick((n) => n + 1);
  };
  // A direction is relative to the chosen institution, else to the contact's own.
  const query: Query = {
    programme: p.id,
    direction: institution || contact ? direction : undefined,
    status,
    institution,
  };
  const canCreate = hasRole("institution_contact");
  return (
    <section aria-labelledby="vi-ref-h">
      <h2 id="vi-ref-h">{t("vi.ref.title")}</h2>
      {message && (
        <p class="ok" role="status">
          {message}
        </p>
      )}
      {canCreate && !creating && (
        <button type="button" onClick={() => setCreating(true)}>
          {t("vi.ref.create")}
        </button>
      )}
      {canCreate && creating && (
        <CreateReferral
          p={p}
          mine={mine}
          visitId={fromVisit}
          after={(r) => {
            setCreating(false);
            setMessage(t("vi.ref.sent", { number: r.number }));
            setDirection("sent");
            setNonce((n) => n + 1);
            setTick((n) => n + 1);
            if (fromVisit) location.hash = `#/outreach/visits/${p.id}/referrals`;
          }}
        />
      )}
      <form class="filters" aria-label={t("vi.filters")} onSubmit={(e) => e.preventDefault()}>
        <label>
          {t("vi.ref.direction")}
          <select value={direction} onChange={(e) => setDirection((e.target as HTMLSelectElement).value)}>
            <option value="">{t("vi.all")}</option>
            <option value="sent">{t("vi.ref.direction.sent")}</option>
            <option value="received">{t("vi.ref.direction.received")}</option>
          </select>
        </label>
        <label>
          {t("vi.status")}
          <select value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value)}>
            <option value="">{t("vi.all")}</option>
            {["sent", "accepted", "converted", "not_converted"].map((s) => (
              <option value={s}>{t(`vi.ref.status.${s}`)}</option>
            ))}
          </select>
        </label>
        {!contact ? (
          <InstitutionSelect p={p} value={institution} onChange={setInstitution} />
        ) : null}
      </form>
      <PagedList<Referral>
        key={nonce}
        path="/outreach/referrals"
        query={query}
        render={(rows) => (
          <ul class="cards" data-testid="referrals">
            {rows.map((r) => (
              <ReferralCard key={`${r.id}-${r.version}`} r={r} mine={mine} changed={changed} />
            ))}
          </ul>
        )}
      />
      <RegisterTables p={p} institution={institution} tick={tick} />
    </section>
  );
}
