// One worker: cell assignments (add, end), terminals (revoke) and a one-time enrolment code
// shown as text and as a QR code for the terminal to scan.
import { useState } from "preact/hooks";
import { del, get, post } from "../../common/api";
import { t } from "../../common/i18n";
import { ErrorMessage, useAsync } from "../../common/ui";
import { when } from "./strings";

export interface Worker {
  id: number;
  full_name: string;
  status: string;
  phone: string | null;
  cells: string[];
  area_id: number;
  user_id: number | null;
}

interface Assignment {
  id: number;
  cell_code: string;
  starts_on: string;
  ends_on: string | null;
}

interface Device {
  id: number;
  label: string | null;
  platform: string | null;
  enrolled_at: string | null;
  last_seen_at: string | null;
  revoked_at: string | null;
}

interface Enrolment {
  code: string;
  qr: string;
  expires_at: string;
}

export function WorkerPanel({ worker, onChanged }: { worker: Worker; onChanged: () => void }) {
  const assignments = useAsync(
    () => get<Assignment[]>(`/workers/${worker.id}/assignments`),
    [worker.id],
  );
  const devices = useAsync(() => get<Device[]>(`/workers/${worker.id}/devices`), [worker.id]);
  const [error, setError] = useState<unknown>(null);
  const [message, setMessage] = useState("");
  const [enrolment, setEnrolment] = useState<Enrolment | null>(null);
  const [qr, setQr] = useState<string | null>(null);

  async function run(f: () => Promise<unknown>, done = "") {
    setError(null);
    setMessage("");
    try {
      await f();
      setMessage(done);
    } catch (e) {
      setError(e);
    }
  }

  async function enrol() {
    await run(async () => {
      const code = await post<Enrolment>(`/workers/${worker.id}/enrolment-codes`);
      setEnrolment(code);
      const { toDataURL } = await import("qrcode");
      setQr(await toDataURL(code.qr || code.code, { margin: 2, width: 220 }));
    });
  }

  return (
    <section class="worker-panel" aria-labelledby="worker-title">
      <h2 id="worker-title" tabIndex={-1}>
        {t("field.worker", { name: worker.full_name })}
      </h2>
      <p aria-live="polite" class="status">
        {message}
      </p>
      <ErrorMessage error={error} />

      <h3>{t("field.assignments")}</h3>
      <ErrorMessage error={assignments.error} />
      {assignments.data && (
        <table>
          <thead>
            <tr>
              <th scope="col">{t("field.col.cell")}</th>
              <th scope="col">{t("field.col.from")}</th>
              <th scope="col">{t("field.col.to")}</th>
              <th scope="col">
                <span class="sr-only">{t("field.assign")}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {assignments.data.map((a) => (
              <tr>
                <td>{a.cell_code}</td>
                <td>{a.starts_on}</td>
                <td>{a.ends_on ?? "—"}</td>
                <td>
                  {!a.ends_on && (
                    <button
                      type="button"
                      onClick={() =>
                        run(async () => {
                          await del(`/workers/${worker.id}/assignments/${encodeURIComponent(a.cell_code)}`);
                          assignments.reload();
                          onChanged();
                        })
                      }
                    >
                      {t("field.unassign", { cell: a.cell_code })}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form
        class="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget as HTMLFormElement);
          const body: Record<string, string> = { cell: String(f.get("cell")).trim() };
          if (f.get("starts_on")) body.starts_on = String(f.get("starts_on"));
          run(async () => {
            await post(`/workers/${worker.id}/assignments`, body);
            assignments.reload();
            onChanged();
          });
        }}
      >
        <label>
          {t("field.assign_cell")} <input name="cell" required />
        </label>
        <label>
          {t("field.assign_from")} <input name="starts_on" type="date" />
        </label>
        <button type="submit">{t("field.assign")}</button>
      </form>

      <h3>{t("field.devices")}</h3>
      <ErrorMessage error={devices.error} />
      {devices.data && devices.data.length > 0 && (
        <table data-testid="devices">
          <thead>
            <tr>
              <th scope="col">{t("field.col.label")}</th>
              <th scope="col">{t("field.col.platform")}</th>
              <th scope="col">{t("field.col.enrolled")}</th>
              <th scope="col">{t("field.col.seen")}</th>
              <th scope="col">{t("field.col.revoked")}</th>
            </tr>
          </thead>
          <tbody>
            {devices.data.map((d) => (
              <tr>
                <td>{d.label ?? `#${d.id}`}</td>
                <td>{d.platform ?? "—"}</td>
                <td>{when(d.enrolled_at)}</td>
                <td>{when(d.last_seen_at)}</td>
                <td>
                  {d.revoked_at ? (
                    when(d.revoked_at)
                  ) : (
                    <button
                      type="button"
                      onClick={() => {
                        if (!confirm(t("field.revoke_confirm"))) return;
                        run(async () => {
                          await post(`/devices/${d.id}/revoke`);
                          devices.reload();
                        }, t("field.revoked"));
                      }}
                    >
                      {t("field.revoke", { label: d.label ?? `#${d.id}` })}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p>
        <button type="button" class="primary" onClick={enrol} disabled={!worker.user_id}>
          {t("field.enrol")}
        </button>{" "}
        {!worker.user_id && <span>{t("field.no_account")}</span>}
      </p>
      {enrolment && (
        <div class="enrolment" data-testid="enrolment">
          <p>
            {t("field.enrol_code")}: <strong class="code" data-testid="enrolment-code">{enrolment.code}</strong>
          </p>
          <p>{t("field.enrol_expires", { at: when(enrolment.expires_at) })}</p>
          {qr && <img src={qr} width={220} height={220} alt={t("field.enrol_qr", { code: enrolment.code })} />}
          <p>{t("field.enrol_hint")}</p>
        </div>
      )}
    </section>
  );
}
