// SMS: the campaigns, each campaign's rotation timeline and progress per sender, the review
// queue for coordinators and a bank contact's own custom texts. Routes: #/sms, #/sms/<id>.
import { get } from "../../common/api";
import { t } from "../../common/i18n";
import { ErrorMessage, PagedList, useAsync } from "../../common/ui";
import { hasRole } from "../session";
import "../sms/sms.css";
import "../sms/strings";
import { ProgressBars, useProgress } from "../sms/progress";
import { Texts } from "../sms/texts";
import { Timeline } from "../sms/timeline";
import { label, type Campaign, type Schedule } from "../sms/util";

function CampaignList() {
  return (
    <>
      <h1>{t("sms.campaigns")}</h1>
      <PagedList<Campaign>
        path="/sms/campaigns"
        render={(rows) => (
          <table>
            <thead>
              <tr>
                <th scope="col">{t("sms.code")}</th>
                <th scope="col">{t("sms.name")}</th>
                <th scope="col">{t("sms.dates")}</th>
                <th scope="col">{t("sms.policy")}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((c) => (
                <tr>
                  <td>{c.code}</td>
                  <td>
                    <a href={`#/sms/${c.id}`}>{c.name}</a>
                  </td>
                  <td>
                    {c.start_date} – {c.end_date}
                  </td>
                  <td>{label(`sms.policy.${c.policy}`)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      />
    </>
  );
}

function CampaignPage({ id }: { id: number }) {
  const campaign = useAsync(() => get<Campaign>(`/sms/campaigns/${id}`), [id]);
  const schedule = useAsync(() => get<Schedule>(`/sms/campaigns/${id}/schedule`), [id]);
  const progress = useProgress(id);
  const coordinator = hasRole("coordinator");
  const c = campaign.data;
  return (
    <>
      <p>
        <a href="#/sms">{t("sms.back")}</a>
      </p>
      <h1>{c ? `${c.name}（${c.code}）` : t("sms.title")}</h1>
      <ErrorMessage error={campaign.error} />
      {c && (
        <p>
          {c.start_date} – {c.end_date} · {t("sms.policy")}：{label(`sms.policy.${c.policy}`)}
        </p>
      )}
      <section aria-labelledby="sms-timeline-h">
        <h2 id="sms-timeline-h">{t("sms.timeline")}</h2>
        <ErrorMessage error={schedule.error} />
        <div aria-live="polite">{schedule.loading && t("ui.loading")}</div>
        {schedule.data && !schedule.data.mandated_text_approved && <p class="warn">{t("sms.mandated_pending")}</p>}
        {schedule.data && c && <Timeline schedule={schedule.data} from={c.start_date} to={c.end_date} order={progress.data?.senders} />}
      </section>
      <ProgressBars progress={progress} />
      <Texts campaignId={id} mode={coordinator ? "review" : "own"} />
    </>
  );
}

export default function Screen({ rest }: { rest: string[] }) {
  const id = Number(rest[0]);
  return <div class="sms">{id ? <CampaignPage id={id} /> : <CampaignList />}</div>;
}
