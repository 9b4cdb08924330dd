// The day's patrol coverage: the share, a table per cell and the cells on a map (patrolled
// green, not patrolled red).
import { useEffect, useRef, useState } from "preact/hooks";
import { get } from "../../common/api";
import { t } from "../../common/i18n";
import type { FeatureCollection, MapHandle } from "../../common/map";
import { ErrorMessage, useAsync } from "../../common/ui";
import { MapView } from "../map/MapView";
import { clock } from "./strings";

interface PatrolCell {
  cell_id: number;
  code: string;
  worker: { id: number; full_name: string } | null;
  patrolled: boolean;
  patrols: number;
  first: string | null;
  last: string | null;
}

interface Report {
  date: string;
  cells: PatrolCell[];
  unpatrolled: string[];
  patrolled_share: number;
}

export function Coverage({ areaId }: { areaId: number }) {
  const [day, setDay] = useState("");
  const report = useAsync(
    () => get<Report>("/reports/patrol-coverage", { area: areaId, date: day }),
    [areaId, day],
  );
  const map = useRef<MapHandle | null>(null);
  const [cells, setCells] = useState<FeatureCollection | null>(null);
  const [ready, setReady] = useState(false);
  useEffect(() => {
    get<FeatureCollection>(`/areas/${areaId}/cells`).then(setCells).catch(() => setCells(null));
  }, [areaId]);
  useEffect(() => {
    if (!map.current || !cells || !report.data) return;
    const done = new Set(report.data.cells.filter((c) => c.patrolled).map((c) => c.code));
    map.current.setCells(
      cells,
      (f) => ({
        fill: done.has(f.properties.code) ? "#16a34a" : "#dc2626",
        label: `${f.properties.code} · ${done.has(f.properties.code) ? t("field.yes") : t("field.no")}`,
      }),
      undefined,
      true,
    );
  }, [cells, report.data, ready]);
  const r = report.data;
  return (
    <section aria-labelledby="coverage-title">
      <h2 id="coverage-title">{t("field.coverage")}</h2>
      <label class="inline">
        {t("field.date")}
        <input type="date" value={day || r?.date || ""} onChange={(e) => setDay((e.target as HTMLInputElement).value)} />
      </label>
      <ErrorMessage error={report.error} />
      {r && (
        <>
          <p aria-live="polite">{t("field.share", { share: `${Math.round(r.patrolled_share * 1000) / 10}%` })}</p>
          <div class="coverage">
            <div class="table-scroll" tabIndex={0} role="region" aria-label={t("field.coverage_table")}>
              <table>
                <thead>
                  <tr>
                    <th scope="col">{t("field.col.cell")}</th>
                    <th scope="col">{t("field.col.worker")}</th>
                    <th scope="col">{t("field.col.patrolled")}</th>
                    <th scope="col">{t("field.col.patrols")}</th>
                    <th scope="col">{t("field.col.first")}</th>
                    <th scope="col">{t("field.col.last")}</th>
                  </tr>
                </thead>
                <tbody>
                  {r.cells.map((c) => (
                    <tr>
                      <td>{c.code}</td>
                      <td>{c.worker?.full_name ?? "—"}</td>
                      <td>{c.patrolled ? t("field.yes") : t("field.no")}</td>
                      <td>{c.patrols}</td>
                      <td>{clock(c.first)}</td>
                      <td>{clock(c.last)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <MapView
              label={t("field.coverage_map")}
              class="map small"
              onReady={(m) => {
                map.current = m;
                setReady(true);
              }}
            />
          </div>
        </>
      )}
    </section>
  );
}
