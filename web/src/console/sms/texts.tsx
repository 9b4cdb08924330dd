// The texts of a campaign: the coordinator's review queue (approve / return with a note) and a
// bank contact's own custom texts (write, edit, submit). The service shows a bank only its own.
import { useState } from "preact/hooks";
import { get, patch, post } from "../../common/api";
import { t } from "../../common/i18n";
import { ErrorMessage, useAsync } from "../../common/ui";
import { label, type SmsText } from "./util";

function Measure({ text }: { text: SmsText }) {
  return (
    <small>
      {t("sms.measure", {
        encoding: text.measure.encoding,
        characters: text.measure.characters,
        segments: text.measure.segments,
      })}
    </small>
  );
}

function Status({ text }: { text: SmsText }) {
  return (
    <span class={`status st-${text.status}`}>
      {label(`sms.status.${text.status}`)}
      {text.locked ? ` · ${t("sms.locked")}` : ""}
    </span>
  );
}

function ReviewItem({ text, onDone }: { text: SmsText; onDone: (message?: string) => void }) {
  const [note, setNote] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function act(what: "approve" | "return") {
    setBusy(true);
    setError(null);
    try {
      await post(`/sms/texts/${text.id}/${what}`, note ? { note } : {});
      onDone(t("sms.reviewed"));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }
  const id = `review-note-${text.id}`;
  return (
    <li class="card" data-testid={`review-${text.id}`}>
      <p>
        <strong>{text.kind === "mandated" ? t("sms.kind.mandated") : t("sms.sender_no", { id: text.sender ?? "" })}</strong>{" "}
        <Status text={text} /> <Measure text={text} />
      </p>
      <blockquote>{text.body}</blockquote>
      <label for={id}>{t("sms.note")}</label>
      <input id={id} value={note} onInput={(e) => setNote((e.target as HTMLInputElement).value)} />
      <div class="actions">
        <button type="button" class="primary" disabled={busy} onClick={() => act("approve")}>
          {t("sms.approve")}
        </button>
        <button type="button" disabled={busy} onClick={() => act("return")}>
          {t("sms.return")}
        </button>
      </div>
      <ErrorMessage error={error} />
    </li>
  );
}

function OwnText({ text, onDone }: { text: SmsText; onDone: (message: string) => Promise<void> }) {
  const [body, setBody] = useState(text.body);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const editable = text.kind === "custom" && (text.status === "draft" || text.status === "returned");
  async function run(f: () => Promise<unknown>, message: string) {
    setBusy(true);
    setError(null);
    try {
      await f();
      // Stay busy until the list shows the saved version, so a quick second click
      // never sends the old version (and meets a stale-version error).
      await onDone(message);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }
  const id = `text-body-${text.id}`;
  return (
    <li class="card" data-testid={`text-${text.id}`}>
      <p>
        <strong>{text.kind === "mandated" ? t("sms.kind.mandated") : t("sms.kind.custom")}</strong> <Status text={text} />{" "}
        <Measure text={text} />
      </p>
      {text.status === "returned" && text.note && <p class="warn">{t("sms.returned_note", { note: text.note })}</p>}
      {editable ? (
        <>
          <label for={id}>{t("sms.body_of", { id: text.id })}</label>
          <textarea id={id} rows={3} value={body} onInput={(e) => setBody((e.target as HTMLTextAreaElement).value)} />
          <div class="actions">
            <button
              type="button"
              disabled={busy || body === text.body}
              onClick={() => run(() => patch(`/sms/texts/${text.id}`, { body, version: text.version }), t("sms.saved"))}
            >
              {t("sms.save")}
            </button>
            <button
              type="button"
              class="primary"
              disabled={busy}
              onClick={() =>
                run(async () => {
                  if (body !== text.body) await patch(`/sms/texts/${text.id}`, { body, version: text.version });
                  await post(`/sms/texts/${text.id}/submit`);
                }, t("sms.submitted"))
              }
            >
              {t("sms.submit")}
            </button>
          </div>
        </>
      ) : (
        <blockquote>{text.body}</blockquote>
      )}
      <ErrorMessage error={error} />
    </li>
  );
}

function NewText({ campaignId, onDone }: { campaignId: number; onDone: (message: string) => void }) {
  const [body, setBody] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await post(`/sms/campaigns/${campaignId}/texts`, { kind: "custom", body });
      setBody("");
      onDone(t("sms.saved"));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <form class="card" onSubmit={submit} aria-labelledby="sms-new-h">
      <h3 id="sms-new-h">{t("sms.new")}</h3>
      <label for="sms-new-body">{t("sms.body")}</label>
      <textarea id="sms-new-body" rows={3} required value={body} onInput={(e) => setBody((e.target as HTMLTextAreaElement).value)} />
      <ErrorMessage error={error} />
      <button type="submit" disabled={busy || !body.trim()}>
        {t("sms.create")}
      </button>
    </form>
  );
}

/** ``mode``: "review" for coordinators, "own" for a bank contact. */
export function Texts({ campaignId, mode }: { campaignId: number; mode: "review" | "own" }) {
  const { data, error, loading, reload } = useAsync(() => get<SmsText[]>(`/sms/campaigns/${campaignId}/texts`), [campaignId]);
  const rows = data ?? [];
  const [status, setStatus] = useState("");
  const done = (message = t("sms.reviewed")): Promise<void> => {
    setStatus(message);
    return reload();
  };
  if (mode === "review") {
    const queue = rows.filter((x) => x.status === "submitted");
    return (
      <section aria-labelledby="sms-review-h">
        <h2 id="sms-review-h">{t("sms.review")}</h2>
        <ErrorMessage error={error} />
        <div aria-live="polite">{loading ? t("ui.loading") : status}</div>
        {data && !queue.length && <p>{t("sms.review.none")}</p>}
        <ul class="cards">
          {queue.map((x) => (
            <ReviewItem key={`${x.id}-${x.version}`} text={x} onDone={done} />
          ))}
        </ul>
        <h2>{t("sms.texts")}</h2>
        <table>
          <thead>
            <tr>
              <th scope="col">{t("sms.sender")}</th>
              <th scope="col">{t("sms.body")}</th>
              <th scope="col">{t("sms.status")}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((x) => (
              <tr>
                <td>{x.kind === "mandated" ? t("sms.kind.mandated") : t("sms.sender_no", { id: x.sender ?? "" })}</td>
                <td>
                  {x.body} <Measure text={x} />
                </td>
                <td>
                  <Status text={x} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    );
  }
  return (
    <section aria-labelledby="sms-own-h">
      <h2 id="sms-own-h">{t("sms.own")}</h2>
      <ErrorMessage error={error} />
      <div aria-live="polite">{loading ? t("ui.loading") : status}</div>
      <ul class="cards">
        {rows.map((x) => (
          <OwnText key={`${x.id}-${x.version}-${x.status}`} text={x} onDone={done} />
        ))}
      </ul>
      <NewText campaignId={campaignId} onDone={done} />
    </section>
  );
}
