// The ladder board: the cases of the user's scope in four columns by the level holding them
// (cell → community → street → district), each column paging through GET /tasks?kind=case&level=
// with its count from X-Pagination; filters by category, status, overdue and community.
import { useState } from "preact/hooks";
import { page } from "../../common/api";
import { t } from "../../common/i18n";
import { ErrorMessage, useAsync } from "../../common/ui";
import { current } from "../session";
import {
  type Area,
  CASE_STATUSES,
  type Case,
  isOverdue,
  LEVELS,
  tl,
  useCategories,
  useDepartments,
  when,
} from "./util";

type Query = Record<string, string>;
const PAGE = 20;

function Filters({ onApply, categories }: { onApply: (q: Query) => void; categories: ReturnType<typeof useCategories> }) {
  const areaBound = current()?.role !== "institution_contact";
  const communities = useAsync(
    () =>
      areaBound
        ? page<Area>("/areas", { level: "community" }, 1, 200).then((r) => r.rows)
        : Promise.resolve([] as Area[]),
    [areaBound],
  );
  function submit(e: Event) {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    onApply(Object.fromEntries([...f.entries()].map(([k, v]) => [k, String(v)]).filter(([, v]) => v)));
  }
  return (
    <form class="filters" onSubmit={submit} aria-label={t("cases.filters")}>
      <label>
        {t("cases.category")}
        <select name="category">
          <option value="">{t("cases.any")}</option>
          {(categories.data ?? []).map((c) => (
            <option value={c.code}>{categories.name(c.code)}</option>
          ))}
        </select>
      </label>
      <label>
        {t("cases.status")}
        <select name="status">
          <option value="">{t("cases.any")}</option>
          {CASE_STATUSES.map((s) => (
            <option value={s}>{tl(`cases.status.${s}`)}</option>
          ))}
        </select>
      </label>
      <label>
        {t("cases.overdue")}
        <select name="overdue">
          <option value="">{t("cases.any")}</option>
          <option value="true">{t("cases.overdue.yes")}</option>
          <option value="false">{t("cases.overdue.no")}</option>
        </select>
      </label>
      {areaBound && (
        <label>
          {t("cases.community")}
          <select name="area">
            <option value="">{t("cases.any")}</option>
            {(communities.data ?? []).map((a) => (
              <option value={a.id}>
                {a.code} {a.name}
              </option>
            ))}
          </select>
        </label>
      )}
      <button type="submit">{t("cases.apply")}</button>
      <ErrorMessage error={communities.error ?? categories.error} />
    </form>
  );
}

export function CaseCard({
  c,
  category,
  department,
}: {
  c: Case;
  category: string;
  department: string;
}) {
  const late = isOverdue(c);
  return (
    <li class={`case-card${late ? " late" : ""}`} data-testid="case-card" data-case-id={c.id}>
      <a href={`#/cases/${c.id}`}>{c.title}</a>
      <span class="case-meta">
        {category} · <span class={`status st-${c.status}`}>{tl(`cases.status.${c.status}`)}</span>
      </span>
      <span class="case-meta">
        {t("cases.due")} {when(c.level_due_at)}
        {late && <strong class="badge late">{t("cases.overdue_by")}</strong>}
        {c.paused && <span class="badge paused">{t("cases.paused")}</span>}
        {c.supervised_at && <span class="badge supervised">{t("cases.supervised")}</span>}
      </span>
      {c.department_id != null && (
        <span class="case-meta">
          {t("cases.department")}: {department}
        </span>
      )}
    </li>
  );
}

function Column({
  level,
  query,
  categories,
  departments,
}: {
  level: string;
  query: Query;
  categories: ReturnType<typeof useCategories>;
  departments: ReturnType<typeof useDepartments>;
}) {
  // The board keys each column by its query: a new filter starts again at page 1.
  const [at, setPageNo] = useState(1);
  const key = JSON.stringify(query);
  const { data, error, loading } = useAsync(
    () => page<Case>("/tasks", { ...query, kind: "case", level }, at, PAGE),
    [key, level, at],
  );
  const p = data?.pagination;
  const id = `col-${level}`;
  return (
    <section class="ladder-col" aria-labelledby={id} data-testid={`level-${level}`}>
      <h2 id={id}>
        {tl(`cases.level.${level}`)}{" "}
        <span class="count" data-testid={`count-${level}`}>
          {p ? t("cases.count", { n: p.total }) : ""}
        </span>
      </h2>
      <ErrorMessage error={error} />
      {loading && <p aria-live="polite">{t("ui.loading")}</p>}
      {data &&
        (data.rows.length ? (
          <ul class="case-cards">
            {data.rows.map((c) => (
              <CaseCard c={c} category={categories.name(c.category)} department={departments.name(c.department_id)} />
            ))}
          </ul>
        ) : (
          <p>{t("ui.empty")}</p>
        ))}
      {p && p.total_pages > 1 && (
        <nav class="pager" aria-label={`${tl(`cases.level.${level}`)} pagination`}>
          <button type="button" disabled={at <= 1} onClick={() => setPageNo(at - 1)}>
            {t("ui.prev")}
          </button>
          <span>{t("ui.page", { page: p.page, pages: p.total_pages, total: p.total })}</span>
          <button type="button" disabled={at >= p.total_pages} onClick={() => setPageNo(at + 1)}>
            {t("ui.next")}
          </button>
        </nav>
      )}
    </section>
  );
}

export function Board() {
  const [query, setQuery] = useState<Query>({});
  const categories = useCategories();
  const departments = useDepartments();
  const isDepartment = current()?.role === "institution_contact";
  return (
    <>
      <h1>{t("cases.board")}</h1>
      {isDepartment && <p>{t("cases.dept_note")}</p>}
      <Filters onApply={setQuery} categories={categories} />
      <div class="ladder">
        {LEVELS.map((level) => (
          <Column key={`${level}:${JSON.stringify(query)}`} level={level} query={query} categories={categories} departments={departments} />
        ))}
      </div>
    </>
  );
}
