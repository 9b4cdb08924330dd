// Change notices: what changed, and for a bank contact the button to acknowledge it.
import { useState } from "preact/hooks";
import { post } from "../../common/api";
import { t } from "../../common/i18n";
import { ErrorMessage, PagedList } from "../../common/ui";
import { hasRole } from "../session";
import { tl, when } from "./util";

interface Notice {
  id: number;
  event_id: number | null;
  event_title: string | null;
  task_id: number | null;
  institution: string | null;
  reason: string;
  message: string;
  created_at: string;
  acknowledged: boolean;
  acknowledged_at: string | null;
  overdue: boolean;
}

/** What a notice is about: the event's title, or the case. */
function subject(n: Notice): string {
  return n.task_id !== null ? t("or.notice.case", { id: n.task_id }) : (n.event_title ?? "");
}

function Ack({ n, after }: { n: Notice; after: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  if (n.acknowledged) return <span>{t("or.notice.acked", { at: when(n.acknowledged_at) })}</span>;
  // An institution's contact acknowledges its notices; an office its cases' notices.
  const mayAck = n.task_id !== null ? !hasRole("coordinator") : hasRole("institution_contact");
  if (!mayAck) return <span>{n.overdue ? t("or.notice.overdue") : "—"}</span>;
  return (
    <>
      <button
        type="button"
        class="primary"
        disabled={busy}
        aria-label={`${t("or.notice.ack")}：${subject(n)}`}
        onClick={async () => {
          setBusy(true);
          setError(null);
          try {
            await post(`/outreach/notices/${n.id}/ack`);
            after();
          } catch (e) {
            setError(e);
          } finally {
            setBusy(false);
          }
        }}
      >
        {t("or.notice.ack")}
      </button>
      {n.overdue && <span class="warn"> {t("or.notice.overdue")}</span>}
      <ErrorMessage error={error} />
    </>
  );
}

export function Notices() {
  const [onlyOpen, setOnlyOpen] = useState(false);
  const [tick, setTick] = useState(0);
  return (
    <>
      <h1>{t("or.notices")}</h1>
      <label class="check">
        <input type="checkbox" checked={onlyOpen} onChange={(e) => setOnlyOpen((e.target as HTMLInputElement).checked)} />
        {t("or.notice.only_open")}
      </label>
      <PagedList<Notice>
        path="/outreach/notices"
        key={tick}
        query={{ acknowledged: onlyOpen ? "false" : undefined }}
        render={(rows) => (
          <table>
            <thead>
              <tr>
                <th scope="col">{t("or.notice.event")}</th>
                <th scope="col">{t("or.institutions")}</th>
                <th scope="col">{t("or.notice.reason")}</th>
                <th scope="col">{t("or.notice.message")}</th>
                <th scope="col">{t("or.status")}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((n) => (
                <tr>
                  <td>
                    {n.task_id !== null ? (
                      <a href={`#/tasks/${n.task_id}`}>{subject(n)}</a>
                    ) : (
                      <a href={`#/outreach/event/${n.event_id}`}>{subject(n)}</a>
                    )}
                    <br />
                    <small>{when(n.created_at)}</small>
                  </td>
                  <td>{n.institution ?? "—"}</td>
                  <td>{tl(`or.notice.reason.${n.reason}`)}</td>
                  <td>{n.message}</td>
                  <td>
                    <Ack n={n} after={() => setTick(tick + 1)} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      />
    </>
  );
}
