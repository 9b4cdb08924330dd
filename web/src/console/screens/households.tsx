// Households: the register, always masked in the list; reading one in clear is an explicit
// action (GET /households/{id}), audited by the service, and says so.
import { useEffect, useState } from "preact/hooks";
import { get } from "../../common/api";
import { registerStrings, t } from "../../common/i18n";
import type { FeatureCollection } from "../../common/map";
import { ErrorMessage, PagedList, useAsync } from "../../common/ui";
import "../field/field.css";
import { AreaPicker, type AreaSummary, homeArea, visibleAreas } from "../map/areas";

registerStrings(
  {
    "hh.title": "住户",
    "hh.list": "住户登记（已脱敏）",
    "hh.col.door": "门牌",
    "hh.col.address": "地址",
    "hh.col.phone": "电话",
    "hh.col.id": "身份证号",
    "hh.col.members": "人数",
    "hh.read": "查看明文：{door}",
    "hh.audited": "查看明文会记入审计日志（谁、何时、哪一户）。",
    "hh.detail": "住户详情 {door}",
    "hh.clear": "明文",
    "hh.masked": "您无权查看明文，以下为脱敏信息。",
    "hh.members": "家庭成员",
    "hh.member": "{name}（{relation}）{work_unit}",
    "hh.close": "关闭详情",
    "hh.cell": "网格",
    "hh.all_cells": "全部网格",
  },
  {
    "hh.title": "Households",
    "hh.list": "Household register (masked)",
    "hh.col.door": "Door",
    "hh.col.address": "Address",
    "hh.col.phone": "Phone",
    "hh.col.id": "ID number",
    "hh.col.members": "Members",
    "hh.read": "Read in clear: {door}",
    "hh.audited": "Reading in clear is recorded in the audit log (who, when, which household).",
    "hh.detail": "Household {door}",
    "hh.clear": "in clear",
    "hh.masked": "You may not see this household in clear; shown masked.",
    "hh.members": "Members",
    "hh.member": "{name} ({relation}) {work_unit}",
    "hh.close": "Close the details",
    "hh.cell": "Cell",
    "hh.all_cells": "all cells",
  },
);

interface Household {
  id: number;
  door_number: string | null;
  address: string | null;
  phone: string | null;
  id_number: string | null;
  member_count: number;
  members?: { name: string; relation?: string | null; work_unit?: string | null }[];
  masked: boolean;
}

export default function Screen(_props: { rest: string[] }) {
  const [area, setArea] = useState<AreaSummary | null>(null);
  const [cell, setCell] = useState("");
  const [open, setOpen] = useState<Household | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    visibleAreas()
      .then((areas) => setArea(homeArea(areas) ?? null))
      .catch(setError);
  }, []);
  useEffect(() => {
    if (open) document.getElementById("hh-detail-title")?.focus();
  }, [open?.id]);

  const cells = useAsync(
    () =>
      area
        ? get<FeatureCollection>(`/areas/${area.id}/cells`).then((fc) =>
            fc.features
              .map((f) => ({ id: f.properties.id as number, code: f.properties.code as string }))
              .sort((a, b) => a.code.localeCompare(b.code)),
          )
        : Promise.resolve([]),
    [area?.id],
  );

  async function read(h: Household) {
    setError(null);
    try {
      setOpen(await get<Household>(`/households/${h.id}`));
    } catch (e) {
      setError(e);
    }
  }

  return (
    <div class="households-screen">
      <h1>{t("hh.title")}</h1>
      <div>
        <AreaPicker value={area?.id ?? null} onChange={(a) => { setArea(a); setCell(""); setOpen(null); }} />
        <label class="inline">
          {t("hh.cell")}
          <select value={cell} onChange={(e) => setCell((e.target as HTMLSelectElement).value)}>
            <option value="">{t("hh.all_cells")}</option>
            {(cells.data ?? []).map((c) => (
              <option value={c.id}>{c.code}</option>
            ))}
          </select>
        </label>
      </div>
      <p class="note">{t("hh.audited")}</p>
      <ErrorMessage error={error} />
      {open && (
        <section class="worker-panel" aria-labelledby="hh-detail-title" data-testid="household-detail">
          <h2 id="hh-detail-title" tabIndex={-1}>
            {t("hh.detail", { door: open.door_number ?? `#${open.id}` })}
            {!open.masked && ` · ${t("hh.clear")}`}
          </h2>
          {open.masked && <p>{t("hh.masked")}</p>}
          <dl class="pairs">
            <dt>{t("hh.col.address")}</dt>
            <dd>{open.address ?? "—"}</dd>
            <dt>{t("hh.col.phone")}</dt>
            <dd>{open.phone ?? "—"}</dd>
            <dt>{t("hh.col.id")}</dt>
            <dd>{open.id_number ?? "—"}</dd>
          </dl>
          <h3>{t("hh.members")}</h3>
          <ul>
            {(open.members ?? []).map((m) => (
              <li>{t("hh.member", { name: m.name, relation: m.relation ?? "", work_unit: m.work_unit ?? "" })}</li>
            ))}
          </ul>
          <button type="button" onClick={() => setOpen(null)}>
            {t("hh.close")}
          </button>
        </section>
      )}
      {area && (
        <section aria-labelledby="hh-list-title">
          <h2 id="hh-list-title">{t("hh.list")}</h2>
          <PagedList<Household>
            path="/households"
            query={{ area: area.id, cell: cell || undefined }}
            pageSize={50}
            render={(rows) => (
              <table>
                <thead>
                  <tr>
                    <th scope="col">{t("hh.col.door")}</th>
                    <th scope="col">{t("hh.col.address")}</th>
                    <th scope="col">{t("hh.col.phone")}</th>
                    <th scope="col">{t("hh.col.id")}</th>
                    <th scope="col">{t("hh.col.members")}</th>
                    <th scope="col">
                      <span class="sr-only">{t("hh.clear")}</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((h) => (
                    <tr>
                      <td>{h.door_number ?? "—"}</td>
                      <td>{h.address ?? "—"}</td>
                      <td>{h.phone ?? "—"}</td>
                      <td>{h.id_number ?? "—"}</td>
                      <td>{h.member_count}</td>
                      <td>
                        <button type="button" onClick={() => read(h)} title={t("hh.audited")}>
                          {t("hh.read", { door: h.door_number ?? `#${h.id}` })}
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          />
        </section>
      )}
    </div>
  );
}
