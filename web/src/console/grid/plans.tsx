// Grid layouts: types, the metrics table (one column per layout) and a layout's cells on a map.
import { useEffect, useRef } from "preact/hooks";
import { get } from "../../common/api";
import { t } from "../../common/i18n";
import type { FeatureCollection, MapHandle } from "../../common/map";
import { cellStyler } from "../map/colours";
import { MapView } from "../map/MapView";
import "./strings";

export interface Plan {
  id: number;
  area_id: number;
  name: string;
  method: string;
  status: string;
  version: number;
  metrics: Record<string, any>;
  note?: string | null;
  effective_from?: string | null;
  created_at: string;
}

export function planName(p: Plan): string {
  return p.name || `#${p.id}`;
}

const num = (v: unknown, digits = 3) =>
  typeof v === "number" ? String(Math.round(v * 10 ** digits) / 10 ** digits) : "—";

const ROWS: [string, (m: Record<string, any>) => string][] = [
  ["grid.m.cell_count", (m) => num(m.cell_count, 0)],
  ["grid.m.balance_ratio", (m) => num(m.balance_ratio)],
  [
    "grid.m.workload",
    (m) => (m.workload ? `${num(m.workload.min, 1)} / ${num(m.workload.mean, 1)} / ${num(m.workload.max, 1)}` : "—"),
  ],
  ["grid.m.compactness", (m) => num(m.compactness?.mean)],
  ["grid.m.area", (m) => num(m.area_m2?.mean, 0)],
  ["grid.m.gap", (m) => num(m.gap_area_m2)],
  ["grid.m.overlap", (m) => num(m.overlap_area_m2)],
  ["grid.m.unassigned", (m) => num(m.places_unassigned, 0)],
  ["grid.m.seconds", (m) => num(m.seconds, 2)],
];

export function MetricsTable({ plans, caption }: { plans: Plan[]; caption: string }) {
  return (
    <table class="metrics" data-testid="metrics">
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">{t("grid.metric")}</th>
          {plans.map((p) => (
            <th scope="col">
              {planName(p)} ({t(`grid.method.${p.method}`)})
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {ROWS.map(([key, f]) => (
          <tr>
            <th scope="row">{t(key)}</th>
            {plans.map((p) => (
              <td>{f(p.metrics ?? {})}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The layout's cells (GET /grid-plans/{id}/cells) coloured by workload. */
export function PlanMap({ plan, version }: { plan: Plan; version?: number }) {
  const map = useRef<MapHandle | null>(null);
  const cells = useRef<FeatureCollection | null>(null);
  function draw() {
    if (map.current && cells.current)
      map.current.setCells(cells.current, cellStyler("workload", cells.current, null), undefined, true);
  }
  useEffect(() => {
    get<FeatureCollection>(`/grid-plans/${plan.id}/cells`).then((fc) => {
      cells.current = fc;
      draw();
    });
  }, [plan.id, version]);
  return (
    <MapView
      label={t("grid.map", { name: planName(plan) })}
      class="map small"
      testid={`plan-map-${plan.id}`}
      onReady={(m) => {
        map.current = m;
        draw();
      }}
    />
  );
}
