// Grid layouts: generate (each method), list, compare two side by side, open one to edit and
// take it through propose → approve → activate as the role allows.
import { useEffect, useState } from "preact/hooks";
import { get } from "../../common/api";
import { t } from "../../common/i18n";
import { ErrorMessage, PagedList } from "../../common/ui";
import { Generate } from "../grid/Generate";
import { PlanDetail } from "../grid/PlanDetail";
import { MetricsTable, type Plan, PlanMap, planName } from "../grid/plans";
import "../grid/grid.css";
import "../grid/strings";
import { AreaPicker, type AreaSummary, homeArea, visibleAreas } from "../map/areas";
import "../map/map.css";
import { hasRole } from "../session";

export default function Screen({ rest }: { rest: string[] }) {
  const planId = Number(rest[0]);
  const [area, setArea] = useState<AreaSummary | null>(null);
  const [chosen, setChosen] = useState<Plan[]>([]);
  const [compare, setCompare] = useState<Plan[] | null>(null);
  const [refresh, setRefresh] = useState(0);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    visibleAreas()
      .then((areas) => {
        const home = homeArea(areas);
        // layouts belong to a street: from a community go up to its street
        const street =
          home?.level === "community" ? areas.find((a) => a.id === home.parent_id) ?? home : home;
        setArea(street ?? null);
      })
      .catch(setError);
  }, []);

  if (planId) {
    return (
      <div class="grid-screen">
        <h1>{t("grid.title")}</h1>
        <PlanDetail id={planId} />
      </div>
    );
  }

  function toggle(p: Plan, on: boolean) {
    setChosen((c) => (on ? [...c.filter((x) => x.id !== p.id), p].slice(-2) : c.filter((x) => x.id !== p.id)));
  }

  async function doCompare() {
    setError(null);
    try {
      // fresh copies (a layout may have been edited since the list was read)
      setCompare(await Promise.all(chosen.map((p) => get<Plan>(`/grid-plans/${p.id}`))));
    } catch (e) {
      setError(e);
    }
  }

  return (
    <div class="grid-screen">
      <h1>{t("grid.title")}</h1>
      <AreaPicker value={area?.id ?? null} onChange={setArea} levels={["street"]} label={t("grid.area")} />
      <ErrorMessage error={error} />
      {area && hasRole("street_centre", "district_centre", "coordinator") && (
        <Generate areaId={area.id} onDone={() => setRefresh((n) => n + 1)} />
      )}
      {area && (
        <section aria-labelledby="plans-title">
          <h2 id="plans-title">{t("grid.plans")}</h2>
          <PagedList<Plan>
            key={refresh}
            path={`/areas/${area.id}/grid-plans`}
            query={{ sort: "-created_at" }}
            pageSize={20}
            render={(rows) => (
              <table>
                <thead>
                  <tr>
                    <th scope="col">{t("grid.compare")}</th>
                    <th scope="col">{t("grid.col.name")}</th>
                    <th scope="col">{t("grid.col.method")}</th>
                    <th scope="col">{t("grid.col.status")}</th>
                    <th scope="col">{t("grid.col.cells")}</th>
                    <th scope="col">{t("grid.col.balance")}</th>
                    <th scope="col">{t("grid.col.created")}</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((p) => (
                    <tr>
                      <td>
                        <input
                          type="checkbox"
                          aria-label={t("grid.compare_pick", { name: planName(p) })}
                          checked={chosen.some((c) => c.id === p.id)}
                          onChange={(e) => toggle(p, (e.target as HTMLInputElement).checked)}
                        />
                      </td>
                      <td>
                        <a href={`#/grid/${p.id}`}>{planName(p)}</a>
                      </td>
                      <td>{t(`grid.method.${p.method}`)}</td>
                      <td>{t(`grid.status.${p.status}`)}</td>
                      <td>{p.metrics?.cell_count ?? "—"}</td>
                      <td>{p.metrics?.balance_ratio ?? "—"}</td>
                      <td>{new Date(p.created_at).toLocaleString()}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          />
          <p>
            <button type="button" disabled={chosen.length !== 2} onClick={doCompare}>
              {t("grid.compare")}
            </button>{" "}
            {chosen.length !== 2 && <span>{t("grid.compare_hint")}</span>}
          </p>
        </section>
      )}
      {compare && (
        <section aria-labelledby="compare-title" data-testid="comparison">
          <h2 id="compare-title">{t("grid.comparison")}</h2>
          <MetricsTable plans={compare} caption={t("grid.comparison")} />
          <div class="side-by-side">
            {compare.map((p) => (
              <figure>
                <figcaption>{planName(p)}</figcaption>
                <PlanMap plan={p} />
              </figure>
            ))}
          </div>
        </section>
      )}
    </div>
  );
}
