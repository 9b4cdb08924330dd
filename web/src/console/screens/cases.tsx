// Cases on the escalation ladder (issue 14): the ladder board, a case's detail with its history
// on a map and the steps the user may take, and a station's on-site verification.
// Routes: #/cases, #/cases/<id>, #/cases/<id>/verify. The report is its own screen
// (screens/case_report.tsx, #/case-report).
import { Board } from "../cases/board";
import "../cases/cases.css";
import { CaseDetail } from "../cases/detail";
import "../cases/strings";
import { VerifyPage } from "../cases/verify";
import "../sms/sms.css";

export default function Screen({ rest }: { rest: string[] }) {
  const id = Number(rest[0]);
  let body;
  if (id && rest[1] === "verify") body = <VerifyPage id={id} />;
  else if (id) body = <CaseDetail id={id} />;
  else body = <Board />;
  return <div class="cases">{body}</div>;
}
