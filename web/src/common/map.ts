// The shared map: Leaflet (loaded on demand, so it lands in its own chunk), a plain background
// unless a tile URL is configured, boundaries and cells as GeoJSON layers, and places clustered
// with supercluster and drawn as circles on one canvas, so a street's 31,766 places stay fast.
import type * as Leaflet from "leaflet";
import type Supercluster from "supercluster";
import { ApiError, get } from "./api";

export type Feature = GeoJSON.Feature<GeoJSON.Geometry, Record<string, any>>;
export type FeatureCollection = GeoJSON.FeatureCollection<GeoJSON.Geometry, Record<string, any>>;

let tileUrl: Promise<string | null> | null = null;

/** The base map's tile URL from GET /client-config; none (a plain background) when unset. */
export function configuredTileUrl(): Promise<string | null> {
  if (!tileUrl) {
    tileUrl = get<{ map_tile_url?: string | null }>("/client-config")
      .then((c) => c?.map_tile_url || null)
      .catch((e) => {
        if (e instanceof ApiError && e.status === 404) return null; // not there yet: no tiles
        return null;
      });
  }
  return tileUrl;
}

export interface CellStyle {
  fill: string;
  label?: string;
}

export interface MapHandle {
  map: Leaflet.Map;
  L: typeof Leaflet;
  /** An area outline (or several), drawn under everything else; fits the view to it. */
  setBoundary(geojson: GeoJSON.GeoJsonObject | null, fit?: boolean): void;
  /** Cells filled by ``style``; ``onClick`` gets the clicked cell's feature. */
  setCells(
    fc: FeatureCollection | null,
    style: (f: Feature) => CellStyle,
    onClick?: (f: Feature) => void,
    fit?: boolean,
  ): void;
  /** Highlight one cell by id (null: none). */
  highlightCell(id: number | null): void;
  /** Places as a clustered layer; resolves when drawn. ``onClick`` gets a clicked place. */
  setPlaces(fc: FeatureCollection | null, onClick?: (f: Feature) => void): Promise<void>;
  /** How many clusters/points are drawn now (for tests and the status line). */
  drawnPlaces(): number;
  destroy(): void;
}

const PLACE_COLOURS: Record<string, string> = {
  household: "#2f6fde",
  enterprise: "#c2410c",
  school: "#7c3aed",
  market: "#047857",
  square: "#047857",
};

