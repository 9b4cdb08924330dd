// The cards in scope (a station: its workers'; a contact: its own published ones, ?mine=1),
// rankings per community and street (a run's cards sorted by rank), and the dismissal
// recommendations the street centre decides.
import { useState } from "preact/hooks";
import { page, post } from "../../common/api";
import { t } from "../../common/i18n";
import { ErrorMessage, PagedList, useAsync } from "../../common/ui";
import { CardsTable, communitiesOf, GradeBadge } from "./runs";
import {
  type CardSummary,
  GRADES,
  type Recommendation,
  type Run,
  gradeName,
  isContact,
  score,
  useAreas,
  when,
} from "./util";

export function CardsPage() {
  const { areas, name: areaOf } = useAreas();
  const mine = isContact();
  const [query, setQuery] = useState<Record<string, string>>({});
  function submit(e: Event) {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    const q: Record<string, string> = {};
    for (const k of ["period", "grade", "community", "target_kind"]) {
      const v = String(f.get(k) ?? "").trim();
      if (v) q[k] = v;
    }
    setQuery(q);
  }
  return (
    <>
      <h1>{mine ? t("as.mine") : t("as.cards")}</h1>
      <form class="filters" onSubmit={submit} aria-label={t("as.filter")}>
        <label>
          {t("as.period")}
          <input name="period" placeholder={t("as.period_hint")} />
        </label>
        <label>
          {t("as.grade")}
          <select name="grade">
            <option value="">{t("as.any")}</option>
            {[...GRADES, "none"].map((g) => (
              <option value={g}>{gradeName(g)}</option>
            ))}
          </select>
        </label>
        {!mine && (
          <label>
            {t("as.community")}
            <select name="community">
              <option value="">{t("as.any")}</option>
              {communitiesOf(areas).map((c) => (
                <option value={c.id}>{c.name}</option>
              ))}
            </select>
          </label>
        )}
        <button type="submit">{t("as.filter")}</button>
      </form>
      <PagedList<CardSummary>
        path="/assessments/scorecards"
        query={{ ...query, mine: mine ? 1 : undefined }}
        pageSize={50}
        render={(rows) => <CardsTable rows={rows} areaOf={areaOf} showPeriod />}
      />
    </>
  );
}

/** The runs a user may rank: those listed, else those their cards belong to (a station sees
 * its workers' cards of the street's runs, not the runs). */
async function rankableRuns(): Promise<{ id: number; label: string }[]> {
  const runs = (await page<Run>("/assessments/runs", {}, 1, 100)).rows;
  const out = new Map<number, string>();
  for (const r of runs) out.set(r.id, `${r.template_name} ${r.period} v${r.version}`);
  const cards = (await page<CardSummary>("/assessments/scorecards", {}, 1, 200)).rows;
  for (const c of cards) if (!out.has(c.run_id)) out.set(c.run_id, `${c.period} #${c.run_id}`);
  return [...out].map(([id, label]) => ({ id, label }));
}

export function Rankings({ runId }: { runId?: number }) {
  const runs = useAsync(rankableRuns, []);
  const { areas, name: areaOf } = useAreas();
  const [run, setRun] = useState<number | null>(runId ?? null);
  const communities = communitiesOf(areas);
  const [community, setCommunity] = useState<number | null>(null);
  const chosen = run ?? runs.data?.[0]?.id ?? null;
  const pickedCommunity = community ?? communities[0]?.id ?? null;
  return (
    <>
      <h1>{t("as.rankings")}</h1>
      <ErrorMessage error={runs.error} />
      <div class="filters">
        <label>
          {t("as.pick_run")}
          <select value={chosen ?? ""} onChange={(e) => setRun(Number(e.currentTarget.value))}>
            {(runs.data ?? []).map((r) => (
              <option value={r.id}>{r.label}</option>
            ))}
          </select>
        </label>
      </div>
      {chosen && (
        <div class="rankings">
          <section aria-label={t("as.rankings.street")}>
            <h2>{t("as.rankings.street")}</h2>
            <PagedList<CardSummary>
              path="/assessments/scorecards"
              query={{ run: chosen, sort: "rank" }}
              pageSize={50}
              render={(rows) => <RankTable rows={rows} rank="street" areaOf={areaOf} />}
            />
          </section>
          <section aria-label={t("as.rankings.community")}>
            <h2>{t("as.rankings.community")}</h2>
            <label>
              {t("as.community")}
              <select
                value={pickedCommunity ?? ""}
                onChange={(e) => setCommunity(Number(e.currentTarget.value))}
              >
                {communities.map((c) => (
                  <option value={c.id}>{c.name}</option>
                ))}
              </select>
            </label>
            {pickedCommunity && (
              <PagedList<CardSummary>
                path="/assessments/scorecards"
                query={{ run: chosen, community: pickedCommunity, sort: "rank" }}
                pageSize={50}
                render={(rows) => <RankTable rows={rows} rank="community" areaOf={areaOf} />}
              />
            )}
          </section>
        </div>
      )}
    </>
  );
}

