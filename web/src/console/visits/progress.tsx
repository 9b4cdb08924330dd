// Progress (走访进度): per institution and per visitor, with the CSV and XLSX exports.
import { useState } from "preact/hooks";
import { get } from "../../common/api";
import { t } from "../../common/i18n";
import { ErrorMessage, useAsync } from "../../common/ui";
import { download, type VisitsProgramme, when, yuan } from "./util";

interface Row {
  listed: number;
  visited: number;
  visited_share: number;
  outcomes: Record<string, number>;
  need_amount: number;
  matched_amount: number;
  decisions_open: number;
  decisions_overdue: number;
  referrals_made: number;
  referrals_converted: number;
}
interface Progress {
  programme: { id: number; code: string; name: string };
  as_of: string;
  totals: Row;
  institutions: (Row & { institution: string; name: string })[];
  visitors: (Row & { visitor: string | null; institution: string | null })[];
}

const COLUMNS: [string, (r: Row) => string][] = [
  ["vi.listed", (r) => String(r.listed)],
  ["vi.visited", (r) => String(r.visited)],
  ["vi.visited_share", (r) => `${(r.visited_share * 100).toFixed(1)}%`],
  ["vi.outcome.follow_up", (r) => String(r.outcomes.follow_up ?? 0)],
  ["vi.outcome.renewal", (r) => String(r.outcomes.renewal ?? 0)],
  ["vi.outcome.product_matched", (r) => String(r.outcomes.product_matched ?? 0)],
  ["vi.outcome.not_eligible_explained", (r) => String(r.outcomes.not_eligible_explained ?? 0)],
  ["vi.outcome.no_need", (r) => String(r.outcomes.no_need ?? 0)],
  ["vi.need_amount_sum", (r) => yuan(r.need_amount)],
  ["vi.matched_amount", (r) => yuan(r.matched_amount)],
  ["vi.decisions_open", (r) => String(r.decisions_open)],
  ["vi.decisions_overdue", (r) => String(r.decisions_overdue)],
  ["vi.referrals_made", (r) => String(r.referrals_made)],
  ["vi.referrals_converted", (r) => String(r.referrals_converted)],
];

function Table(props: { caption: string; testId: string; rows: [string, Row][]; total?: Row }) {
  return (
    <div class="vi-scroll">
      <table data-testid={props.testId}>
        <caption>{props.caption}</caption>
        <thead>
          <tr>
            <th scope="col">{props.caption}</th>
            {COLUMNS.map(([k]) => (
              <th scope="col">{t(k)}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.rows.map(([label, r]) => (
            <tr>
              <th scope="row">{label}</th>
              {COLUMNS.map(([, f]) => (
                <td>{f(r)}</td>
              ))}
            </tr>
          ))}
          {props.total && (
            <tr class="total">
              <th scope="row">{t("vi.progress.totals")}</th>
              {COLUMNS.map(([, f]) => (
                <td>{f(props.total!)}</td>
              ))}
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

export function ProgressScreen({ p }: { p: VisitsProgramme }) {
  const { data, error } = useAsync(() => get<Progress>(`/outreach/programmes/${p.id}/progress`), [p.id]);
  const [exportError, setExportError] = useState<unknown>(null);
  const [busy, setBusy] = useState("");
  async function exportAs(format: "csv" | "xlsx") {
    setBusy(format);
    setExportError(null);
    try {
      await download(`/outreach/programmes/${p.id}/progress`, { format }, `${p.code}-progress.${format}`);
    } catch (e) {
      setExportError(e);
    } finally {
      setBusy("");
    }
  }
  return (
    <section aria-labelledby="vi-progress-h">
      <h2 id="vi-progress-h">{t("vi.progress.title")}</h2>
      <ErrorMessage error={error} />
      <p class="vi-export">
        {t("vi.progress.export")}：
        <button type="button" disabled={!!busy} onClick={() => exportAs("csv")}>
          {t("vi.progress.csv")}
        </button>{" "}
        <button type="button" disabled={!!busy} onClick={() => exportAs("xlsx")}>
          {t("vi.progress.xlsx")}
        </button>
      </p>
      <ErrorMessage error={exportError} />
      {data && (
        <>
          <p>{t("vi.progress.as_of", { at: when(data.as_of) })}</p>
          <Table
            caption={t("vi.by_institution")}
            testId="progress-institutions"
            rows={data.institutions.map((r) => [r.name || r.institution, r])}
            total={data.totals}
          />
          <Table
            caption={t("vi.by_visitor")}
            testId="progress-visitors"
            rows={data.visitors.map((r) => [
              `${r.visitor === "cell" ? t("vi.visitor.cell") : (r.visitor ?? "—")}${r.institution ? `（${r.institution}）` : ""}`,
              r,
            ])}
          />
        </>
      )}
    </section>
  );
}