/** A map in ``el``. Leaflet and its CSS are imported here, on first use. */
export async function createMap(el: HTMLElement): Promise<MapHandle> {
  const [L, tiles] = await Promise.all([
    import("leaflet").then((m) => (m as unknown as { default: typeof Leaflet }).default ?? m),
    configuredTileUrl(),
    import("leaflet/dist/leaflet.css"),
  ]);
  const renderer = L.canvas({ padding: 0.3 });
  // No animations: a map removed mid-animation (the user moves on, a comparison closes) throws
  // in Leaflet (reading '_leaflet_pos' of a pane already gone).
  const map = L.map(el, {
    preferCanvas: true,
    renderer,
    zoomSnap: 0.5,
    attributionControl: !!tiles,
    zoomAnimation: false,
    fadeAnimation: false,
    markerZoomAnimation: false,
  }).setView([30.5, 104.05], 13);
  el.classList.add(tiles ? "map-tiles" : "map-plain");
  if (tiles) L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);

  let boundary: Leaflet.GeoJSON | null = null;
  let cells: Leaflet.GeoJSON | null = null;
  let cellStyle: ((f: Feature) => CellStyle) | null = null;
  let highlighted: number | null = null;
  const placesLayer = L.layerGroup().addTo(map);
  let index: Supercluster | null = null;
  let onPlace: ((f: Feature) => void) | undefined;
  let drawn = 0;

  function styleOf(f: Feature): Leaflet.PathOptions {
    const s = cellStyle ? cellStyle(f) : { fill: "#9ca3af" };
    const on = highlighted !== null && f.properties?.id === highlighted;
    return {
      renderer,
      color: on ? "#111827" : "#374151",
      weight: on ? 3 : 1,
      fillColor: s.fill,
      fillOpacity: 0.45,
    };
  }

  function fitTo(layer: Leaflet.GeoJSON) {
    const b = layer.getBounds();
    if (b.isValid()) map.fitBounds(b, { padding: [10, 10] });
  }

  function drawPlaces() {
    placesLayer.clearLayers();
    drawn = 0;
    if (!index) return;
    const b = map.getBounds();
    const zoom = Math.round(map.getZoom());
    const items = index.getClusters([b.getWest(), b.getSouth(), b.getEast(), b.getNorth()], zoom);
    for (const item of items) {
      const [lon, lat] = item.geometry.coordinates;
      const p = item.properties as Record<string, any>;
      let marker: Leaflet.CircleMarker;
      if (p.cluster) {
        const n = p.point_count as number;
        marker = L.circleMarker([lat, lon], {
          renderer,
          radius: Math.min(18, 5 + Math.log2(n) * 1.4),
          color: "#1e3a8a",
          weight: 1,
          fillColor: "#3b82f6",
          fillOpacity: 0.55,
        });
        marker.bindTooltip(String(n));
        marker.on("click", () => {
          const z = Math.min(index!.getClusterExpansionZoom(p.cluster_id), 19);
          map.setView([lat, lon], z);
        });
      } else {
        marker = L.circleMarker([lat, lon], {
          renderer,
          radius: 3.5,
          color: "#fff",
          weight: 0.8,
          fillColor: PLACE_COLOURS[p.type] ?? "#6b7280",
          fillOpacity: 0.95,
        });
        marker.bindTooltip(`${p.name || p.type}${p.cell ? ` · ${p.cell}` : ""}`);
        if (onPlace) marker.on("click", () => onPlace?.(item as unknown as Feature));
      }
      placesLayer.addLayer(marker);
      drawn++;
    }
  }
  map.on("moveend", drawPlaces);

  return {
    map,
    L,
    setBoundary(geojson, fit = true) {
      if (boundary) boundary.remove();
      boundary = null;
      if (!geojson) return;
      boundary = L.geoJSON(geojson as any, {
        style: { renderer, color: "#111827", weight: 2, fill: false, dashArray: "6 4" } as any,
        interactive: false,
      }).addTo(map);
      boundary.bringToBack();
      if (fit) fitTo(boundary);
    },
    setCells(fc, style, onClick, fit = false) {
      if (cells) cells.remove();
      cells = null;
      cellStyle = style;
      if (!fc) return;
      cells = L.geoJSON(fc as any, {
        style: (f) => styleOf(f as Feature),
        onEachFeature: (f, layer) => {
          const s = style(f as Feature);
          if (s.label) layer.bindTooltip(s.label, { sticky: true });
          if (onClick) layer.on("click", () => onClick(f as Feature));
        },
      }).addTo(map);
      if (fit) fitTo(cells);
    },
    highlightCell(id) {
      highlighted = id;
      cells?.setStyle((f) => styleOf(f as Feature));
    },
    async setPlaces(fc, onClick) {
      onPlace = onClick;
      if (!fc) {
        index = null;
        drawPlaces();
        return;
      }
      const { default: SC } = await import("supercluster");
      index = new SC({ radius: 50, maxZoom: 17, minPoints: 3 });
      index.load(fc.features as any);
      drawPlaces();
    },
    drawnPlaces: () => drawn,
    destroy() {
      map.off();
      map.remove();
    },
  };
}

/** A colour per value (worker id, …), stable and distinct enough for neighbours. */
export function colourFor(n: number): string {
  const hue = (n * 137.508) % 360;
  return `hsl(${hue.toFixed(0)} 65% 55%)`;
}

/** Light (low) to dark (high) for a share in [0, 1]. */
export function ramp(share: number): string {
  const s = Math.max(0, Math.min(1, share));
  const light = 88 - s * 55;
  return `hsl(25 85% ${light.toFixed(0)}%)`;
}
