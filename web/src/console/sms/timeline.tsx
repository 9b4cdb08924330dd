// A campaign's rotation as a table: one row per sender, one column per day; skipped days and
// shifted slots are marked in the grid and explained in the list below it.
import { t } from "../../common/i18n";
import { daysBetween, label, type Schedule, type ScheduleEvent, when } from "./util";

export function explain(ev: ScheduleEvent): string {
  const vars = {
    day: ev.day ?? "",
    sender: ev.sender ?? "",
    round: ev.round ?? "",
    reason: ev.reason ?? "",
    kind: ev.kind,
  };
  const key = `sms.ev.${ev.kind}`;
  return t(key) === key ? t("sms.ev.other", vars) : t(key, vars);
}

export function Timeline(props: {
  schedule: Schedule;
  from: string;
  to: string;
  /** The senders in campaign order (from the progress), when known. */
  order?: { sender: string; sender_name: string | null; position: number }[];
}) {
  const { schedule, from, to } = props;
  const slots = schedule.slots;
  const lastDay = slots.flatMap((s) => s.days).sort().pop();
  const days = daysBetween(from, lastDay && lastDay > to ? lastDay : to);
  const senders: { code: string; name: string }[] = [];
  for (const s of [...(props.order ?? [])].sort((a, b) => a.position - b.position)) {
    senders.push({ code: s.sender, name: s.sender_name ?? s.sender });
  }
  for (const s of [...slots].sort((a, b) => a.position - b.position)) {
    if (!senders.some((x) => x.code === s.sender)) senders.push({ code: s.sender, name: s.sender_name ?? s.sender });
  }
  for (const ev of schedule.events) {
    if (ev.sender && !senders.some((x) => x.code === ev.sender)) senders.push({ code: ev.sender, name: ev.sender });
  }
  const dayOff = new Map<string, ScheduleEvent>();
  for (const ev of schedule.events) if (ev.kind === "day_skipped" && ev.day) dayOff.set(ev.day, ev);
  const senderMark = new Map<string, ScheduleEvent>();
  for (const ev of schedule.events) if (ev.sender && ev.day) senderMark.set(`${ev.sender}|${ev.day}`, ev);

  return (
    <div class="sms-timeline" data-testid="sms-timeline">
      <div class="sms-scroll" tabIndex={0} role="region" aria-label={t("sms.timeline")}>
        <table>
          <caption>
            {t("sms.timeline.caption", {
              tz: schedule.timezone,
              from: schedule.window[0] ?? "",
              to: schedule.window[1] ?? "",
            })}
          </caption>
          <thead>
            <tr>
              <th scope="col">{t("sms.sender")}</th>
              {days.map((d) => (
                <th scope="col" class={dayOff.has(d) ? "off" : undefined} title={dayOff.has(d) ? explain(dayOff.get(d)!) : undefined}>
                  {d.slice(5)}
                  {dayOff.has(d) && <span class="mark"> ✕<span class="sr">{t("sms.mark.day")}</span></span>}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {senders.map((s) => (
              <tr>
                <th scope="row">
                  {s.name} <small>{s.code}</small>
                </th>
                {days.map((d) => {
                  const slot = slots.find((x) => x.sender === s.code && x.days.includes(d));
                  const mark = senderMark.get(`${s.code}|${d}`);
                  if (slot) {
                    const text = t("sms.slot", {
                      sender: s.name,
                      start: when(slot.start),
                      end: when(slot.end),
                      round: slot.round,
                      status: label(`sms.slot.${slot.status}`),
                    });
                    return (
                      <td class={`slot slot-${slot.status}`} title={slot.note ? `${text} — ${slot.note}` : text}>
                        <span aria-hidden="true">{slot.status === "deferred" ? "↷" : "■"}</span>
                        <span class="sr">{slot.note ? `${text} — ${slot.note}` : text}</span>
                      </td>
                    );
                  }
                  if (mark) {
                    return (
                      <td class="slot slot-skipped" title={explain(mark)}>
                        <span aria-hidden="true">✕</span>
                        <span class="sr">{explain(mark)}</span>
                      </td>
                    );
                  }
                  return <td class={dayOff.has(d) ? "off" : undefined} />;
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h3>{t("sms.events")}</h3>
      {schedule.events.length || slots.some((s) => s.note) ? (
        <ul class="sms-events">
          {schedule.events.map((ev) => (
            <li>{explain(ev)}</li>
          ))}
          {slots
            .filter((s) => s.note)
            .map((s) => (
              <li>
                {s.sender_name ?? s.sender}（{when(s.start)}）：{s.note}
              </li>
            ))}
        </ul>
      ) : (
        <p>{t("sms.events.none")}</p>
      )}
    </div>
  );
}
