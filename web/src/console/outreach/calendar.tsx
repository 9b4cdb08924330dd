// A plain month grid of the events (a table: weeks as rows, Monday first), each event a link.
import { useState } from "preact/hooks";
import { t } from "../../common/i18n";
import { ErrorMessage, useAsync } from "../../common/ui";
import { allPages, type EventSummary, tl } from "./util";

const pad = (n: number) => String(n).padStart(2, "0");

export function MonthCalendar(props: { start: string; query: Record<string, string | number | undefined> }) {
  const [month, setMonth] = useState(props.start.slice(0, 7)); // YYYY-MM
  const [y, m] = month.split("-").map(Number);
  const days = new Date(Date.UTC(y, m, 0)).getUTCDate();
  const from = `${month}-01`;
  const to = `${month}-${pad(days)}`;
  const key = JSON.stringify(props.query);
  const { data, error, loading } = useAsync(
    () => allPages<EventSummary>("/outreach/events", { ...props.query, from, to }),
    [month, key],
  );
  const byDay = new Map<string, EventSummary[]>();
  for (const ev of data ?? []) {
    const d = ev.starts_at.slice(0, 10);
    byDay.set(d, [...(byDay.get(d) ?? []), ev]);
  }
  const lead = (new Date(Date.UTC(y, m - 1, 1)).getUTCDay() + 6) % 7; // Monday first
  const cells: (number | null)[] = [...Array(lead).fill(null), ...Array.from({ length: days }, (_, i) => i + 1)];
  while (cells.length % 7) cells.push(null);
  const weeks: (number | null)[][] = [];
  for (let i = 0; i < cells.length; i += 7) weeks.push(cells.slice(i, i + 7));
  const shift = (n: number) => {
    const d = new Date(Date.UTC(y, m - 1 + n, 1));
    setMonth(`${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}`);
  };
  const title = t("or.month", { year: y, month: m });
  return (
    <section class="or-calendar" aria-labelledby="or-cal-h">
      <h2 id="or-cal-h">{t("or.calendar")}</h2>
      <div class="actions">
        <button type="button" onClick={() => shift(-1)}>
          {t("or.prev_month")}
        </button>
        <strong aria-live="polite">{title}</strong>
        <button type="button" onClick={() => shift(1)}>
          {t("or.next_month")}
        </button>
      </div>
      <ErrorMessage error={error} />
      {loading && <p aria-live="polite">{t("ui.loading")}</p>}
      <table data-testid="month-calendar">
        <caption class="sr">{title}</caption>
        <thead>
          <tr>
            {t("or.weekdays")
              .split(",")
              .map((w) => (
                <th scope="col">{w}</th>
              ))}
          </tr>
        </thead>
        <tbody>
          {weeks.map((week) => (
            <tr>
              {week.map((d) => {
                if (d === null) return <td class="blank" />;
                const iso = `${month}-${pad(d)}`;
                const evs = byDay.get(iso) ?? [];
                return (
                  <td class={evs.length ? "has" : undefined}>
                    <div class="day">{d}</div>
                    {evs.length > 0 && (
                      <ul>
                        {evs.map((ev) => (
                          <li>
                            <a href={`#/outreach/event/${ev.id}`}>
                              {ev.starts_at.slice(11, 16)} {ev.title}
                            </a>{" "}
                            <small>{tl(`or.status.${ev.status}`)}</small>
                          </li>
                        ))}
                      </ul>
                    )}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
