// Assessment (issue 15): runs, a run's cards, a card with its evidence and entry, the cards in
// scope (a contact: its own), rankings, and the street centre's dismissal recommendations.
// Routes: #/assessment, #/assessment/runs/<id>, #/assessment/cards, #/assessment/cards/<id>,
// #/assessment/rankings, #/assessment/recommendations.
import { t } from "../../common/i18n";
import "../assessment/assessment.css";
import { CardDetail } from "../assessment/card";
import { CardsPage, Rankings, Recommendations } from "../assessment/lists";
import { RunDetail, RunsList } from "../assessment/runs";
import "../assessment/strings";
import { isContact } from "../assessment/util";
import { hasRole } from "../session";

function tabs(): [string, string][] {
  if (isContact()) return [["cards", "as.mine"]];
  const out: [string, string][] = [
    ["", "as.runs"],
    ["cards", "as.cards"],
    ["rankings", "as.rankings"],
  ];
  if (hasRole("street_centre", "district_centre")) out.push(["recommendations", "as.recs"]);
  return out;
}

export default function Screen({ rest }: { rest: string[] }) {
  const [section, idText] = rest;
  const id = Number(idText);
  let body;
  if (section === "runs" && id) body = <RunDetail id={id} />;
  else if (section === "cards" && id) body = <CardDetail id={id} />;
  else if (section === "cards" || isContact()) body = <CardsPage />;
  else if (section === "rankings") body = <Rankings />;
  else if (section === "recommendations" && hasRole("street_centre", "district_centre"))
    body = <Recommendations />;
  else body = <RunsList />;
  const here = section === "runs" ? "" : (section ?? "");
  return (
    <div class="assessment">
      <nav class="subnav" aria-label={t("as.nav")}>
        {tabs().map(([route, label]) => (
          <a href={`#/assessment${route ? `/${route}` : ""}`} aria-current={here === route && !id ? "page" : undefined}>
            {t(label)}
          </a>
        ))}
      </nav>
      {body}
    </div>
  );
}
