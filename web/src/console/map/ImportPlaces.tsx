// Importing places into the area on the map (CSV or GeoJSON points), for the roles that may:
// sent with ``Prefer: respond-async``, so the service answers with a job whose progress is shown
// until its report (created, updated, each rejected row with its reason) comes back.
import { useState } from "preact/hooks";
import { registerStrings, t } from "../../common/i18n";
import { ErrorMessage } from "../../common/ui";
import { postAsJob, useJob } from "../grid/jobs";
import "../grid/strings";

registerStrings(
  {
    "imp.title": "导入地点",
    "imp.into": "导入到 {name}",
    "imp.file": "地点文件（CSV 或 GeoJSON）",
    "imp.hint": "CSV 列：lon、lat、type，可选 external_id、name；已有的 external_id 会被更新而不会重复。",
    "imp.submit": "导入",
    "imp.busy": "正在导入…",
    "imp.progress": "导入中：{status} {percent}",
    "imp.report": "收到 {received} 行：新增 {created}，更新 {updated}，拒绝 {rejected}",
    "imp.rejected": "第 {row} 行{ext}：{reason}",
  },
  {
    "imp.title": "Import places",
    "imp.into": "Into {name}",
    "imp.file": "Places file (CSV or GeoJSON)",
    "imp.hint": "CSV columns: lon, lat, type, optional external_id, name; an existing external_id is updated, never duplicated.",
    "imp.submit": "Import",
    "imp.busy": "Importing…",
    "imp.progress": "Importing: {status} {percent}",
    "imp.report": "{received} rows received: {created} created, {updated} updated, {rejected} rejected",
    "imp.rejected": "Row {row}{ext}: {reason}",
  },
);

interface Report {
  received: number;
  created: number;
  updated: number;
  rejected_count?: number;
  rejected: { row: number; external_id: string | null; code?: string; errors: Record<string, unknown> }[];
}

function reason(r: Report["rejected"][number]): string {
  const parts = Object.entries(r.errors ?? {}).map(([field, v]) => {
    const text = Array.isArray(v) ? v.join(" ") : typeof v === "string" ? v : JSON.stringify(v);
    return field === "_schema" || field === "row" ? text : `${field}: ${text}`;
  });
  return parts.join("；") || r.code || "";
}

export function ImportPlaces(props: { areaId: number; areaName: string; onDone: () => void }) {
  const { busy, job, error, pc, start } = useJob();
  const [report, setReport] = useState<Report | null>(null);

  async function submit(e: Event) {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const file = new FormData(form).get("file") as File | null;
    if (!file || !file.size) return;
    const geo = /\.(geo)?json$/i.test(file.name) || file.type.includes("json");
    setReport(null);
    const r = await start((onProgress) =>
      postAsJob<Report>(
        `/areas/${props.areaId}/places`,
        file,
        onProgress,
        500,
        geo ? "application/geo+json" : "text/csv",
      ),
    );
    if (r) {
      setReport(r);
      form.reset();
      props.onDone();
    }
  }

  return (
    <details class="import-places">
      <summary>{t("imp.title")}</summary>
      <form onSubmit={submit} aria-label={t("imp.title")}>
        <p>{t("imp.into", { name: props.areaName })}</p>
        <label>
          {t("imp.file")}
          <input name="file" type="file" required accept=".csv,.geojson,.json,text/csv,application/geo+json,application/json" />
        </label>
        <p class="note">{t("imp.hint")}</p>
        <button type="submit" disabled={busy}>
          {t("imp.submit")}
        </button>
        <p aria-live="polite" data-testid="import-status">
          {busy && !job && t("imp.busy")}
          {busy &&
            job &&
            t("imp.progress", {
              status: t(`grid.step.${job.message ?? job.status}`),
              percent: pc === null ? "" : `${pc}%`,
            })}
          {!busy &&
            report &&
            t("imp.report", {
              received: report.received,
              created: report.created,
              updated: report.updated,
              rejected: report.rejected_count ?? report.rejected.length,
            })}
        </p>
        {busy && job && pc !== null && <progress max={100} value={pc} aria-label={t("imp.busy")} />}
        <ErrorMessage error={error} />
        {report && report.rejected.length > 0 && (
          <ul data-testid="import-rejected">
            {report.rejected.map((r) => (
              <li>
                {t("imp.rejected", {
                  row: r.row,
                  ext: r.external_id ? ` (${r.external_id})` : "",
                  reason: reason(r),
                })}
              </li>
            ))}
          </ul>
        )}
      </form>
    </details>
  );
}
