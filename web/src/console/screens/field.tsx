// Field work: workers and their cells and terminals (enrol with a QR code, revoke), vacant
// cells, the day's patrol coverage, and visits with their flags.
import { useEffect, useState } from "preact/hooks";
import { get, page } from "../../common/api";
import { t } from "../../common/i18n";
import { ErrorMessage, PagedList, useAsync } from "../../common/ui";
import { Coverage } from "../field/Coverage";
import "../field/field.css";
import { when } from "../field/strings";
import { type Worker, WorkerPanel } from "../field/WorkerPanel";
import { AreaPicker, type AreaSummary, homeArea, visibleAreas } from "../map/areas";
import "../map/map.css";

const FLAGS = ["no_location", "low_accuracy", "outside_assigned_cell", "mock_location", "clock_skew"];

interface Vacant {
  cell_id: number;
  code: string;
  community: string;
  workload: number;
  place_count: number;
}

interface Visit {
  id: number;
  kind: string;
  worker_id: number;
  cell_code: string | null;
  started_at: string;
  flags: string[];
  notes: string | null;
}

export default function Screen(_props: { rest: string[] }) {
  const [area, setArea] = useState<AreaSummary | null>(null);
  const [worker, setWorker] = useState<Worker | null>(null);
  const [refresh, setRefresh] = useState(0);
  const [flag, setFlag] = useState("");
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    visibleAreas()
      .then((areas) => setArea(homeArea(areas) ?? null))
      .catch(setError);
  }, []);
  useEffect(() => {
    if (worker) document.getElementById("worker-title")?.focus();
  }, [worker?.id]);
  // the visits list gives worker ids: their names from one page of the area's workers
  const names = useAsync(
    () =>
      area
        ? page<Worker>("/workers", { area: area.id }, 1, 500).then(
            (r) => new Map(r.rows.map((w) => [w.id, w.full_name])),
          )
        : Promise.resolve(new Map<number, string>()),
    [area?.id, refresh],
  );
  const vacant = useAsync(
    () => (area ? get<Vacant[]>("/reports/vacant-cells", { area: area.id }) : Promise.resolve([])),
    [area?.id, refresh],
  );

  return (
    <div class="field-screen">
      <h1>{t("field.title")}</h1>
      <AreaPicker value={area?.id ?? null} onChange={(a) => { setArea(a); setWorker(null); }} />
      <ErrorMessage error={error} />
      {area && (
        <>
          <section aria-labelledby="workers-title">
            <h2 id="workers-title">{t("field.workers")}</h2>
            <PagedList<Worker>
              key={refresh}
              path="/workers"
              query={{ area: area.id, sort: "full_name" }}
              pageSize={20}
              render={(rows) => (
                <table>
                  <thead>
                    <tr>
                      <th scope="col">{t("field.col.name")}</th>
                      <th scope="col">{t("field.col.status")}</th>
                      <th scope="col">{t("field.col.cells")}</th>
                      <th scope="col">{t("field.col.phone")}</th>
                      <th scope="col">{t("field.col.account")}</th>
                      <th scope="col">
                        <span class="sr-only">{t("field.manage", { name: "" })}</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {rows.map((w) => (
                      <tr aria-current={worker?.id === w.id ? "true" : undefined}>
                        <td>{w.full_name}</td>
                        <td>{w.status}</td>
                        <td>{(w.cells ?? []).join("、") || "—"}</td>
                        <td>{w.phone ?? "—"}</td>
                        <td>{w.user_id ? t("field.yes") : t("field.no")}</td>
                        <td>
                          <button type="button" onClick={() => setWorker(w)}>
                            {t("field.manage", { name: w.full_name })}
                          </button>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            />
          </section>
          {worker && <WorkerPanel key={worker.id} worker={worker} onChanged={() => setRefresh((n) => n + 1)} />}
          <section aria-labelledby="vacant-title">
            <h2 id="vacant-title">{t("field.vacant")}</h2>
            <ErrorMessage error={vacant.error} />
            {vacant.data && (
              vacant.data.length ? (
                <div class="table-scroll" tabIndex={0} role="region" aria-label={t("field.vacant")}>
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">{t("field.col.cell")}</th>
                        <th scope="col">{t("field.col.community")}</th>
                        <th scope="col">{t("field.col.workload")}</th>
                        <th scope="col">{t("field.col.places")}</th>
                      </tr>
                    </thead>
                    <tbody>
                      {vacant.data.map((v) => (
                        <tr>
                          <td>{v.code}</td>
                          <td>{v.community}</td>
                          <td>{v.workload}</td>
                          <td>{v.place_count}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              ) : (
                <p>{t("ui.empty")}</p>
              )
            )}
          </section>
          <Coverage areaId={area.id} />
          <section aria-labelledby="visits-title">
            <h2 id="visits-title">{t("field.visits")}</h2>
            <label class="inline">
              {t("field.flag")}
              <select value={flag} onChange={(e) => setFlag((e.target as HTMLSelectElement).value)}>
                <option value="">{t("field.any_flag")}</option>
                {FLAGS.map((f) => (
                  <option value={f}>{t(`flag.${f}`)}</option>
                ))}
              </select>
            </label>
            <PagedList<Visit>
              path="/visits"
              query={{ area: area.id, flag, sort: "-started_at" }}
              pageSize={20}
              render={(rows) => (
                <table>
                  <thead>
                    <tr>
                      <th scope="col">{t("field.col.time")}</th>
                      <th scope="col">{t("field.col.kind")}</th>
                      <th scope="col">{t("field.col.cell")}</th>
                      <th scope="col">{t("field.col.worker")}</th>
                      <th scope="col">{t("field.col.flags")}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {rows.map((v) => (
                      <tr>
                        <td>{when(v.started_at)}</td>
                        <td>{t(`kind.${v.kind}`)}</td>
                        <td>{v.cell_code ?? "—"}</td>
                        <td>{names.data?.get(v.worker_id) ?? `#${v.worker_id}`}</td>
                        <td>
                          {v.flags.length
                            ? v.flags.map((f) => <span class="flag">{t(`flag.${f}`)}</span>)
                            : "—"}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            />
          </section>
        </>
      )}
    </div>
  );
}
