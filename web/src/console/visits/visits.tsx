// Visits (走访记录): the list with filters, one visit's page (with its decision and a referral
// from it), the form bank contacts record a visit with (fields by outcome), and the decision
// form a product-matched visit calls for.
import { useState } from "preact/hooks";
import { get, post } from "../../common/api";
import { t } from "../../common/i18n";
import { ErrorMessage, PagedList, useAsync } from "../../common/ui";
import { allPages } from "../outreach/util";
import { hasRole } from "../session";
import { InstitutionSelect, VisitorInput } from "./list";
import {
  DECISIONS,
  type Enterprise,
  fieldErrors,
  localInput,
  OPERATING,
  OUTCOMES,
  type Query,
  tl,
  type Visit,
  type VisitsProgramme,
  when,
  yuan,
} from "./util";

export function FieldErrors({ error }: { error: unknown }) {
  const list = fieldErrors(error);
  if (!list.length) return null;
  return (
    <ul class="error field-errors" aria-label={t("vi.record.fix")}>
      {list.map(([k, m]) => (
        <li>
          <code>{k}</code>：{m}
        </li>
      ))}
    </ul>
  );
}

function needText(v: Visit): string {
  if (!v.need || !v.need.amount) return t("vi.no_need_stated");
  return t("vi.need_text", { amount: yuan(v.need.amount), term: v.need.term_months ?? "—", purpose: v.need.purpose || "—" });
}

export function decisionText(v: Visit): string {
  if (v.outcome !== "product_matched") return t("vi.decision.none");
  if (v.decision) return tl(`vi.decision.${v.decision}`);
  return v.decision_overdue ? `${t("vi.decision.pending")}（${t("vi.overdue")}）` : t("vi.decision.pending");
}

