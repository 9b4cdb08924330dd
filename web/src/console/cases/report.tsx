// The cases report of an area (GET /reports/cases?area=&from=&to=): totals, tables by level and
// by category (received, settled at each level, 小问题不出网格, escalated, overdue now, median
// hours to close, satisfaction), the hexbin on a map, and the CSV / XLSX downloads.
import { useEffect, useRef, useState } from "preact/hooks";
import { get, page } from "../../common/api";
import { t } from "../../common/i18n";
import { type MapHandle, ramp } from "../../common/map";
import { ErrorMessage, messageOf, useAsync } from "../../common/ui";
import { MapView } from "../map/MapView";
import { current } from "../session";
import { download } from "../visits/util";
import { type Area, LEVELS, tl, useCategories, when } from "./util";

interface Row {
  received: number;
  settled: Record<string, number>;
  settled_total: number;
  settled_in_cell_share: number;
  escalated: number;
  escalations: number;
  overdue: number;
  closed: number;
  median_close_hours: number | null;
  ratings: { satisfied: number; fairly: number; unsatisfied: number };
  rated: number;
  satisfied_share: number;
}
interface Report {
  area: { id: number; code: string; name: string };
  from: string;
  to: string;
  as_of: string;
  hex_m: number;
  totals: Row;
  levels: (Row & { level: string })[];
  categories: (Row & { category: string | null; name: string })[];
  hexbin: GeoJSON.FeatureCollection<GeoJSON.Geometry, { count: number }>;
}

const pct = (x: number | null | undefined) => (x == null ? "—" : `${(x * 100).toFixed(1)}%`);
const day = (d: Date) => {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
};

function Head({ first }: { first: string }) {
  return (
    <thead>
      <tr>
        <th scope="col">{t(first)}</th>
        <th scope="col">{t("report.col.received")}</th>
        {LEVELS.map((l) => (
          <th scope="col">{t(`report.col.settled_${l}`)}</th>
        ))}
        <th scope="col">{t("report.col.cell_share")}</th>
        <th scope="col">{t("report.col.escalated")}</th>
        <th scope="col">{t("report.col.overdue")}</th>
        <th scope="col">{t("report.col.closed")}</th>
        <th scope="col">{t("report.col.median")}</th>
        <th scope="col">{t("report.col.satisfaction")}</th>
        <th scope="col">{t("report.col.rated")}</th>
      </tr>
    </thead>
  );
}

function Cells({ r }: { r: Row }) {
  return (
    <>
      <td>{r.received}</td>
      {LEVELS.map((l) => (
        <td>{r.settled?.[l] ?? 0}</td>
      ))}
      <td>{r.settled_total ? pct(r.settled_in_cell_share) : "—"}</td>
      <td>{r.escalated}</td>
      <td>{r.overdue}</td>
      <td>{r.closed}</td>
      <td>{r.median_close_hours == null ? "—" : r.median_close_hours.toFixed(1)}</td>
      <td>{r.rated ? pct(r.satisfied_share) : "—"}</td>
      <td>{r.rated}</td>
    </>
  );
}

function HexMap({ report }: { report: Report }) {
  const [handle, setHandle] = useState<MapHandle | null>(null);
  const [drawn, setDrawn] = useState(-1);
  const layer = useRef<any>(null);
  useEffect(() => {
    if (!handle) return;
    const { L, map } = handle;
    layer.current?.remove();
    const features = report.hexbin?.features ?? [];
    const top = Math.max(1, ...features.map((f) => f.properties?.count ?? 0));
    const g = L.geoJSON(report.hexbin as any, {
      style: (f: any) => ({ color: "#7a4b00", weight: 0.6, fillColor: ramp((f?.properties?.count ?? 0) / top), fillOpacity: 0.75 }),
      onEachFeature: (f: any, l) => l.bindTooltip(String(f.properties?.count ?? 0)),
    }).addTo(map);
    layer.current = g;
    const b = g.getBounds();
    if (b.isValid()) map.fitBounds(b, { padding: [10, 10], maxZoom: 15 });
    setDrawn(features.length);
  }, [handle, report]);
  return (
    <div data-testid="report-map" data-ready={drawn >= 0 ? "1" : "0"} data-hexagons={drawn}>
      <MapView label={t("report.map_label")} class="map small" onReady={setHandle} />
    </div>
  );
}

