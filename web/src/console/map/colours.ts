// How cells are coloured on the maps: by workload, by assigned worker, or by vacancy.
import { t } from "../../common/i18n";
import { colourFor, type Feature, type FeatureCollection, ramp } from "../../common/map";

export type Mode = "workload" | "worker" | "vacancy";

export function cellStyler(mode: Mode, fc: FeatureCollection | null, vacant: Set<string> | null) {
  const loads = (fc?.features ?? []).map((f) => Number(f.properties.workload) || 0);
  const min = loads.length ? Math.min(...loads) : 0;
  const span = Math.max(1e-9, (loads.length ? Math.max(...loads) : 1) - min);
  return (f: Feature) => {
    const p = f.properties;
    if (mode === "worker")
      return { fill: p.worker ? colourFor(p.worker.id) : "#e5e7eb", label: `${p.code} · ${p.worker?.full_name ?? t("map.legend_vacant")}` };
    if (mode === "vacancy") {
      const isVacant = vacant ? vacant.has(p.code) : !p.worker;
      return { fill: isVacant ? "#dc2626" : "#16a34a", label: `${p.code} · ${isVacant ? t("map.legend_vacant") : t("map.legend_held")}` };
    }
    return { fill: ramp(((Number(p.workload) || 0) - min) / span), label: `${p.code} · ${p.workload}` };
  };
}