export function VisitsScreen({ p }: { p: VisitsProgramme }) {
  const [institution, setInstitution] = useState("");
  const [visitor, setVisitor] = useState("");
  const [outcome, setOutcome] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const query: Query = { programme: p.id, institution, visitor, outcome, from, to };
  return (
    <section aria-labelledby="vi-visits-h">
      <h2 id="vi-visits-h">{t("vi.tab.visits")}</h2>
      <form class="filters" aria-label={t("vi.filters")} onSubmit={(e) => e.preventDefault()}>
        <InstitutionSelect p={p} value={institution} onChange={setInstitution} />
        <VisitorInput value={visitor} onChange={setVisitor} />
        <label>
          {t("vi.outcome")}
          <select value={outcome} onChange={(e) => setOutcome((e.target as HTMLSelectElement).value)}>
            <option value="">{t("vi.all")}</option>
            {OUTCOMES.map((o) => (
              <option value={o}>{t(`vi.outcome.${o}`)}</option>
            ))}
          </select>
        </label>
        <label>
          {t("vi.from")}
          <input type="date" value={from} onChange={(e) => setFrom((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          {t("vi.to")}
          <input type="date" value={to} onChange={(e) => setTo((e.target as HTMLInputElement).value)} />
        </label>
      </form>
      <PagedList<Visit>
        path="/outreach/visits"
        query={query}
        render={(rows) => (
          <table data-testid="visits">
            <thead>
              <tr>
                <th scope="col">{t("vi.enterprise")}</th>
                <th scope="col">{t("vi.institution")}</th>
                <th scope="col">{t("vi.visitor")}</th>
                <th scope="col">{t("vi.visited_at")}</th>
                <th scope="col">{t("vi.outcome")}</th>
                <th scope="col">{t("vi.decision")}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((v) => (
                <tr>
                  <td>
                    <a href={`#/outreach/visits/${p.id}/visit/${v.id}`}>{v.enterprise.name}</a>
                  </td>
                  <td>{v.institution}</td>
                  <td>{v.visitor ?? (v.worker_id ? t("vi.worker") : "—")}</td>
                  <td>{when(v.visited_at)}</td>
                  <td>{tl(`vi.outcome.${v.outcome}`)}</td>
                  <td>{decisionText(v)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      />
    </section>
  );
}

/** Decide a product-matched visit: approved | rejected (reason required) | withdrawn. */
export function DecisionForm({ v, after }: { v: Visit; after: (v: Visit) => void }) {
  const [decision, setDecision] = useState("approved");
  const [reason, setReason] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      after(await post<Visit>(`/outreach/visits/${v.id}/decision`, { decision, reason }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  const name = t("vi.decide_for", { name: v.enterprise.name });
  return (
    <form class="inline-form vi-decide" aria-label={name} onSubmit={submit} aria-busy={busy}>
      <label>
        {t("vi.decision")}
        <select value={decision} onChange={(e) => setDecision((e.target as HTMLSelectElement).value)}>
          {DECISIONS.map((d) => (
            <option value={d}>{t(`vi.decision.${d}`)}</option>
          ))}
        </select>
      </label>
      <label>
        {t("vi.decision_reason")}
        <textarea value={reason} rows={2} onInput={(e) => setReason((e.target as HTMLTextAreaElement).value)} />
      </label>
      <ErrorMessage error={error} />
      <FieldErrors error={error} />
      <button type="submit" disabled={busy}>
        {t("vi.decide.submit")}
      </button>
    </form>
  );
}

export function VisitPage({ p, id }: { p: VisitsProgramme; id: number }) {
  const { data: v, error, setData } = useAsync(() => get<Visit>(`/outreach/visits/${id}`), [id]);
  const [done, setDone] = useState(false);
  if (!v) return <ErrorMessage error={error} />;
  const rows: [string, string][] = [
    [t("vi.credit_code"), v.enterprise.credit_code],
    [t("vi.institution"), v.institution],
    [t("vi.visitor"), v.visitor ?? (v.worker_id ? t("vi.worker") : "—")],
    [t("vi.source"), tl(`vi.source.${v.source}`)],
    [t("vi.visited_at"), when(v.visited_at)],
    [t("vi.operating_status"), tl(`vi.op.${v.operating_status}`)],
    [t("vi.need"), needText(v)],
    [t("vi.lenders"), v.lenders.join("、") || "—"],
    [t("vi.eligible"), v.eligible == null ? t("vi.eligible.unknown") : v.eligible ? t("vi.eligible.yes") : t("vi.eligible.no")],
    [t("vi.outcome"), tl(`vi.outcome.${v.outcome}`)],
    [t("vi.products_shown"), v.products.join("、") || "—"],
    [t("vi.explanation"), v.explanation || "—"],
    [t("vi.next_step"), v.next_step ? `${v.next_step}（${v.next_step_due_on ?? "—"}）` : "—"],
    [t("vi.notes"), v.notes || "—"],
  ];
  const undecided = v.outcome === "product_matched" && !v.decision;
  return (
    <section aria-labelledby="vi-visit-h" data-testid="visit">
      <h2 id="vi-visit-h">{t("vi.visit_of", { name: v.enterprise.name })}</h2>
      <dl class="vi-dl">
        {rows.map(([k, val]) => (
          <>
            <dt>{k}</dt>
            <dd>{val}</dd>
          </>
        ))}
      </dl>
      {v.outcome === "product_matched" && (
        <section aria-labelledby="vi-dec-h">
          <h3 id="vi-dec-h">{t("vi.decision")}</h3>
          <p data-testid="decision-state">
            {decisionText(v)} · {t("vi.decision_due")}：{v.decision_due_on ?? "—"}
          </p>
          {v.decision && (
            <p>
              {t("vi.decided", { by: v.decided_by ?? "—", at: when(v.decided_at) })}
              {v.decision_reason ? `：${v.decision_reason}` : ""}
            </p>
          )}
          {done && (
            <p class="ok" role="status">
              {t("vi.decide.done")}
            </p>
          )}
          {undecided && hasRole("institution_contact") && (
            <DecisionForm
              v={v}
              after={(next) => {
                setData(next);
                setDone(true);
              }}
            />
          )}
        </section>
      )}
      {hasRole("institution_contact") && (
        <p>
          <a href={`#/outreach/visits/${p.id}/refer/${v.id}`}>{t("vi.ref.create_from")}</a>
        </p>
      )}
    </section>
  );
}

export function RecordVisit({ p, enterprise }: { p: VisitsProgramme; enterprise?: number }) {
  const list = useAsync(
    () => allPages<Enterprise>(`/outreach/programmes/${p.id}/enterprises`, { sort: "name" }),
    [p.id],
  );
  const [saved, setSaved] = useState<Visit | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState("follow_up");
  const [hasNeed, setHasNeed] = useState(true);
  const pick = (o: string) => {
    setOutcome(o);
    setHasNeed(o !== "no_need");
  };
  const [defaultAt] = useState(() => localInput(new Date(Date.now() - 3600_000)));
  async function submit(e: Event) {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    const s = (k: string) => String(f.get(k) ?? "").trim();
    const eligible = s("eligible");
    const body = {
      enterprise_id: Number(s("enterprise_id")),
      visited_at: s("visited_at") ? new Date(s("visited_at")).toISOString() : null,
      operating_status: s("operating_status"),
      need: hasNeed
        ? { amount: Number(s("amount") || 0), term_months: Number(s("term_months") || 0) || null, purpose: s("purpose") }
        : null,
      lenders: f.getAll("lenders").map(String),
      eligible: eligible === "" ? null : eligible === "true",
      outcome,
      products: s("products")
        .split(/[,，、]/)
        .map((x) => x.trim())
        .filter(Boolean),
      explanation: s("explanation"),
      next_step: s("next_step"),
      next_step_due_on: s("next_step_due_on") || null,
      notes: s("notes"),
    };
    setBusy(true);
    setError(null);
    setSaved(null);
    try {
      const v = await post<Visit>("/outreach/visits", body);
      setSaved(v);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <section aria-labelledby="vi-record-h">
      <h2 id="vi-record-h">{t("vi.record.title")}</h2>
      <ErrorMessage error={list.error} />
      {saved && (
        <p class="ok" role="status">
          {t("vi.record.saved")}{" "}
          <a href={`#/outreach/visits/${p.id}/visit/${saved.id}`}>{saved.enterprise.name}</a>
        </p>
      )}
      {list.data && (
        <form class="vi-form" onSubmit={submit} aria-busy={busy} aria-label={t("vi.record.title")}>
          <label>
            {t("vi.enterprise")}
            <select name="enterprise_id" required>
              {list.data.map((e) => (
                <option value={e.id} selected={e.id === enterprise}>
                  {e.name}（{e.credit_code}，{tl(`vi.status.${e.status}`)}）
                </option>
              ))}
            </select>
          </label>
          <label>
            {t("vi.visited_at")}
            <input type="datetime-local" name="visited_at" defaultValue={defaultAt} required />
          </label>
          <label>
            {t("vi.operating_status")}
            <select name="operating_status">
              {OPERATING.map((o) => (
                <option value={o}>{t(`vi.op.${o}`)}</option>
              ))}
            </select>
          </label>
          <label>
            {t("vi.outcome")}
            <select name="outcome" value={outcome} onChange={(e) => pick((e.target as HTMLSelectElement).value)}>
              {OUTCOMES.map((o) => (
                <option value={o}>{t(`vi.outcome.${o}`)}</option>
              ))}
            </select>
          </label>
          <fieldset>
            <legend>{t("vi.need")}</legend>
            <label class="check">
              <input type="checkbox" checked={hasNeed} onChange={(e) => setHasNeed((e.target as HTMLInputElement).checked)} />
              {t("vi.has_need")}
            </label>
            {hasNeed && (
              <>
                <label>
                  {t("vi.need_amount")}
                  <input name="amount" type="number" min={0} step={1} inputMode="numeric" />
                </label>
                <label>
                  {t("vi.need_term")}
                  <input name="term_months" type="number" min={1} max={360} step={1} />
                </label>
                <label>
                  {t("vi.need_purpose")}
                  <input name="purpose" maxLength={200} />
                </label>
              </>
            )}
          </fieldset>
          {(outcome === "follow_up" || outcome === "renewal") && (
            <fieldset>
              <legend>{t("vi.lenders")}</legend>
              {p.institutions.map((c) => (
                <label class="check">
                  <input type="checkbox" name="lenders" value={c} />
                  {c}
                </label>
              ))}
            </fieldset>
          )}
          <label>
            {t("vi.eligible")}
            <select name="eligible">
              <option value="">{t("vi.eligible.unknown")}</option>
              <option value="true" selected={outcome === "product_matched"}>
                {t("vi.eligible.yes")}
              </option>
              <option value="false" selected={outcome === "not_eligible_explained"}>
                {t("vi.eligible.no")}
              </option>
            </select>
          </label>
          {outcome === "product_matched" && (
            <label>
              {t("vi.products")}
              <input name="products" />
            </label>
          )}
          {outcome === "not_eligible_explained" && (
            <label>
              {t("vi.explanation")}
              <textarea name="explanation" rows={2} />
            </label>
          )}
          <label>
            {t("vi.next_step")}
            <input name="next_step" />
          </label>
          <label>
            {t("vi.next_step_due_on")}
            <input name="next_step_due_on" type="date" />
          </label>
          <label>
            {t("vi.notes")}
            <textarea name="notes" rows={2} />
          </label>
          <ErrorMessage error={error} />
          <FieldErrors error={error} />
          <button type="submit" disabled={busy}>
            {t("vi.record.save")}
          </button>
        </form>
      )}
    </section>
  );
}
