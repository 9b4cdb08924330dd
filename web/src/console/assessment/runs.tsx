// Runs (考核批次): the list with filters, starting a run (202 + the job followed with its
// progress), a run's page (status, counts by grade, publish) and its cards table.
import { useEffect, useState } from "preact/hooks";
import { ApiError, get, post } from "../../common/api";
import { t } from "../../common/i18n";
import { ErrorMessage, PagedList, useAsync } from "../../common/ui";
import { postAsJob, useJob } from "../grid/jobs";
import { areaName } from "../map/areas";
import {
  type CardSummary,
  GRADES,
  mayAssess,
  type Run,
  score,
  gradeName,
  statusName,
  useAreas,
  useTemplates,
  when,
} from "./util";

export function Counts({ counts }: { counts: Record<string, number> | undefined }) {
  if (!counts) return null;
  return (
    <span class="grade-counts">
      {[...GRADES, "not_graded"].map((g) => (
        <span class={`grade-count grade-${g}`} data-grade={g}>
          {gradeName(g)} {counts[g] ?? 0}
        </span>
      ))}
    </span>
  );
}

export function GradeBadge({ grade }: { grade: string | null }) {
  return <span class={`grade grade-${grade ?? "none"}`}>{gradeName(grade)}</span>;
}

function StartRun({ onStarted }: { onStarted: (run: Run) => void }) {
  const templates = useTemplates();
  const { areas } = useAreas();
  const { busy, error, pc, start } = useJob();
  const usable = (templates.data ?? []).filter((x) => x.active !== false && mayAssess(x.assessor_role));
  if (!usable.length) return null;

  async function submit(e: Event) {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    const body: Record<string, unknown> = {
      template: String(f.get("template")),
      period: String(f.get("period")).trim(),
      area_id: Number(f.get("area_id")),
      provisional: f.get("provisional") === "on",
    };
    const reason = String(f.get("reason") ?? "").trim();
    if (reason) body.reason = reason;
    const run = await start((onProgress) => postAsJob<Run>("/assessments/runs", body, onProgress));
    if (run) onStarted(run);
  }
  return (
    <form class="start-run card" onSubmit={submit} aria-label={t("as.start")}>
      <h2>{t("as.start")}</h2>
      <div class="filters">
        <label>
          {t("as.template")}
          <select name="template" required>
            {usable.map((x) => (
              <option value={x.code}>{x.name}</option>
            ))}
          </select>
        </label>
        <label>
          {t("as.period")}
          <input
            name="period"
            required
            pattern="\d{4}(-Q[1-4])?"
            placeholder={t("as.period_hint")}
            title={t("as.period_hint")}
          />
        </label>
        <label>
          {t("as.area")}
          <select name="area_id" required>
            {areas.map((a) => (
              <option value={a.id}>{areaName(a)}</option>
            ))}
          </select>
        </label>
        <label class="check">
          <input type="checkbox" name="provisional" /> {t("as.provisional")}
        </label>
      </div>
      <label>
        {t("as.reason")} <small>{t("as.reason_hint")}</small>
        <input name="reason" maxLength={2000} />
      </label>
      <ErrorMessage error={error} />
      {error instanceof ApiError && error.code === "run_exists" && (
        <p class="error" data-testid="run-exists">
          {t("as.run_exists")}
        </p>
      )}
      {busy && (
        <p aria-live="polite">
          {t("as.computing", { percent: pc === null ? "" : `${pc}%` })}
          <progress max={100} value={pc ?? undefined} aria-label={t("as.start")} />
        </p>
      )}
      <button type="submit" disabled={busy}>
        {t("as.start_submit")}
      </button>
    </form>
  );
}

