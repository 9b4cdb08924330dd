// Maps of the outreach desk, on a plain background (no tiles): the events as points, and the
// suggested sites with their catchment circles. Leaflet is loaded only when a map opens.
import type { Map as LMap } from "leaflet";
import { useEffect, useRef, useState } from "preact/hooks";
import { call, get } from "../../common/api";
import { t } from "../../common/i18n";
import { ErrorMessage } from "../../common/ui";
import { allPages, type EventSummary } from "./util";

type Leaflet = typeof import("leaflet");

export async function leaflet(): Promise<Leaflet> {
  const [mod] = await Promise.all([import("leaflet"), import("leaflet/dist/leaflet.css")]);
  return ((mod as unknown as { default?: Leaflet }).default ?? mod) as Leaflet;
}

const STATUS_COLOUR: Record<string, string> = {
  draft: "#8a8f98",
  planned: "#0b5cab",
  approved: "#1b7f3b",
  held: "#6b3d99",
  reported: "#444",
  cancelled: "#c5221f",
};

interface Feature {
  id: number;
  geometry: { type: string; coordinates: [number, number] };
  properties: { id: number; title: string; status: string; starts_at: string; address: string | null; kind: string };
}

/** Every page of the events as GeoJSON points. The service currently sends X-Pagination twice
 * with format=geojson (the header then does not parse): the same events are then read from the
 * JSON list, whose rows carry the same location. */
async function eventFeatures(query: Record<string, string | number | undefined>): Promise<Feature[]> {
  try {
    const out: Feature[] = [];
    for (let p = 1; p < 50; p++) {
      const r = await call<{ features: Feature[] }>("/outreach/events", {
        query: { ...query, format: "geojson", page: p, page_size: 100 },
      });
      out.push(...r.data.features);
      if (!r.pagination || !r.pagination.total_pages || p >= r.pagination.total_pages) break;
    }
    return out;
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    const rows = await allPages<EventSummary>("/outreach/events", query);
    return rows
      .filter((ev) => ev.location)
      .map((ev) => ({
        id: ev.id,
        geometry: { type: "Point", coordinates: [ev.location!.lon, ev.location!.lat] },
        properties: ev,
      }));
  }
}

export async function drawArea(L: Leaflet, map: LMap, areaId: number | undefined) {
  if (!areaId) return null;
  try {
    const area = await get<{ geometry?: GeoJSON.GeoJsonObject }>(`/areas/${areaId}`);
    if (!area.geometry || !map.getContainer().isConnected) return null;
    const layer = L.geoJSON(area.geometry as GeoJSON.GeoJsonObject, {
      style: { color: "#667085", weight: 2, fill: true, fillColor: "#f2f4f7", fillOpacity: 0.6 },
      interactive: false,
    }).addTo(map);
    return layer.getBounds();
  } catch {
    return null;
  }
}

/** The map's element: a labelled region, busy until drawn, with the error line above it. */
export function MapRegion(props: {
  el: { current: HTMLDivElement | null };
  error: unknown;
  ready: boolean;
  label: string;
  testId: string;
}) {
  return (
    <div>
      <ErrorMessage error={props.error} />
      <div
        ref={props.el}
        class="or-map"
        role="region"
        aria-label={props.label}
        aria-busy={!props.ready}
        data-testid={props.testId}
        data-ready={props.ready ? "1" : "0"}
      />
    </div>
  );
}

export function useMap(
  el: preact.RefObject<HTMLDivElement>,
  draw: (L: Leaflet, map: LMap, alive: () => boolean) => Promise<void>,
  deps: unknown[],
) {
  const [error, setError] = useState<unknown>(null);
  const [ready, setReady] = useState(false);
  useEffect(() => {
    let map: LMap | null = null;
    let gone = false;
    setReady(false);
    setError(null);
    leaflet()
      .then(async (L) => {
        if (gone || !el.current) return;
        // No animations: a map removed mid-animation (the user moves on) throws in Leaflet.
        map = L.map(el.current, {
          attributionControl: false,
          zoomSnap: 0.25,
          zoomAnimation: false,
          fadeAnimation: false,
          markerZoomAnimation: false,
        }).setView([30.5, 104.05], 14);
        await draw(L, map, () => !gone);
        if (!gone) setReady(true);
      })
      .catch((e) => setError(e));
    return () => {
      gone = true;
      map?.remove();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return { error, ready };
}

export function EventsMap(props: { query: Record<string, string | number | undefined>; areaId?: number }) {
  const el = useRef<HTMLDivElement>(null);
  const key = JSON.stringify(props.query);
  const { error, ready } = useMap(
    el,
    async (L, map, alive) => {
      const areaBounds = await drawArea(L, map, props.areaId);
      const features = await eventFeatures(props.query);
      if (!alive()) return;
      const pts: [number, number][] = [];
      for (const f of features) {
        const [lon, lat] = f.geometry.coordinates;
        pts.push([lat, lon]);
        L.circleMarker([lat, lon], {
          radius: f.properties.kind === "launch" ? 10 : 7,
          color: "#fff",
          weight: 2,
          fillColor: STATUS_COLOUR[f.properties.status] ?? "#0b5cab",
          fillOpacity: 0.95,
        })
          .bindTooltip(`${f.properties.title}（${f.properties.starts_at.slice(0, 16).replace("T", " ")}）`)
          .on("click", () => {
            location.hash = `#/outreach/event/${f.properties.id}`;
          })
          .addTo(map);
      }
      if (pts.length) map.fitBounds(L.latLngBounds(pts).pad(0.2));
      else if (areaBounds) map.fitBounds(areaBounds);
    },
    [key, props.areaId],
  );
  return <MapRegion el={el} error={error} ready={ready} label={t("or.map_label")} testId="events-map" />;
}

export interface SitePoint {
  place_id: number;
  name: string;
  lon: number;
  lat: number;
}

export function SitesMap(props: { areaId: number; radius: number; sites: SitePoint[]; baseline: SitePoint[] }) {
  const el = useRef<HTMLDivElement>(null);
  const key = JSON.stringify([props.sites.map((s) => s.place_id), props.baseline.map((s) => s.place_id), props.radius]);
  const { error, ready } = useMap(
    el,
    async (L, map, alive) => {
      const areaBounds = await drawArea(L, map, props.areaId);
      if (!alive()) return;
      const pts: [number, number][] = [];
      props.baseline.forEach((s) => {
        L.circle([s.lat, s.lon], {
          radius: props.radius,
          color: "#8a5a00",
          weight: 2,
          dashArray: "6 6",
          fill: false,
        })
          .bindTooltip(`${t("or.sites.baseline")}：${s.name}`)
          .addTo(map);
      });
      props.sites.forEach((s, i) => {
        pts.push([s.lat, s.lon]);
        L.circle([s.lat, s.lon], { radius: props.radius, color: "#0b5cab", weight: 2, fillOpacity: 0.12 })
          .bindTooltip(`${i + 1}. ${s.name}`)
          .addTo(map);
        L.circleMarker([s.lat, s.lon], { radius: 5, color: "#0b5cab", fillOpacity: 1 }).addTo(map);
      });
      if (areaBounds) map.fitBounds(areaBounds);
      else if (pts.length) map.fitBounds(L.latLngBounds(pts).pad(0.3));
    },
    [key, props.areaId],
  );
  return <MapRegion el={el} error={error} ready={ready} label={t("or.sites.map")} testId="sites-map" />;
}
