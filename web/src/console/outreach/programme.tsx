// The programmes list and a programme's page: its events, SMS campaigns, due dates and the
// summary of the reports (totals by institution and site, late and missing reports).
import { get } from "../../common/api";
import { t } from "../../common/i18n";
import { ErrorMessage, PagedList, useAsync } from "../../common/ui";
import { MonthCalendar } from "./calendar";
import { EventsMap } from "./map";
import { type Programme, span, tl, when } from "./util";

type Tally = { participants: number; materials: number; consultations: number; reports: number; late_reports: number };
interface Summary {
  totals: Tally;
  by_institution: (Tally & { institution: string; name: string })[];
  by_site: (Tally & { event_id: number; title: string; status: string; expected_reports: number })[];
  late_reports: { institution?: string; event_id?: number; title?: string }[];
  missing_reports: { institution?: string; event_id?: number; title?: string }[];
}

export function ProgrammeList() {
  return (
    <>
      <h1>{t("or.programmes")}</h1>
      <PagedList<Programme>
        path="/outreach/programmes"
        render={(rows) => (
          <table>
            <thead>
              <tr>
                <th scope="col">{t("or.code")}</th>
                <th scope="col">{t("or.name")}</th>
                <th scope="col">{t("or.dates")}</th>
                <th scope="col">{t("or.organiser")}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((p) => (
                <tr>
                  <td>{p.code}</td>
                  <td>
                    <a href={`#/outreach/programme/${p.id}`}>{p.name}</a>
                    {p.kind === "visits" && (
                      <>
                        {" · "}
                        <a href={`#/outreach/visits/${p.id}/list`}>{t("or.visits_desk")}</a>
                      </>
                    )}
                  </td>
                  <td>
                    {p.start_date} – {p.end_date}
                  </td>
                  <td>{p.organiser}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      />
    </>
  );
}

function TallyCells({ x }: { x: Tally }) {
  return (
    <>
      <td>{x.participants}</td>
      <td>{x.materials}</td>
      <td>{x.consultations}</td>
      <td>{x.reports}</td>
      <td>{x.late_reports}</td>
    </>
  );
}

function TallyHead({ first }: { first: string }) {
  return (
    <tr>
      <th scope="col">{first}</th>
      <th scope="col">{t("or.participants")}</th>
      <th scope="col">{t("or.materials")}</th>
      <th scope="col">{t("or.consultations")}</th>
      <th scope="col">{t("or.reports")}</th>
      <th scope="col">{t("or.late_reports")}</th>
    </tr>
  );
}

function SummarySection({ id }: { id: number }) {
  const { data, error } = useAsync(() => get<Summary>(`/outreach/programmes/${id}/summary`), [id]);
  const item = (x: { institution?: string; event_id?: number; title?: string }) =>
    [x.institution, x.title ?? (x.event_id ? `#${x.event_id}` : "")].filter(Boolean).join(" · ");
  return (
    <section aria-labelledby="or-sum-h">
      <h2 id="or-sum-h">{t("or.summary")}</h2>
      <ErrorMessage error={error} />
      {data && (
        <>
          <table>
            <thead>
              <TallyHead first={t("or.institutions")} />
            </thead>
            <tbody>
              {data.by_institution.map((x) => (
                <tr>
                  <td>{x.name}</td>
                  <TallyCells x={x} />
                </tr>
              ))}
              <tr class="total">
                <th scope="row">{t("or.totals")}</th>
                <TallyCells x={data.totals} />
              </tr>
            </tbody>
          </table>
          <h3>{t("or.by_site")}</h3>
          <table>
            <thead>
              <TallyHead first={t("or.event")} />
            </thead>
            <tbody>
              {data.by_site.map((x) => (
                <tr>
                  <td>
                    <a href={`#/outreach/event/${x.event_id}`}>{x.title}</a>
                  </td>
                  <TallyCells x={x} />
                </tr>
              ))}
            </tbody>
          </table>
          {data.late_reports.length > 0 && (
            <>
              <h3>{t("or.late_reports")}</h3>
              <ul>
                {data.late_reports.map((x) => (
                  <li>{item(x)}</li>
                ))}
              </ul>
            </>
          )}
          {data.missing_reports.length > 0 && (
            <>
              <h3>{t("or.missing_reports")}</h3>
              <ul>
                {data.missing_reports.map((x) => (
                  <li>{item(x)}</li>
                ))}
              </ul>
            </>
          )}
        </>
      )}
    </section>
  );
}

export function ProgrammePage({ id }: { id: number }) {
  const { data: p, error, loading } = useAsync(() => get<Programme>(`/outreach/programmes/${id}`), [id]);
  return (
    <div class="or-programme">
      <p>
        <a href="#/outreach">{t("or.back")}</a>
      </p>
      <h1>{p ? `${p.name}（${p.code}）` : t("or.programmes")}</h1>
      <ErrorMessage error={error} />
      {loading && <p aria-live="polite">{t("ui.loading")}</p>}
      {p && (
        <>
          {p.description && <p>{p.description}</p>}
          {p.kind === "visits" && (
            <p>
              <a href={`#/outreach/visits/${p.id}/list`}>{t("or.visits_desk")}</a>
            </p>
          )}
          <ul class="due">
            <li>
              {t("or.dates")}：{p.start_date} – {p.end_date}
            </li>
            <li>{t("or.plan_due", { at: when(p.plan_due_at) })}</li>
            <li>{t("or.report_due", { at: when(p.report_due_at) })}</li>
            <li>
              {t("or.institutions")}：{p.institutions.join("、")}
            </li>
          </ul>
          <h2>{t("or.sms_campaigns")}</h2>
          <ul>
            {p.sms_campaigns.map((c) => (
              <li>
                <a href={`#/sms/${c.id}`}>
                  {c.name}（{c.code}）
                </a>{" "}
                {c.start_date} – {c.end_date}
              </li>
            ))}
          </ul>
          <h2>{t("or.event_list")}</h2>
          <table data-testid="programme-events">
            <thead>
              <tr>
                <th scope="col">{t("or.event")}</th>
                <th scope="col">{t("or.kind")}</th>
                <th scope="col">{t("or.when")}</th>
                <th scope="col">{t("or.where")}</th>
                <th scope="col">{t("or.lead")}</th>
                <th scope="col">{t("or.status")}</th>
              </tr>
            </thead>
            <tbody>
              {(p.events ?? []).map((ev) => (
                <tr>
                  <td>
                    <a href={`#/outreach/event/${ev.id}`}>{ev.title}</a>
                  </td>
                  <td>{tl(`or.kind.${ev.kind}`)}</td>
                  <td>{span(ev.starts_at, ev.ends_at)}</td>
                  <td>{ev.address ?? "—"}</td>
                  <td>{ev.lead ?? ev.host ?? "—"}</td>
                  <td>{tl(`or.status.${ev.status}`)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2>{t("or.map")}</h2>
          <EventsMap query={{ programme: p.id }} areaId={p.area_id} />
          <MonthCalendar
            start={(p.events ?? []).map((e) => e.starts_at).sort()[0] ?? p.start_date}
            query={{ programme: p.id }}
          />
          <SummarySection id={p.id} />
        </>
      )}
    </div>
  );
}

export function EventsOverview() {
  const first = useAsync(() => get<{ starts_at: string }[]>("/outreach/events", { page_size: 1, sort: "starts_at" }), []);
  return (
    <>
      <h1>{t("or.events")}</h1>
      <ErrorMessage error={first.error} />
      <EventsMap query={{}} />
      {first.data && (
        <MonthCalendar start={first.data[0]?.starts_at ?? new Date().toISOString()} query={{}} />
      )}
    </>
  );
}