export function RunsList() {
  const templates = useTemplates();
  const { name: areaNameOf } = useAreas();
  const [query, setQuery] = useState<Record<string, string>>({});
  const [refresh, setRefresh] = useState(0);
  function filter(e: Event) {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    const q: Record<string, string> = {};
    for (const k of ["template", "period", "status"]) {
      const v = String(f.get(k) ?? "").trim();
      if (v) q[k] = v;
    }
    setQuery(q);
  }
  return (
    <>
      <h1>{t("as.runs")}</h1>
      <StartRun
        onStarted={(run) => {
          setRefresh(refresh + 1);
          location.hash = `#/assessment/runs/${run.id}`;
        }}
      />
      <form class="filters" onSubmit={filter} aria-label={t("as.filter")}>
        <label>
          {t("as.template")}
          <select name="template">
            <option value="">{t("as.any")}</option>
            {(templates.data ?? []).map((x) => (
              <option value={x.code}>{x.name}</option>
            ))}
          </select>
        </label>
        <label>
          {t("as.period")}
          <input name="period" placeholder={t("as.period_hint")} />
        </label>
        <label>
          {t("as.status")}
          <select name="status">
            <option value="">{t("as.any")}</option>
            {["computing", "computed", "published", "failed"].map((s) => (
              <option value={s}>{statusName(s)}</option>
            ))}
          </select>
        </label>
        <button type="submit">{t("as.filter")}</button>
      </form>
      <PagedList<Run>
        key={refresh}
        path="/assessments/runs"
        query={query}
        pageSize={20}
        render={(rows) => (
          <div class="table-scroll" tabIndex={0}>
            <table data-testid="runs">
              <thead>
                <tr>
                  <th scope="col">{t("as.template")}</th>
                  <th scope="col">{t("as.period")}</th>
                  <th scope="col">{t("as.area")}</th>
                  <th scope="col">{t("as.status")}</th>
                  <th scope="col">{t("as.version")}</th>
                  <th scope="col">{t("as.counts")}</th>
                  <th scope="col">
                    <span class="sr-only">{t("as.open_run")}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr data-run={r.id}>
                    <td>{r.template_name}</td>
                    <td>
                      {r.period}
                      {r.provisional && <span class="badge">{t("as.provisional_tag")}</span>}
                    </td>
                    <td>{areaNameOf(r.area_id)}</td>
                    <td data-testid="run-status">{statusName(r.status)}</td>
                    <td>v{r.version}</td>
                    <td>
                      <Counts counts={r.counts} />
                    </td>
                    <td>
                      <a href={`#/assessment/runs/${r.id}`} aria-label={`${t("as.open_run")} ${r.template_name} ${r.period}`}>
                        {t("as.open_run")}
                      </a>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      />
    </>
  );
}

/** A card table (rank, name, community, total, grade); rows link to the card. */
export function CardsTable({ rows, areaOf, showPeriod = false }: {
  rows: CardSummary[];
  areaOf: (id: number | null) => string;
  showPeriod?: boolean;
}) {
  return (
    <div class="table-scroll" tabIndex={0}>
      <table data-testid="cards">
        <thead>
          <tr>
            <th scope="col">{t("as.rank")}</th>
            <th scope="col">{t("as.target")}</th>
            {showPeriod && <th scope="col">{t("as.period")}</th>}
            <th scope="col">{t("as.community")}</th>
            <th scope="col">{t("as.total")}</th>
            <th scope="col">{t("as.grade")}</th>
            <th scope="col">{t("as.rated_weight")}</th>
            <th scope="col">{t("as.deducted")}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((c) => (
            <tr data-card={c.id} data-testid="card-row">
              <td>{c.ranks?.run ?? c.ranks?.street ?? "—"}</td>
              <td>
                <a href={`#/assessment/cards/${c.id}`}>{c.target_name}</a>
              </td>
              {showPeriod && <td>{c.period}</td>}
              <td>{areaOf(c.area_id)}</td>
              <td class="num">{score(c.total)}</td>
              <td>
                <GradeBadge grade={c.grade} />
              </td>
              <td class="num">{c.rated_weight}</td>
              <td class="num">{score(c.deducted)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function CardFilters({ onChange, communities }: {
  onChange: (q: Record<string, string>) => void;
  communities: { id: number; name: string }[];
}) {
  function submit(e: Event) {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    const q: Record<string, string> = {};
    for (const k of ["grade", "community", "sort"]) {
      const v = String(f.get(k) ?? "");
      if (v) q[k] = v;
    }
    onChange(q);
  }
  return (
    <form class="filters" onSubmit={submit} aria-label={t("as.filter")}>
      <label>
        {t("as.grade")}
        <select name="grade">
          <option value="">{t("as.any")}</option>
          {[...GRADES, "none"].map((g) => (
            <option value={g}>{gradeName(g)}</option>
          ))}
        </select>
      </label>
      <label>
        {t("as.community")}
        <select name="community">
          <option value="">{t("as.any")}</option>
          {communities.map((c) => (
            <option value={c.id}>{c.name}</option>
          ))}
        </select>
      </label>
      <label>
        {t("as.sort")}
        <select name="sort">
          <option value="rank">{t("as.sort.rank")}</option>
          <option value="target_name">{t("as.sort.target_name")}</option>
        </select>
      </label>
      <button type="submit">{t("as.filter")}</button>
    </form>
  );
}

export function communitiesOf(areas: { id: number; level: string; name: string; name_en?: string | null }[]) {
  return areas.filter((a) => a.level === "community").map((a) => ({ id: a.id, name: areaName(a as never) }));
}

export function RunDetail({ id }: { id: number }) {
  const found = useAsync(() => get<Run>(`/assessments/runs/${id}`), [id]);
  const { areas, name: areaOf } = useAreas();
  const [query, setQuery] = useState<Record<string, string>>({ sort: "rank" });
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState("");
  const [busy, setBusy] = useState(false);
  const run = found.data;
  // A run still computing is read again until it is not.
  useEffect(() => {
    if (run?.status !== "computing") return;
    const timer = setTimeout(() => void found.reload(), 1000);
    return () => clearTimeout(timer);
  }, [run]);

  async function publish() {
    setBusy(true);
    setError(null);
    setDone("");
    try {
      found.setData(await post<Run>(`/assessments/runs/${id}/publish`));
      setDone(t("as.published"));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  const assessor = mayAssess(run?.template_snapshot?.assessor_role);
  return (
    <>
      <p>
        <a href="#/assessment">{t("as.runs")}</a>
      </p>
      <ErrorMessage error={found.error} />
      {run && (
        <>
          <h1>
            {run.template_name} · {t("as.run", { period: run.period })}
          </h1>
          <dl class="facts">
            <dt>{t("as.area")}</dt>
            <dd>{areaOf(run.area_id)}</dd>
            <dt>{t("as.period")}</dt>
            <dd>{t("as.period_dates", { from: run.period_start, to: run.period_end })}</dd>
            <dt>{t("as.status")}</dt>
            <dd data-testid="run-status">
              {statusName(run.status)}
              {run.provisional && <span class="badge">{t("as.provisional_tag")}</span>}
            </dd>
            <dt>{t("as.version")}</dt>
            <dd>
              v{run.version}
              {run.supersedes_id && ` · ${t("as.supersedes", { id: run.supersedes_id })}`}
              {run.superseded_by && ` · ${t("as.superseded_by", { id: run.superseded_by })}`}
              {run.reason && ` · ${run.reason}`}
            </dd>
            <dt>{t("as.counts")}</dt>
            <dd data-testid="run-counts">
              <Counts counts={run.counts} />
            </dd>
            {run.published_at && (
              <>
                <dt>{t("as.published")}</dt>
                <dd>{when(run.published_at)}</dd>
              </>
            )}
          </dl>
          {run.status === "computing" && <progress aria-label={statusName("computing")} />}
          {run.error && <p class="error" role="alert">{run.error.message}</p>}
          {assessor && run.status !== "published" && (
            <div class="publish">
              <p>{t("as.publish_confirm")}</p>
              <button type="button" class="primary" disabled={busy} onClick={publish}>
                {t("as.publish")}
              </button>
            </div>
          )}
          <ErrorMessage error={error} />
          <p class="done" role="status">
            {done}
          </p>
          <h2>{t("as.cards")}</h2>
          <CardFilters onChange={(q) => setQuery({ sort: "rank", ...q })} communities={communitiesOf(areas)} />
          {run.status !== "computing" && (
            <PagedList<CardSummary>
              key={run.status}
              path={`/assessments/runs/${id}/scorecards`}
              query={query}
              pageSize={50}
              render={(rows) => <CardsTable rows={rows} areaOf={areaOf} />}
            />
          )}
        </>
      )}
    </>
  );
}
