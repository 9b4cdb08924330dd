// The outreach desk: programmes, events on a map and in a month calendar, each event's page,
// change notices and site suggestions. Routes: #/outreach, #/outreach/programme/<id>,
// #/outreach/events, #/outreach/event/<id>, #/outreach/notices, #/outreach/sites, and a visits
// programme's desk #/outreach/visits/<id>/<tab>.
import { lazy, Suspense } from "preact/compat";
import { t } from "../../common/i18n";
import { hasRole } from "../session";
import { EventPage } from "../outreach/event";
import { Notices } from "../outreach/notices";
import "../outreach/outreach.css";
import { EventsOverview, ProgrammeList, ProgrammePage } from "../outreach/programme";
import { SiteSuggestions } from "../outreach/sites";
import "../outreach/strings";
import "../sms/sms.css";

// The visits desk of a visits programme: its own chunk, loaded when opened.
const VisitsDesk = lazy(() => import("../visits/desk"));

function SubNav({ at }: { at: string }) {
  const items: [string, string, boolean][] = [
    ["", "or.programmes", true],
    ["events", "or.events", true],
    ["notices", "or.notices", hasRole("coordinator", "institution_contact")],
    ["sites", "or.sites", hasRole("coordinator", "district_centre", "street_centre", "station")],
  ];
  return (
    <nav class="subnav" aria-label={t("or.nav")}>
      {items
        .filter(([, , show]) => show)
        .map(([route, label]) => (
          <a href={`#/outreach${route ? `/${route}` : ""}`} aria-current={at === route ? "page" : undefined}>
            {t(label)}
          </a>
        ))}
    </nav>
  );
}

export default function Screen({ rest }: { rest: string[] }) {
  const [what, id] = [rest[0] ?? "", Number(rest[1])];
  let body;
  if (what === "programme" && id) body = <ProgrammePage id={id} />;
  else if (what === "event" && id) body = <EventPage id={id} />;
  else if (what === "events") body = <EventsOverview />;
  else if (what === "notices") body = <Notices />;
  else if (what === "sites") body = <SiteSuggestions />;
  else if (what === "visits" && id)
    body = (
      <Suspense fallback={<p>{t("ui.loading")}</p>}>
        <VisitsDesk rest={rest.slice(1)} />
      </Suspense>
    );
  else body = <ProgrammeList />;
  return (
    <div class="outreach">
      <SubNav at={what === "programme" || what === "visits" ? "" : what === "event" ? "events" : what} />
      {body}
    </div>
  );
}
