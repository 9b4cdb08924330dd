// The visit list (走访名单): filters, a paged table or the map (format=geojson), and the CSV
// import with its report (each rejected row with its code and errors).
import { useEffect, useRef, useState } from "preact/hooks";
import { call, get } from "../../common/api";
import { t } from "../../common/i18n";
import { ErrorMessage, PagedList } from "../../common/ui";
import { drawArea, MapRegion, useMap } from "../outreach/map";
import { type Enterprise, type Query, tl, type VisitsProgramme } from "./util";

const STATUS_COLOUR: Record<string, string> = { listed: "#0b5cab", visited: "#1b7f3b", closed: "#8a8f98" };

export function InstitutionSelect(props: {
  p: VisitsProgramme;
  value: string;
  onChange: (v: string) => void;
  label?: string;
  all?: boolean;
}) {
  return (
    <label>
      {props.label ?? t("vi.institution")}
      <select value={props.value} onChange={(e) => props.onChange((e.target as HTMLSelectElement).value)}>
        {props.all !== false && <option value="">{t("vi.all")}</option>}
        {props.p.institutions.map((c) => (
          <option value={c}>{c}</option>
        ))}
      </select>
    </label>
  );
}

export function VisitorInput(props: { value: string; onChange: (v: string) => void }) {
  return (
    <label>
      {t("vi.visitor")}
      <input
        value={props.value}
        placeholder={t("vi.visitor_hint")}
        onChange={(e) => props.onChange((e.target as HTMLInputElement).value.trim())}
      />
    </label>
  );
}

function EnterprisesMap({ p, query }: { p: VisitsProgramme; query: Query }) {
  const el = useRef<HTMLDivElement>(null);
  const key = JSON.stringify(query);
  const { error, ready } = useMap(
    el,
    async (L, map, alive) => {
      const bounds = await drawArea(L, map, p.area_id);
      const fc = await get<{ features: { geometry: { coordinates: [number, number] }; properties: Enterprise }[] }>(
        `/outreach/programmes/${p.id}/enterprises`,
        { ...query, format: "geojson" },
      );
      if (!alive()) return;
      const pts: [number, number][] = [];
      for (const f of fc.features) {
        const [lon, lat] = f.geometry.coordinates;
        pts.push([lat, lon]);
        const e = f.properties;
        L.circleMarker([lat, lon], {
          radius: 5,
          color: e.overdue ? "#c5221f" : "#fff",
          weight: e.overdue ? 2 : 1,
          fillColor: STATUS_COLOUR[e.status] ?? "#0b5cab",
          fillOpacity: 0.9,
        })
          .bindTooltip(`${e.name}（${e.credit_code}）${e.institution} · ${tl(`vi.status.${e.status}`)}`)
          .addTo(map);
      }
      if (bounds) map.fitBounds(bounds);
      else if (pts.length) map.fitBounds(L.latLngBounds(pts).pad(0.2));
    },
    [key, p.id],
  );
  return <MapRegion el={el} error={error} ready={ready} label={t("vi.map_label")} testId="visits-map" />;
}

