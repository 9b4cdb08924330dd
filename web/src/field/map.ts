// The cell map, loaded on demand (its own chunk, Leaflet inside): the worker's cells and their
// places from IndexedDB on a plain background (no tiles: it works with no network).
import L from "leaflet";
import "leaflet/dist/leaflet.css";
import type { Place } from "./db";

export interface MapHandle {
  destroy: () => void;
}

export function mountMap(
  el: HTMLElement,
  cells: GeoJSON.FeatureCollection | null,
  places: Place[],
  onCell: (id: number, code: string) => void,
  cellLabel: (code: string) => string,
): MapHandle {
  const map = L.map(el, { preferCanvas: true, zoomControl: true, attributionControl: false });
  const renderer = L.canvas({ padding: 0.2 });
  const layer = L.geoJSON(cells ?? undefined, {
    style: () => ({ color: "#0b5cab", weight: 2, fillColor: "#6ea8e6", fillOpacity: 0.15 }),
    onEachFeature: (f, lyr) => {
      const props = (f.properties ?? {}) as { id: number; code: string };
      lyr.bindTooltip(props.code, { permanent: false });
      lyr.on("click", () => onCell(props.id, props.code));
      (lyr as L.Path).options.interactive = true;
    },
  }).addTo(map);
  for (const p of places) {
    L.circleMarker([p.lat, p.lon], {
      renderer,
      radius: 3,
      color: "#b35900",
      weight: 1,
      fillOpacity: 0.8,
      interactive: false,
    }).addTo(map);
  }
  const bounds = layer.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [8, 8] });
  else if (places.length) map.fitBounds(L.latLngBounds(places.map((p) => [p.lat, p.lon] as [number, number])));
  else map.setView([30.66, 104.06], 13);
  el.setAttribute("aria-label", cellLabel(""));
  return { destroy: () => map.remove() };
}
