// One place of the map (clicked on the map, or picked from a cell's place list): its type and
// cell, and the households registered there — masked, as the list always is; reading one in
// clear is an explicit action (GET /households/{id}, audited by the service).
import { useEffect, useState } from "preact/hooks";
import { get } from "../../common/api";
import { registerStrings, t } from "../../common/i18n";
import { ErrorMessage, PagedList } from "../../common/ui";
import { hasRole } from "../session";

registerStrings(
  {
    "place.title": "地点 {name}",
    "place.type": "类型",
    "place.cell": "网格",
    "place.households": "该地点的住户（已脱敏）",
    "place.not_allowed": "您的角色不能查看住户。",
    "place.read": "查看明文：{door}",
    "place.audited": "查看明文会记入审计日志。",
    "place.clear": "明文",
    "place.close": "关闭地点",
    "place.members": "{n} 人",
    "place.type.household": "住宅",
    "place.type.enterprise": "企业",
    "place.type.school": "学校",
    "place.type.market": "市场",
    "place.type.square": "广场",
    "place.list": "网格内的地点",
    "place.open": "打开地点 {name}",
  },
  {
    "place.title": "Place {name}",
    "place.type": "Type",
    "place.cell": "Cell",
    "place.households": "Households at this place (masked)",
    "place.not_allowed": "Your role may not see households.",
    "place.read": "Read in clear: {door}",
    "place.audited": "Reading in clear is recorded in the audit log.",
    "place.clear": "in clear",
    "place.close": "Close the place",
    "place.members": "{n} members",
    "place.type.household": "residence",
    "place.type.enterprise": "enterprise",
    "place.type.school": "school",
    "place.type.market": "market",
    "place.type.square": "square",
    "place.list": "Places in this cell",
    "place.open": "Open place {name}",
  },
);

/** The roles that may list households (GET /households). */
export const HOUSEHOLD_ROLES = ["station", "street_centre", "district_centre"];

export interface PlaceInfo {
  id: number;
  name: string | null;
  type: string;
  cell: string | null;
}

interface Household {
  id: number;
  door_number: string | null;
  address: string | null;
  phone: string | null;
  id_number: string | null;
  member_count: number;
  masked: boolean;
}

export function placeName(p: PlaceInfo): string {
  return p.name || `#${p.id}`;
}

function typeName(type: string): string {
  const key = `place.type.${type}`;
  const s = t(key);
  return s === key ? type : s;
}

export function PlacePanel(props: { place: PlaceInfo; onClose: () => void }) {
  const p = props.place;
  const allowed = hasRole(...HOUSEHOLD_ROLES);
  const [clear, setClear] = useState<Household | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    setClear(null);
    setError(null);
    document.getElementById("place-panel-title")?.focus();
  }, [p.id]);

  async function read(h: Household) {
    setError(null);
    try {
      setClear(await get<Household>(`/households/${h.id}`));
    } catch (e) {
      setError(e);
    }
  }

  return (
    <section class="cell-panel" aria-labelledby="place-panel-title" data-testid="place-panel">
      <h2 id="place-panel-title" tabIndex={-1}>
        {t("place.title", { name: placeName(p) })}
      </h2>
      <button type="button" class="close" onClick={props.onClose} aria-label={t("place.close")}>
        ×
      </button>
      <dl>
        <dt>{t("place.type")}</dt>
        <dd>{typeName(p.type)}</dd>
        <dt>{t("place.cell")}</dt>
        <dd>{p.cell ?? "—"}</dd>
      </dl>
      {!allowed ? (
        <p>{t("place.not_allowed")}</p>
      ) : (
        <>
          <h3>{t("place.households")}</h3>
          <p class="note">{t("place.audited")}</p>
          <ErrorMessage error={error} />
          <PagedList<Household>
            path="/households"
            query={{ place: p.id }}
            pageSize={20}
            render={(rows) => (
              <ul class="households" data-testid="place-households">
                {rows.map((h) => {
                  const shown = clear?.id === h.id ? clear : h;
                  const door = h.door_number ?? `#${h.id}`;
                  return (
                    <li>
                      {door} · {shown.phone ?? "—"} · {shown.id_number ?? "—"} ·{" "}
                      {t("place.members", { n: h.member_count })}
                      {clear?.id === h.id && !clear.masked ? ` (${t("place.clear")})` : ""}{" "}
                      {clear?.id !== h.id && (
                        <button type="button" onClick={() => read(h)}>
                          {t("place.read", { door })}
                        </button>
                      )}
                    </li>
                  );
                })}
              </ul>
            )}
          />
        </>
      )}
    </section>
  );
}

/** The places of a cell, paged, each a button that opens its panel (the keyboard's way to the
 * places the map draws on its canvas). */
export function CellPlaces(props: { cellId: number; onOpen: (p: PlaceInfo) => void; cell: string }) {
  return (
    <>
      <h3>{t("place.list")}</h3>
      <PagedList<{ id: number; name: string | null; type: string }>
        path="/places"
        query={{ cell: props.cellId, sort: "name" }}
        pageSize={10}
        render={(rows) => (
          <ul data-testid="cell-places">
            {rows.map((r) => (
              <li>
                <button
                  type="button"
                  onClick={() => props.onOpen({ id: r.id, name: r.name, type: r.type, cell: props.cell })}
                >
                  {t("place.open", { name: r.name || `#${r.id}` })}
                </button>
              </li>
            ))}
          </ul>
        )}
      />
    </>
  );
}
