// The visits desk of a visits programme (走访工作台): the list, its import, visits, decisions,
// progress and referrals, one tab each. Routes: #/outreach/visits/<programme>/<tab>[/<id>].
import { t } from "../../common/i18n";
import { ErrorMessage } from "../../common/ui";
import { hasRole } from "../session";
import { DecisionsScreen } from "./decisions";
import { ImportScreen, ListScreen } from "./list";
import { ProgressScreen } from "./progress";
import { ReferralsScreen } from "./referrals";
import "./strings";
import { useProgramme } from "./util";
import { RecordVisit, VisitPage, VisitsScreen } from "./visits";
import "./visits.css";

function tabs(): [string, boolean][] {
  return [
    ["list", true],
    ["import", hasRole("coordinator", "institution_contact")],
    ["visits", true],
    ["record", hasRole("coordinator", "institution_contact")],
    ["decisions", true],
    ["progress", true],
    ["referrals", true],
  ];
}

export default function VisitsDesk({ rest }: { rest: string[] }) {
  const id = Number(rest[0]);
  const tab = rest[1] ?? "list";
  const sub = Number(rest[2]);
  const { data: p, error } = useProgramme(id);
  let body;
  if (!p) body = null;
  else if (tab === "import") body = <ImportScreen p={p} />;
  else if (tab === "visits") body = <VisitsScreen p={p} />;
  else if (tab === "visit" && sub) body = <VisitPage p={p} id={sub} />;
  else if (tab === "record") body = <RecordVisit p={p} enterprise={sub || undefined} />;
  else if (tab === "decisions") body = <DecisionsScreen p={p} />;
  else if (tab === "progress") body = <ProgressScreen p={p} />;
  else if (tab === "referrals" || tab === "refer") body = <ReferralsScreen p={p} fromVisit={tab === "refer" ? sub : undefined} />;
  else body = <ListScreen p={p} />;
  const at = tab === "visit" ? "visits" : tab === "refer" ? "referrals" : tab;
  return (
    <div class="vi-desk">
      <p>
        <a href={`#/outreach/programme/${id}`}>{t("vi.back")}</a>
      </p>
      <h1>{p ? `${t("vi.desk")}：${p.name}（${p.code}）` : t("vi.desk")}</h1>
      <ErrorMessage error={error} />
      {p && (
        <p class="vi-dates">
          {t("vi.dates", {
            list: p.list_due_on ?? "—",
            from: p.visits_from ?? "—",
            to: p.visits_to ?? "—",
            summary: p.summary_due_on ?? "—",
          })}
        </p>
      )}
      <nav class="subnav" aria-label={t("vi.nav")}>
        {tabs()
          .filter(([, show]) => show)
          .map(([name]) => (
            <a href={`#/outreach/visits/${id}/${name}`} aria-current={at === name ? "page" : undefined}>
              {t(`vi.tab.${name}`)}
            </a>
          ))}
      </nav>
      {body}
    </div>
  );
}
