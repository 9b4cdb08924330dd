// Reports (issue 15): the monthly grid report of a street or community (its sections as
// tables, the headline figures against the previous month, XLSX / HTML / CSV per section
// fetched with the session's token), the kept monthly reports, and the street centre's daily
// summary (yesterday by default).
import { useEffect, useState } from "preact/hooks";
import { get } from "../../common/api";
import { t } from "../../common/i18n";
import { ErrorMessage, useAsync } from "../../common/ui";
import { type AreaSummary, areaName, homeArea, visibleAreas } from "../map/areas";
import { hasRole } from "../session";
import { download } from "../visits/util";
import { keyLabel } from "./report_keys";
import { num, when } from "./util";

const SECTIONS = ["patrols", "visits", "households", "cases", "sms", "outreach", "vacant"];

interface Headline {
  key: string;
  label: string;
  value: number | null;
  previous: number | null;
  change: number | null;
}

interface Report {
  area: { id: number; code: string; name: string; level: string };
  month?: string;
  day?: string;
  complete?: boolean;
  as_of: string;
  summary?: Headline[];
  archive?: { id: number; built_at: string };
  [section: string]: unknown;
}

interface Kept {
  id: number;
  kind: string;
  area: { id: number; code: string; name: string };
  period: string;
  built_at: string;
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

function previousMonth(): string {
  const d = new Date();
  d.setDate(1);
  d.setMonth(d.getMonth() - 1);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}`;
}

function yesterday(): string {
  const d = new Date();
  d.setDate(d.getDate() - 1);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function isScalar(v: unknown): boolean {
  return v === null || ["string", "number", "boolean"].includes(typeof v);
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return "—";
  if (typeof v === "number") return num(v, 4);
  if (typeof v === "boolean") return v ? t("as.yes") : t("as.no");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** A section's data as tables: its plain figures as one table, each list of rows as a table
 * of its own, each nested object as a table under its name. */
function Data({ data, depth = 0 }: { data: unknown; depth?: number }) {
  if (Array.isArray(data)) {
    if (!data.length) return <p>{t("ui.empty")}</p>;
    if (!data.every((r) => r && typeof r === "object" && !Array.isArray(r)))
      return <p>{data.map(cell).join("、")}</p>;
    const cols = [...new Set(data.flatMap((r) => Object.keys(r as object)))];
    return (
      <div class="table-scroll" tabIndex={0}>
        <table>
          <thead>
            <tr>
              {cols.map((c) => (
                <th scope="col">{keyLabel(c)}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {data.map((r) => (
              <tr>
                {cols.map((c) => (
                  <td>{cell((r as Record<string, unknown>)[c])}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    );
  }
  if (!data || typeof data !== "object") return <p>{cell(data)}</p>;
  const entries = Object.entries(data as Record<string, unknown>);
  const plain = entries.filter(([, v]) => isScalar(v));
  const nested = entries.filter(([, v]) => !isScalar(v));
  const Heading = depth ? "h4" : "h3";
  return (
    <>
      {plain.length > 0 && (
        <table class="kv">
          <thead>
            <tr>
              <th scope="col">{t("rep.key")}</th>
              <th scope="col">{t("rep.val")}</th>
            </tr>
          </thead>
          <tbody>
            {plain.map(([k, v]) => (
              <tr>
                <th scope="row">{keyLabel(k)}</th>
                <td class="num">{cell(v)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {nested.map(([k, v]) => (
        <div class="nested">
          <Heading>{keyLabel(k)}</Heading>
          {depth < 2 ? <Data data={v} depth={depth + 1} /> : <p>{cell(v)}</p>}
        </div>
      ))}
    </>
  );
}

function change(h: Headline): string {
  if (h.change === null || h.change === undefined) return "—";
  const sign = h.change > 0 ? "+" : "";
  return `${sign}${num(h.change, 4)}`;
}

function Headlines({ rows }: { rows: Headline[] }) {
  return (
    <section aria-label={t("rep.headlines")}>
      <h2>{t("rep.headlines")}</h2>
      <table data-testid="headlines">
        <thead>
          <tr>
            <th scope="col">{t("rep.figure")}</th>
            <th scope="col">{t("rep.value")}</th>
            <th scope="col">{t("rep.previous")}</th>
            <th scope="col">{t("rep.change")}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((h) => (
            <tr data-key={h.key}>
              <th scope="row">{h.label}</th>
              <td class="num">{cell(h.value)}</td>
              <td class="num">{cell(h.previous)}</td>
              <td class="num">{change(h)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function MonthlyView({ report, path, name }: { report: Report; path: string; name: string }) {
  const [error, setError] = useState<unknown>(null);
  const query = path === "/reports/monthly" ? { area: report.area.id, month: report.month } : {};
  function fetchAs(format: string, section?: string) {
    setError(null);
    const file = `${name}${section ? `-${section}` : ""}.${format}`;
    download(path, { ...query, format, section }, file).catch(setError);
  }
  return (
    <div class="report" data-testid="monthly-report">
      <h2 data-testid="report-title">
        {report.area.name} · {report.month}
      </h2>
      <p>
        {report.complete === false
          ? t("rep.incomplete", { as_of: report.as_of })
          : t("rep.as_of", { as_of: report.archive?.built_at ? when(report.archive.built_at) : report.as_of })}
      </p>
      <div class="downloads">
        <button type="button" onClick={() => fetchAs("xlsx")}>
          {t("rep.download_xlsx")}
        </button>{" "}
        <button type="button" onClick={() => fetchAs("html")}>
          {t("rep.download_html")}
        </button>
      </div>
      <ErrorMessage error={error} />
      {report.summary && <Headlines rows={report.summary} />}
      {SECTIONS.filter((s) => s in report).map((s) => (
        <section class="report-section" aria-label={t(`rep.section.${s}`)} data-section={s}>
          <h2>
            {t(`rep.section.${s}`)}{" "}
            <button
              type="button"
              class="small"
              aria-label={`${t("rep.download_csv")} ${t(`rep.section.${s}`)}`}
              onClick={() => fetchAs("csv", s)}
            >
              CSV
            </button>
          </h2>
          <Data data={report[s]} />
        </section>
      ))}
    </div>
  );
}

function useReportAreas() {
  return useAsync(
    () => visibleAreas().then((all) => all.filter((a) => a.level === "street" || a.level === "community")),
    [],
  );
}

function AreaSelect({ areas, value, onChange }: {
  areas: AreaSummary[];
  value: number | null;
  onChange: (id: number) => void;
}) {
  return (
    <label>
      {t("rep.area")}
      <select name="area" value={value ?? ""} onChange={(e) => onChange(Number(e.currentTarget.value))}>
        {areas.map((a) => (
          <option value={a.id}>{areaName(a)}</option>
        ))}
      </select>
    </label>
  );
}

export function MonthlyReport() {
  const areas = useReportAreas();
  const [area, setArea] = useState<number | null>(null);
  const [month, setMonth] = useState(previousMonth());
  const [shown, setShown] = useState<{ area: number; month: string } | null>(null);
  const [kept, setKept] = useState<number | null>(null);
  useEffect(() => {
    if (area === null && areas.data?.length) {
      const home = homeArea(areas.data) ?? areas.data[0];
      setArea(home.id);
      setShown({ area: home.id, month });
    }
  }, [areas.data]);
  const report = useAsync(
    () =>
      kept
        ? get<Report>(`/reports/monthly/archive/${kept}`)
        : shown
          ? get<Report>("/reports/monthly", { area: shown.area, month: shown.month })
          : Promise.resolve(undefined),
    [shown?.area, shown?.month, kept],
  );
  const archive = useAsync(
    () => (area ? get<Kept[]>("/reports/monthly/archive", { area }) : Promise.resolve([] as Kept[])),
    [area],
  );
  function submit(e: Event) {
    e.preventDefault();
    if (area) {
      setKept(null);
      setShown({ area, month });
    }
  }
  const data = report.data;
  return (
    <>
      <h1>{t("rep.monthly")}</h1>
      <ErrorMessage error={areas.error} />
      <form class="filters" onSubmit={submit} aria-label={t("rep.monthly")}>
        <AreaSelect areas={areas.data ?? []} value={area} onChange={setArea} />
        <label>
          {t("rep.month")}
          <input
            name="month"
            type="month"
            required
            value={month}
            onInput={(e) => setMonth(e.currentTarget.value)}
          />
        </label>
        <button type="submit">{t("rep.show")}</button>
      </form>
      <ErrorMessage error={report.error} />
      {report.loading && <p aria-live="polite">{t("ui.loading")}</p>}
      {data && (
        <MonthlyView
          report={data}
          path={kept ? `/reports/monthly/archive/${kept}` : "/reports/monthly"}
          name={`monthly-${data.area.code}-${data.month}`}
        />
      )}
      <ArchiveTable
        title={t("rep.archive")}
        testid="archive"
        period={t("rep.month")}
        archive={archive}
        open={setKept}
      />
    </>
  );
}

export function DailySummary() {
  const areas = useAsync(() => visibleAreas().then((all) => all.filter((a) => a.level === "street")), []);
  const [area, setArea] = useState<number | null>(null);
  const [day, setDay] = useState(yesterday());
  const [shown, setShown] = useState<{ area: number; day: string } | null>(null);
  const [kept, setKept] = useState<number | null>(null);
  useEffect(() => {
    if (area === null && areas.data?.length) {
      const home = homeArea(areas.data) ?? areas.data[0];
      setArea(home.id);
      setShown({ area: home.id, day });
    }
  }, [areas.data]);
  const summary = useAsync(
    () =>
      kept
        ? get<Report>(`/reports/daily/archive/${kept}`)
        : shown
          ? get<Report>("/reports/daily", shown)
          : Promise.resolve(undefined),
    [shown?.area, shown?.day, kept],
  );
  const archive = useAsync(
    () => (area ? get<Kept[]>("/reports/daily/archive", { area }) : Promise.resolve([] as Kept[])),
    [area],
  );
  function submit(e: Event) {
    e.preventDefault();
    if (area) {
      setKept(null);
      setShown({ area, day });
    }
  }
  const data = summary.data;
  return (
    <>
      <h1>{t("rep.daily")}</h1>
      <form class="filters" onSubmit={submit} aria-label={t("rep.daily")}>
        <AreaSelect areas={areas.data ?? []} value={area} onChange={setArea} />
        <label>
          {t("rep.day")}
          <input name="day" type="date" required value={day} onInput={(e) => setDay(e.currentTarget.value)} />
        </label>
        <button type="submit">{t("rep.show")}</button>
      </form>
      <ErrorMessage error={summary.error} />
      {data && (
        <div class="report" data-testid="daily-summary">
          <h2 data-testid="report-title">
            {data.area.name} · {data.day}
          </h2>
          <p>{t("rep.as_of", { as_of: data.as_of })}</p>
          {["patrols", "visits", "cases", "sms"].filter((s) => s in data).map((s) => (
            <section class="report-section" aria-label={t(`rep.section.${s}`)} data-section={s}>
              <h3>{t(`rep.section.${s}`)}</h3>
              <Data data={data[s]} depth={1} />
            </section>
          ))}
        </div>
      )}
      <ArchiveTable
        title={t("rep.daily_archive")}
        testid="daily-archive"
        period={t("rep.day")}
        archive={archive}
        open={setKept}
      />
    </>
  );
}

export function showsDaily(): boolean {
  return hasRole("street_centre", "district_centre");
}

/** The kept reports (monthly or daily), newest first, each opened with a button. */
function ArchiveTable(props: {
  title: string;
  testid: string;
  period: string;
  archive: { data?: Kept[] | null; error?: unknown };
  open: (id: number) => void;
}) {
  const { archive } = props;
  return (
    <section aria-label={props.title}>
      <h2>{props.title}</h2>
      <ErrorMessage error={archive.error} />
      {archive.data && archive.data.length ? (
        <table data-testid={props.testid}>
          <thead>
            <tr>
              <th scope="col">{props.period}</th>
              <th scope="col">{t("rep.area")}</th>
              <th scope="col">{t("rep.built_at")}</th>
              <th scope="col">
                <span class="sr-only">{t("rep.open")}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {archive.data.map((k) => (
              <tr>
                <td>{k.period}</td>
                <td>{k.area.name}</td>
                <td>{when(k.built_at)}</td>
                <td>
                  <button type="button" onClick={() => props.open(k.id)}>
                    {t("rep.open")} {k.period}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p>{t("ui.empty")}</p>
      )}
    </section>
  );
}