function RankTable({ rows, rank, areaOf }: {
  rows: CardSummary[];
  rank: "street" | "community";
  areaOf: (id: number | null) => string;
}) {
  return (
    <table data-testid={`ranking-${rank}`}>
      <thead>
        <tr>
          <th scope="col">{t(`as.rank.${rank}`)}</th>
          <th scope="col">{t("as.target")}</th>
          <th scope="col">{t("as.community")}</th>
          <th scope="col">{t("as.total")}</th>
          <th scope="col">{t("as.grade")}</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((c) => (
          <tr>
            <td>{(rank === "street" ? (c.ranks?.street ?? c.ranks?.run) : c.ranks?.community) ?? "—"}</td>
            <td>
              <a href={`#/assessment/cards/${c.id}`}>{c.target_name}</a>
            </td>
            <td>{areaOf(c.area_id)}</td>
            <td class="num">{score(c.total)}</td>
            <td>
              <GradeBadge grade={c.grade} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Decide({ rec, onDone }: { rec: Recommendation; onDone: (r: Recommendation) => void }) {
  const [action, setAction] = useState<"confirm" | "overturn" | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: Event) {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    setBusy(true);
    setError(null);
    try {
      onDone(
        await post<Recommendation>(`/assessments/recommendations/${rec.id}/${action}`, {
          reason: String(f.get("reason") ?? "").trim(),
        }),
      );
      setAction(null);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  const label = action ? t(`as.recs.${action}`) : "";
  return (
    <div class="decide">
      <button type="button" onClick={() => setAction("confirm")}>
        {t("as.recs.confirm")}
      </button>{" "}
      <button type="button" onClick={() => setAction("overturn")}>
        {t("as.recs.overturn")}
      </button>
      {action && (
        <form class="step-form" onSubmit={submit} aria-label={`${label} ${rec.worker_name}`}>
          {action === "confirm" && <p>{t("as.recs.confirm_note")}</p>}
          <label>
            {t("as.recs.reason")}
            <textarea name="reason" rows={2} required maxLength={2000} />
          </label>
          <button type="submit" disabled={busy}>
            {label}
          </button>
        </form>
      )}
      <ErrorMessage error={error} />
    </div>
  );
}

export function Recommendations() {
  const [status, setStatus] = useState("open");
  const [decided, setDecided] = useState<Record<number, Recommendation>>({});
  const [done, setDone] = useState("");
  return (
    <>
      <h1>{t("as.recs")}</h1>
      <div class="filters">
        <label>
          {t("as.status")}
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">{t("as.any")}</option>
            {["open", "confirmed", "overturned"].map((s) => (
              <option value={s}>{t(`as.recs.${s}`)}</option>
            ))}
          </select>
        </label>
      </div>
      <p class="done" role="status">
        {done}
      </p>
      <PagedList<Recommendation>
        path="/assessments/recommendations"
        query={{ status }}
        pageSize={20}
        render={(rows) => (
          <table data-testid="recommendations">
            <thead>
              <tr>
                <th scope="col">{t("as.recs.worker")}</th>
                <th scope="col">{t("as.period")}</th>
                <th scope="col">{t("as.total")}</th>
                <th scope="col">{t("as.grade")}</th>
                <th scope="col">{t("as.recs.created")}</th>
                <th scope="col">{t("as.status")}</th>
                <th scope="col">
                  <span class="sr-only">{t("as.recs.submit")}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => {
                const r = decided[row.id] ?? row;
                return (
                  <tr data-rec={r.id} data-testid="recommendation">
                    <td>
                      <a href={`#/assessment/cards/${r.scorecard_id}`}>{r.worker_name}</a>
                    </td>
                    <td>{r.period}</td>
                    <td class="num">{score(r.total)}</td>
                    <td>
                      <GradeBadge grade={r.grade} />
                    </td>
                    <td>{when(r.created_at)}</td>
                    <td data-testid="rec-status">
                      {t(`as.recs.${r.status}`)}
                      {r.reason && <div class="muted">{r.reason}</div>}
                    </td>
                    <td>
                      {r.status === "open" && (
                        <Decide
                          rec={r}
                          onDone={(x) => {
                            setDecided({ ...decided, [x.id]: x });
                            setDone(t("as.recs.decided", { status: t(`as.recs.${x.status}`) }));
                          }}
                        />
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      />
    </>
  );
}
