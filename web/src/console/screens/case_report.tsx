// The cases report (issue 14): GET /reports/cases as tables by level and category, the hexbin
// on a map, CSV and XLSX downloads. Route: #/case-report.
import "../cases/cases.css";
import { CaseReport } from "../cases/report";
import "../cases/strings";
import "../sms/sms.css";

export default function Screen() {
  return (
    <div class="cases case-report">
      <CaseReport />
    </div>
  );
}
