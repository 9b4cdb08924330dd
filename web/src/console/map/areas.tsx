// The area tree (GET /areas, then GET /areas/{id}/children as a branch opens) and a plain
// area picker for the other screens.
import { useEffect, useState } from "preact/hooks";
import { get, page } from "../../common/api";
import { lang, registerStrings, t } from "../../common/i18n";
import { ErrorMessage, useAsync } from "../../common/ui";
import { current } from "../session";

registerStrings(
  {
    "areas.tree": "区域",
    "areas.open": "展开 {name}",
    "areas.close": "收起 {name}",
    "areas.pick": "区域",
    "level.district": "新区",
    "level.street": "街道",
    "level.community": "社区",
  },
  {
    "areas.tree": "Areas",
    "areas.open": "Open {name}",
    "areas.close": "Close {name}",
    "areas.pick": "Area",
    "level.district": "district",
    "level.street": "street",
    "level.community": "community",
  },
);

export interface AreaSummary {
  id: number;
  code: string;
  name: string;
  name_en?: string | null;
  level: string;
  parent_id: number | null;
}

export function areaName(a: AreaSummary): string {
  return lang() === "en" && a.name_en ? a.name_en : a.name;
}

let allAreas: Promise<AreaSummary[]> | null = null;

/** Every area the signed-in user sees (the demo has 20; one page of 500 is plenty). */
export function visibleAreas(): Promise<AreaSummary[]> {
  if (!allAreas) {
    allAreas = page<AreaSummary>("/areas", { sort: "code" }, 1, 500).then((p) => p.rows);
    allAreas.catch(() => (allAreas = null));
  }
  return allAreas;
}

/** The area a screen starts on: the user's own, else the first street, else the first area. */
export function homeArea(areas: AreaSummary[]): AreaSummary | undefined {
  const mine = current()?.area_id;
  const own = areas.find((a) => a.id === mine);
  if (own && own.level !== "district") return own;
  return areas.find((a) => a.level === "street") ?? own ?? areas[0];
}

function Branch(props: {
  area: AreaSummary;
  selected: number | null;
  onSelect: (a: AreaSummary) => void;
  initiallyOpen: boolean;
}) {
  const [open, setOpen] = useState(props.initiallyOpen);
  const [children, setChildren] = useState<AreaSummary[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const a = props.area;
  const leaf = a.level === "community";
  useEffect(() => {
    if (open && children === null) {
      get<AreaSummary[]>(`/areas/${a.id}/children`, { page_size: 500 })
        .then(setChildren)
        .catch(setError);
    }
  }, [open]);
  const toggle = () => setOpen(!open);
  return (
    <li>
      {!leaf && (
        <button
          type="button"
          class="twisty"
          aria-expanded={open}
          aria-label={t(open ? "areas.close" : "areas.open", { name: areaName(a) })}
          onClick={toggle}
        >
          {open ? "▾" : "▸"}
        </button>
      )}
      <button
        type="button"
        class="area-name"
        aria-pressed={props.selected === a.id}
        onClick={() => props.onSelect(a)}
      >
        {areaName(a)} <small>{t(`level.${a.level}`)}</small>
      </button>
      <ErrorMessage error={error} />
      {open && children && children.length > 0 && (
        <ul>
          {children.map((c) => (
            <Branch
              key={c.id}
              area={c}
              selected={props.selected}
              onSelect={props.onSelect}
              initiallyOpen={false}
            />
          ))}
        </ul>
      )}
    </li>
  );
}

export function AreaTree(props: { selected: number | null; onSelect: (a: AreaSummary) => void }) {
  const { data, error } = useAsync(visibleAreas, []);
  const ids = new Set((data ?? []).map((a) => a.id));
  const roots = (data ?? []).filter((a) => a.parent_id === null || !ids.has(a.parent_id));
  return (
    <nav class="area-tree" aria-label={t("areas.tree")}>
      <ErrorMessage error={error} />
      <ul>
        {roots.map((r) => (
          <Branch
            key={r.id}
            area={r}
            selected={props.selected}
            onSelect={props.onSelect}
            initiallyOpen={r.level !== "community"}
          />
        ))}
      </ul>
    </nav>
  );
}

/** A <select> of the visible areas (optionally only some levels). */
export function AreaPicker(props: {
  value: number | null;
  onChange: (a: AreaSummary) => void;
  levels?: string[];
  label?: string;
}) {
  const { data, error } = useAsync(visibleAreas, []);
  const areas = (data ?? []).filter((a) => !props.levels || props.levels.includes(a.level));
  return (
    <label class="inline">
      {props.label ?? t("areas.pick")}
      <select
        value={props.value ?? ""}
        onChange={(e) => {
          const a = areas.find((x) => x.id === Number((e.target as HTMLSelectElement).value));
          if (a) props.onChange(a);
        }}
      >
        {props.value === null && <option value="">—</option>}
        {areas.map((a) => (
          <option value={a.id}>
            {areaName(a)} ({a.code})
          </option>
        ))}
      </select>
      <ErrorMessage error={error} />
    </label>
  );
}
