// The map: pick an area in the tree; its cells in force coloured by workload, worker or
// vacancy; its places clustered; a click on a cell (or the cell list, for the keyboard) opens
// the cell's panel.
import { useEffect, useRef, useState } from "preact/hooks";
import { get } from "../../common/api";
import { registerStrings, t } from "../../common/i18n";
import { type Feature, type FeatureCollection, type MapHandle, ramp } from "../../common/map";
import { ErrorMessage } from "../../common/ui";
import { cellStyler, type Mode } from "../map/colours";
import { type AreaSummary, AreaTree, areaName, homeArea, visibleAreas } from "../map/areas";
import { CellPanel } from "../map/CellPanel";
import { ImportPlaces } from "../map/ImportPlaces";
import { type PlaceInfo, PlacePanel } from "../map/PlacePanel";
import { MapView } from "../map/MapView";
import { hasRole } from "../session";
import "../map/map.css";

registerStrings(
  {
    "map.title": "地图",
    "map.region": "{name}地图",
    "map.colour": "网格着色",
    "map.by_workload": "按工作量",
    "map.by_worker": "按网格员",
    "map.by_vacancy": "按空缺",
    "map.places": "显示地点",
    "map.status": "{cells} 个网格，{places} 个地点",
    "map.loading": "正在加载地图数据…",
    "map.cell_list": "网格列表",
    "map.open_cell": "打开网格",
    "map.legend_vacant": "空缺",
    "map.legend_held": "有网格员",
    "map.legend_low": "工作量低",
    "map.legend_high": "工作量高",
    "map.no_cells": "该区域没有生效的网格",
  },
  {
    "map.title": "Map",
    "map.region": "Map of {name}",
    "map.colour": "Colour cells",
    "map.by_workload": "by workload",
    "map.by_worker": "by worker",
    "map.by_vacancy": "by vacancy",
    "map.places": "Show places",
    "map.status": "{cells} cells, {places} places",
    "map.loading": "Loading the map data…",
    "map.cell_list": "Cells",
    "map.open_cell": "Open cell",
    "map.legend_vacant": "vacant",
    "map.legend_held": "has a worker",
    "map.legend_low": "low workload",
    "map.legend_high": "high workload",
    "map.no_cells": "No cells in force in this area",
  },
);


