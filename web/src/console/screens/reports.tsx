// Reports (issue 15): the monthly grid report with its kept archive, and the street centre's
// daily summary. Routes: #/reports, #/reports/daily.
import { t } from "../../common/i18n";
import "../assessment/assessment.css";
import { DailySummary, MonthlyReport, showsDaily } from "../assessment/reports";
import "../assessment/strings";

export default function Screen({ rest }: { rest: string[] }) {
  const daily = rest[0] === "daily" && showsDaily();
  return (
    <div class="reports">
      {showsDaily() && (
        <nav class="subnav" aria-label={t("rep.nav")}>
          <a href="#/reports" aria-current={daily ? undefined : "page"}>
            {t("rep.monthly")}
          </a>
          <a href="#/reports/daily" aria-current={daily ? "page" : undefined}>
            {t("rep.daily")}
          </a>
        </nav>
      )}
      {daily ? <DailySummary /> : <MonthlyReport />}
    </div>
  );
}