export function ListScreen({ p }: { p: VisitsProgramme }) {
  const [institution, setInstitution] = useState("");
  const [visitor, setVisitor] = useState("");
  const [status, setStatus] = useState("");
  const [overdue, setOverdue] = useState("");
  const [view, setView] = useState("table");
  const query: Query = { institution, visitor, status, overdue };
  return (
    <section aria-labelledby="vi-list-h">
      <h2 id="vi-list-h">{t("vi.tab.list")}</h2>
      <form class="filters" aria-label={t("vi.filters")} onSubmit={(e) => e.preventDefault()}>
        <InstitutionSelect p={p} value={institution} onChange={setInstitution} />
        <VisitorInput value={visitor} onChange={setVisitor} />
        <label>
          {t("vi.status")}
          <select value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value)}>
            <option value="">{t("vi.all")}</option>
            {["listed", "visited", "closed"].map((s) => (
              <option value={s}>{t(`vi.status.${s}`)}</option>
            ))}
          </select>
        </label>
        <label>
          {t("vi.overdue")}
          <select value={overdue} onChange={(e) => setOverdue((e.target as HTMLSelectElement).value)}>
            <option value="">{t("vi.all")}</option>
            <option value="true">{t("vi.overdue.yes")}</option>
            <option value="false">{t("vi.overdue.no")}</option>
          </select>
        </label>
        <label>
          {t("vi.view")}
          <select value={view} onChange={(e) => setView((e.target as HTMLSelectElement).value)}>
            <option value="table">{t("vi.view.table")}</option>
            <option value="map">{t("vi.view.map")}</option>
          </select>
        </label>
      </form>
      {view === "map" ? (
        <EnterprisesMap p={p} query={query} />
      ) : (
        <PagedList<Enterprise>
          path={`/outreach/programmes/${p.id}/enterprises`}
          query={query}
          render={(rows) => (
            <table data-testid="visit-list">
              <thead>
                <tr>
                  <th scope="col">{t("vi.name")}</th>
                  <th scope="col">{t("vi.credit_code")}</th>
                  <th scope="col">{t("vi.institution")}</th>
                  <th scope="col">{t("vi.visitor")}</th>
                  <th scope="col">{t("vi.status")}</th>
                  <th scope="col">{t("vi.tab.record")}</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((e) => (
                  <tr>
                    <td>{e.name}</td>
                    <td class="mono">{e.credit_code}</td>
                    <td>{e.institution}</td>
                    <td>{e.visitor === "cell" ? t("vi.visitor.cell") : (e.visitor ?? "—")}</td>
                    <td>
                      {tl(`vi.status.${e.status}`)}
                      {e.overdue ? `（${t("vi.overdue")}）` : ""}
                    </td>
                    <td>
                      <a href={`#/outreach/visits/${p.id}/record/${e.id}`} aria-label={`${t("vi.tab.record")}：${e.name}`}>
                        {t("vi.tab.record")}
                      </a>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        />
      )}
    </section>
  );
}

interface ImportReport {
  received: number;
  created: number;
  updated: number;
  rejected: {
    row: number;
    credit_code: string | null;
    code: string;
    errors: Record<string, string[]>;
    place_id?: number;
  }[];
}

interface AreaOption {
  id: number;
  name: string;
}

// The register join (从地点登记册加入): every register enterprise of an area, with one
// institution and visitor (`cell` by default); its report is the import's.
function RegisterJoin(props: { p: VisitsProgramme; onReport: (r: ImportReport | null, e: unknown) => void }) {
  const { p } = props;
  const [areas, setAreas] = useState<AreaOption[]>([]);
  const [area, setArea] = useState(String(p.area_id));
  const [institution, setInstitution] = useState(p.institutions[0] ?? "");
  const [visitor, setVisitor] = useState("cell");
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    // The programme area's communities, where the caller sees them (a bank sees no areas:
    // it joins the whole programme area).
    get<AreaOption[]>("/areas", { parent: p.area_id, page_size: 100 })
      .then((rows) => setAreas(Array.isArray(rows) ? rows : []))
      .catch(() => setAreas([]));
  }, [p.area_id]);
  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    props.onReport(null, null);
    try {
      const r = await call<ImportReport>(`/outreach/programmes/${p.id}/enterprises/from-register`, {
        method: "POST",
        body: { area_id: Number(area), institution, visitor: visitor.trim() || "cell" },
      });
      props.onReport(r.data, null);
    } catch (err) {
      props.onReport(null, err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <form class="inline-form" onSubmit={submit} aria-busy={busy} aria-labelledby="vi-register-h">
      <h3 id="vi-register-h">{t("vi.register.title")}</h3>
      <p>{t("vi.register.help")}</p>
      <label>
        {t("vi.register.area")}
        <select value={area} onChange={(e) => setArea((e.target as HTMLSelectElement).value)}>
          <option value={String(p.area_id)}>{t("vi.register.whole")}</option>
          {areas
            .filter((a) => a.id !== p.area_id)
            .map((a) => (
              <option value={String(a.id)}>{a.name}</option>
            ))}
        </select>
      </label>
      <InstitutionSelect p={p} value={institution} onChange={setInstitution} all={false} />
      <label>
        {t("vi.visitor")}
        <input value={visitor} onInput={(e) => setVisitor((e.target as HTMLInputElement).value)} />
      </label>
      <button type="submit" disabled={busy || !institution}>
        {t("vi.register.submit")}
      </button>
    </form>
  );
}

export function ImportScreen({ p }: { p: VisitsProgramme }) {
  const [report, setReport] = useState<ImportReport | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: Event) {
    e.preventDefault();
    const file = new FormData(e.currentTarget as HTMLFormElement).get("file");
    if (!(file instanceof File) || !file.size) return;
    setBusy(true);
    setError(null);
    setReport(null);
    try {
      const r = await call<ImportReport>(`/outreach/programmes/${p.id}/enterprises`, {
        method: "POST",
        body: file,
        contentType: "text/csv",
      });
      setReport(r.data);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <section aria-labelledby="vi-import-h">
      <h2 id="vi-import-h">{t("vi.import.title")}</h2>
      <p>{t("vi.import.help")}</p>
      <form class="inline-form" onSubmit={submit} aria-busy={busy}>
        <label>
          {t("vi.import.file")}
          <input type="file" name="file" accept=".csv,text/csv" required />
        </label>
        <button type="submit" disabled={busy}>
          {t("vi.import.submit")}
        </button>
      </form>
      <RegisterJoin
        p={p}
        onReport={(r, err) => {
          setReport(r);
          setError(err);
        }}
      />
      <ErrorMessage error={error} />
      {report && (
        <section aria-labelledby="vi-report-h" data-testid="import-report">
          <h3 id="vi-report-h">{t("vi.import.report")}</h3>
          <div role="status">
          <ul class="vi-counts">
            <li>{t("vi.import.received", { n: report.received })}</li>
            <li>{t("vi.import.created", { n: report.created })}</li>
            <li>{t("vi.import.updated", { n: report.updated })}</li>
            <li>{t("vi.import.rejected", { n: report.rejected.length })}</li>
          </ul>
          </div>
          {report.rejected.length ? (
            <table data-testid="import-rejected">
              <thead>
                <tr>
                  <th scope="col">{t("vi.import.row")}</th>
                  <th scope="col">{t("vi.credit_code")}</th>
                  <th scope="col">{t("vi.import.code")}</th>
                  <th scope="col">{t("vi.import.errors")}</th>
                </tr>
              </thead>
              <tbody>
                {report.rejected.map((r) => (
                  <tr data-code={r.code}>
                    <td>{r.row}</td>
                    <td class="mono">
                      {r.credit_code || "—"}
                      {r.place_id ? ` (${t("vi.register.place", { id: r.place_id })})` : ""}
                    </td>
                    <td>
                      {tl(`vi.reject.${r.code}`)} <code>{r.code}</code>
                    </td>
                    <td>
                      {Object.entries(r.errors ?? {})
                        .map(([k, v]) => `${k}: ${(Array.isArray(v) ? v : [v]).join(" ")}`)
                        .join("；")}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p>{t("vi.import.none")}</p>
          )}
        </section>
      )}
    </section>
  );
}
