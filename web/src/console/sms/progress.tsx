// Progress per sender as stacked bars (a bank contact gets its own sender only: the service
// decides), with the counts also written out for screen readers.
import { get } from "../../common/api";
import { t } from "../../common/i18n";
import { ErrorMessage, useAsync } from "../../common/ui";
import { when } from "./util";

type Counts = Record<string, number>;
interface SlotRef {
  start: string;
  end: string;
  round: number;
  status: string;
}
interface SenderProgress {
  sender: string;
  sender_name: string | null;
  position: number;
  recipients: number;
  counts: Counts;
  current_slot: SlotRef | null;
  next_slot: SlotRef | null;
  alerts?: { kind?: string; code?: string; message?: string; reason?: string }[];
}
export interface Progress {
  at: string;
  mandated_text_approved: boolean;
  alerts: { kind?: string; code?: string; message?: string; reason?: string }[];
  senders: SenderProgress[];
}

const PARTS = ["delivered", "accepted", "queued", "waiting", "submitting", "failed", "expired", "opted_out"];

function alertText(a: { kind?: string; code?: string; message?: string; reason?: string }): string {
  return a.message ?? a.reason ?? a.kind ?? a.code ?? JSON.stringify(a);
}

function slotText(s: SlotRef | null): string {
  return s ? `${when(s.start)}–${when(s.end).slice(11)}` : t("sms.none");
}

export function useProgress(campaignId: number) {
  return useAsync(() => get<Progress>(`/sms/campaigns/${campaignId}/progress`), [campaignId]);
}

export function ProgressBars({ progress }: { progress: ReturnType<typeof useProgress> }) {
  const { data, error, loading } = progress;
  return (
    <section aria-labelledby="sms-progress-h">
      <h2 id="sms-progress-h">{t("sms.progress")}</h2>
      <ErrorMessage error={error} />
      <div aria-live="polite">{loading && t("ui.loading")}</div>
      {data && (
        <>
          <p>{t("sms.progress.at", { at: when(data.at) })}</p>
          {data.alerts.length > 0 && (
            <ul class="sms-alerts" aria-label={t("sms.alerts")}>
              {data.alerts.map((a) => (
                <li>{alertText(a)}</li>
              ))}
            </ul>
          )}
          <ul class="legend" aria-hidden="true">
            {PARTS.map((p) => (
              <li>
                <span class={`swatch c-${p}`} /> {t(`sms.count.${p}`)}
              </li>
            ))}
          </ul>
          <ul class="sms-bars" data-testid="sms-progress">
            {data.senders.map((s) => {
              const total = Math.max(s.recipients, PARTS.reduce((n, p) => n + (s.counts[p] ?? 0), 0), 1);
              const label = t("sms.progress.label", {
                sender: s.sender_name ?? s.sender,
                recipients: s.recipients,
                ...Object.fromEntries(PARTS.map((p) => [p, s.counts[p] ?? 0])),
              });
              return (
                <li>
                  <div class="bar-head">
                    <strong>{s.sender_name ?? s.sender}</strong> <small>{s.sender}</small>
                  </div>
                  <div class="bar" role="img" aria-label={label}>
                    {PARTS.map((p) =>
                      s.counts[p] ? <span class={`c-${p}`} style={{ width: `${(100 * s.counts[p]) / total}%` }} /> : null,
                    )}
                  </div>
                  <p class="bar-text">{label}</p>
                  <p class="bar-text">
                    {t("sms.progress.slot", { current: slotText(s.current_slot), next: slotText(s.next_slot) })}
                  </p>
                  {(s.alerts ?? []).map((a) => (
                    <p class="warn">{alertText(a)}</p>
                  ))}
                </li>
              );
            })}
          </ul>
        </>
      )}
    </section>
  );
}