export default function Screen(_props: { rest: string[] }) {
  const [area, setArea] = useState<AreaSummary | null>(null);
  const [mode, setMode] = useState<Mode>("workload");
  const [showPlaces, setShowPlaces] = useState(true);
  const [cells, setCells] = useState<FeatureCollection | null>(null);
  const [places, setPlaces] = useState<FeatureCollection | null>(null);
  const [vacant, setVacant] = useState<Set<string> | null>(null);
  const [selected, setSelected] = useState<Feature | null>(null);
  const [place, setPlace] = useState<PlaceInfo | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [drawn, setDrawn] = useState(false);
  const [imported, setImported] = useState(0); // a finished import draws the area again
  const mapRef = useRef<MapHandle | null>(null);
  const [mapReady, setMapReady] = useState(false);
  const today = ""; // the server's local today (the area's zone, not the browser's)

  useEffect(() => {
    visibleAreas()
      .then((areas) => setArea((a) => a ?? homeArea(areas) ?? null))
      .catch(setError);
  }, []);

  // the area's data: outline, cells in force, places, vacant cells
  useEffect(() => {
    if (!area) return;
    let stale = false;
    setBusy(true);
    setDrawn(false);
    setError(null);
    setSelected(null);
    setPlace(null);
    Promise.all([
      get<{ geometry: GeoJSON.Geometry }>(`/areas/${area.id}`),
      get<FeatureCollection>(`/areas/${area.id}/cells`),
      get<FeatureCollection>("/places", { area: area.id, format: "geojson" }),
      hasRole("station", "street_centre", "district_centre")
        ? get<{ code: string }[]>("/reports/vacant-cells", { area: area.id, date: today }).catch(
            () => null,
          )
        : Promise.resolve(null),
    ])
      .then(([detail, cellFc, placeFc, vac]) => {
        if (stale) return;
        performance.mark("gridserve:places-received"); // for the bench: response → map idle
        mapRef.current?.setBoundary(detail.geometry ?? null);
        setCells(cellFc);
        setPlaces(placeFc);
        setVacant(vac ? new Set(vac.map((v) => v.code)) : null);
      })
      .catch((e) => !stale && setError(e))
      .finally(() => !stale && setBusy(false));
    return () => {
      stale = true;
    };
  }, [area?.id, mapReady, imported]);

  useEffect(() => {
    const m = mapRef.current;
    if (!m) return;
    m.setCells(cells, cellStyler(mode, cells, vacant), (f) => setSelected(f));
    m.highlightCell(selected?.properties.id ?? null);
  }, [cells, mode, vacant, mapReady]);

  useEffect(() => {
    mapRef.current?.highlightCell(selected?.properties.id ?? null);
    if (selected) document.getElementById("cell-panel-title")?.focus();
  }, [selected]);

  useEffect(() => {
    const m = mapRef.current;
    if (!m) return;
    setDrawn(false);
    const open = (f: Feature) => {
      const p = f.properties;
      setPlace({ id: p.id, name: p.name ?? null, type: p.type, cell: p.cell ?? null });
    };
    m.setPlaces(showPlaces ? places : null, open).then(() => {
      setDrawn(!!places);
      if (places) requestAnimationFrame(() => performance.mark("gridserve:places-drawn"));
    });
  }, [places, showPlaces, mapReady]);

  const codes = (cells?.features ?? []).map((f) => f.properties.code as string).sort();
  return (
    <div class="map-screen">
      <aside class="map-side">
        <h1>{t("map.title")}</h1>
        <AreaTree selected={area?.id ?? null} onSelect={setArea} />
        <fieldset>
          <legend>{t("map.colour")}</legend>
          {(["workload", "worker", "vacancy"] as Mode[]).map((m) => (
            <label class="inline">
              <input
                type="radio"
                name="cell-colour"
                value={m}
                checked={mode === m}
                onChange={() => setMode(m)}
              />
              {t(`map.by_${m}`)}
            </label>
          ))}
        </fieldset>
        <Legend mode={mode} />
        <label class="inline">
          <input
            type="checkbox"
            checked={showPlaces}
            onChange={(e) => setShowPlaces((e.target as HTMLInputElement).checked)}
          />
          {t("map.places")}
        </label>
        {codes.length > 0 && (
          <form
            class="cell-pick"
            onSubmit={(e) => {
              e.preventDefault();
              const code = new FormData(e.currentTarget as HTMLFormElement).get("cell");
              setSelected(cells!.features.find((f) => f.properties.code === code) ?? null);
            }}
          >
            <label>
              {t("map.cell_list")}
              <select name="cell">
                {codes.map((c) => (
                  <option>{c}</option>
                ))}
              </select>
            </label>
            <button type="submit">{t("map.open_cell")}</button>
          </form>
        )}
        <p aria-live="polite" data-testid="map-status" data-drawn={drawn ? "yes" : "no"}>
          {busy
            ? t("map.loading")
            : cells && cells.features.length === 0
              ? t("map.no_cells")
              : t("map.status", {
                  cells: cells?.features.length ?? 0,
                  places: places?.features.length ?? 0,
                })}
        </p>
        <ErrorMessage error={error} />
        {selected && area && (
          <CellPanel
            cell={selected}
            areaId={area.id}
            today={today}
            onClose={() => setSelected(null)}
            onOpenPlace={setPlace}
          />
        )}
        {place && <PlacePanel place={place} onClose={() => setPlace(null)} />}
        {area && area.level !== "district" && hasRole("station", "street_centre", "district_centre") && (
          <ImportPlaces
            key={area.id}
            areaId={area.id}
            areaName={areaName(area)}
            onDone={() => setImported((n) => n + 1)}
          />
        )}
      </aside>
      <MapView
        label={t("map.region", { name: area ? areaName(area) : "" })}
        testid="map"
        onReady={(m) => {
          mapRef.current = m;
          setMapReady(true);
        }}
      />
    </div>
  );
}

function Legend({ mode }: { mode: Mode }) {
  const items =
    mode === "vacancy"
      ? [
          ["#dc2626", t("map.legend_vacant")],
          ["#16a34a", t("map.legend_held")],
        ]
      : mode === "workload"
        ? [
            [ramp(0), t("map.legend_low")],
            [ramp(1), t("map.legend_high")],
          ]
        : [["#e5e7eb", t("map.legend_vacant")]];
  return (
    <ul class="legend">
      {items.map(([colour, label]) => (
        <li>
          <span class="swatch" style={{ background: colour }} aria-hidden="true" />
          {label}
        </li>
      ))}
    </ul>
  );
}
