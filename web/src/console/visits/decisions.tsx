// Decisions (待决定): product-matched visits awaiting a decision, open or overdue, counted per
// institution and per visitor; a contact of the institution decides with a reason.
import { useState } from "preact/hooks";
import { t } from "../../common/i18n";
import { ErrorMessage, useAsync } from "../../common/ui";
import { allPages } from "../outreach/util";
import { hasRole } from "../session";
import { InstitutionSelect, VisitorInput } from "./list";
import { type Visit, type VisitsProgramme, when } from "./util";
import { DecisionForm } from "./visits";

function Counts({ rows, by, label }: { rows: Visit[]; by: (v: Visit) => string; label: string }) {
  const groups = new Map<string, { open: number; overdue: number }>();
  for (const v of rows) {
    const g = groups.get(by(v)) ?? { open: 0, overdue: 0 };
    g.open += 1;
    if (v.decision_overdue) g.overdue += 1;
    groups.set(by(v), g);
  }
  return (
    <table class="vi-counts-table">
      <caption>{label}</caption>
      <thead>
        <tr>
          <th scope="col">{label}</th>
          <th scope="col">{t("vi.decisions.open")}</th>
          <th scope="col">{t("vi.decisions.overdue")}</th>
        </tr>
      </thead>
      <tbody>
        {[...groups.entries()]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([k, g]) => (
            <tr>
              <th scope="row">{k}</th>
              <td>{g.open}</td>
              <td>{g.overdue}</td>
            </tr>
          ))}
      </tbody>
    </table>
  );
}

export function DecisionsScreen({ p }: { p: VisitsProgramme }) {
  const [state, setState] = useState("open");
  const [institution, setInstitution] = useState("");
  const [visitor, setVisitor] = useState("");
  const [deciding, setDeciding] = useState<number | null>(null);
  const [done, setDone] = useState("");
  const { data, error, loading, reload } = useAsync(
    () => allPages<Visit>("/outreach/decisions", { programme: p.id, state, institution, visitor }),
    [p.id, state, institution, visitor],
  );
  const mayDecide = hasRole("institution_contact");
  return (
    <section aria-labelledby="vi-dec-list-h">
      <h2 id="vi-dec-list-h">{t("vi.decisions.title")}</h2>
      <form class="filters" aria-label={t("vi.filters")} onSubmit={(e) => e.preventDefault()}>
        <label>
          {t("vi.state")}
          <select value={state} onChange={(e) => setState((e.target as HTMLSelectElement).value)}>
            <option value="open">{t("vi.state.open")}</option>
            <option value="overdue">{t("vi.state.overdue")}</option>
          </select>
        </label>
        <InstitutionSelect p={p} value={institution} onChange={setInstitution} />
        <VisitorInput value={visitor} onChange={setVisitor} />
      </form>
      <ErrorMessage error={error} />
      {done && (
        <p class="ok" role="status">
          {done}
        </p>
      )}
      {loading && <p aria-live="polite">{t("ui.loading")}</p>}
      {data && (
        <>
          <div class="vi-two">
            <Counts rows={data} by={(v) => v.institution} label={t("vi.decisions.by_institution")} />
            <Counts rows={data} by={(v) => v.visitor ?? "—"} label={t("vi.decisions.by_visitor")} />
          </div>
          {data.length === 0 ? (
            <p>{t("ui.empty")}</p>
          ) : (
            <table data-testid="decisions">
              <thead>
                <tr>
                  <th scope="col">{t("vi.enterprise")}</th>
                  <th scope="col">{t("vi.institution")}</th>
                  <th scope="col">{t("vi.visitor")}</th>
                  <th scope="col">{t("vi.visited_at")}</th>
                  <th scope="col">{t("vi.decision_due")}</th>
                  <th scope="col">{t("vi.decision")}</th>
                </tr>
              </thead>
              <tbody>
                {data.map((v) => (
                  <tr data-visit={v.id} class={v.decision_overdue ? "late" : undefined}>
                    <td>
                      <a href={`#/outreach/visits/${p.id}/visit/${v.id}`}>{v.enterprise.name}</a>
                    </td>
                    <td>{v.institution}</td>
                    <td>{v.visitor ?? "—"}</td>
                    <td>{when(v.visited_at)}</td>
                    <td>
                      {v.decision_due_on ?? "—"}
                      {v.decision_overdue ? `（${t("vi.overdue")}）` : ""}
                    </td>
                    <td>
                      {mayDecide && deciding !== v.id && (
                        <button type="button" onClick={() => setDeciding(v.id)} aria-label={t("vi.decide_for", { name: v.enterprise.name })}>
                          {t("vi.decide")}
                        </button>
                      )}
                      {deciding === v.id && (
                        <DecisionForm
                          v={v}
                          after={() => {
                            setDeciding(null);
                            setDone(`${v.enterprise.name}：${t("vi.decide.done")}`);
                            void reload();
                          }}
                        />
                      )}
                    </td>
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