export function CaseReport() {
  const me = current();
  const today = new Date();
  const [query, setQuery] = useState<Record<string, string>>({
    area: String(me?.scope.area_id ?? ""),
    from: day(new Date(today.getTime() - 30 * 86_400_000)),
    to: day(today),
  });
  const areas = useAsync(
    () => page<Area>("/areas", {}, 1, 500).then((r) => r.rows.filter((a) => a.level !== "cell")),
    [],
  );
  const report = useAsync(() => get<Report>("/reports/cases", query), [JSON.stringify(query)]);
  const categories = useCategories();
  const [busy, setBusy] = useState(false);
  const [dlError, setDlError] = useState<unknown>(null);
  function submit(e: Event) {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    setQuery(Object.fromEntries([...f.entries()].map(([k, v]) => [k, String(v)]).filter(([, v]) => v)));
  }
  async function exportAs(format: "csv" | "xlsx") {
    setBusy(true);
    setDlError(null);
    try {
      const code = report.data?.area.code ?? "area";
      await download("/reports/cases", { ...query, format }, `cases-${code}-${query.from ?? ""}-${query.to ?? ""}.${format}`);
    } catch (err) {
      setDlError(err);
    } finally {
      setBusy(false);
    }
  }
  const r = report.data;
  return (
    <>
      <h1>{t("report.title")}</h1>
      <form class="filters" onSubmit={submit} aria-label={t("cases.filters")}>
        <label>
          {t("report.area")}
          <select name="area" value={query.area ?? ""}>
            {(areas.data ?? []).map((a) => (
              <option value={a.id}>
                {a.code} {a.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t("report.from")}
          <input type="date" name="from" value={query.from} />
        </label>
        <label>
          {t("report.to")}
          <input type="date" name="to" value={query.to} />
        </label>
        <button type="submit">{t("report.show")}</button>
        <button type="button" disabled={busy} onClick={() => exportAs("csv")}>
          {t("report.csv")}
        </button>
        <button type="button" disabled={busy} onClick={() => exportAs("xlsx")}>
          {t("report.xlsx")}
        </button>
      </form>
      <ErrorMessage error={areas.error} />
      {dlError ? (
        <p class="error" role="alert">
          {messageOf(dlError)}
        </p>
      ) : null}
      <ErrorMessage error={report.error} />
      {report.loading && <p aria-live="polite">{t("ui.loading")}</p>}
      {r && (
        <>
          <p>
            {r.area.name} · {t("report.as_of", { at: when(r.as_of), from: r.from, to: r.to })}
          </p>
          <h2>{t("report.by_level")}</h2>
          <div class="table-scroll" tabIndex={0} role="region" aria-label={t("report.by_level")}>
            <table data-testid="report-levels">
              <Head first="report.col.level" />
              <tbody>
                {r.levels.map((x) => (
                  <tr data-level={x.level}>
                    <th scope="row">{tl(`cases.level.${x.level}`)}</th>
                    <Cells r={x} />
                  </tr>
                ))}
                <tr class="total">
                  <th scope="row">{t("report.totals")}</th>
                  <Cells r={r.totals} />
                </tr>
              </tbody>
            </table>
          </div>
          <h2>{t("report.by_category")}</h2>
          <div class="table-scroll" tabIndex={0} role="region" aria-label={t("report.by_category")}>
            <table data-testid="report-categories">
              <Head first="report.col.category" />
              <tbody>
                {r.categories.map((x) => (
                  <tr data-category={x.category ?? ""}>
                    <th scope="row">{x.category ? categories.name(x.category) : x.name}</th>
                    <Cells r={x} />
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <h2>{t("report.map")}</h2>
          <p>{t("report.hex", { m: r.hex_m })}</p>
          <HexMap report={r} />
        </>
      )}
    </>
  );
}
