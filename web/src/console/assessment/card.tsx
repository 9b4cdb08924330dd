// A scorecard (考核卡): each indicator line with its raw figures, formula, value, points of
// the maximum, capped or not rated (and why); the records behind a computed line (paged);
// entry of an entered indicator with evidence and a photo; deductions with reasons.
import { useEffect, useState } from "preact/hooks";
import { ApiError, call, get, post, put } from "../../common/api";
import { t } from "../../common/i18n";
import { ErrorMessage, PagedList, useAsync } from "../../common/ui";
import { photoUrl, sha256Hex, uuid4 } from "../cases/photo";
import { GradeBadge } from "./runs";
import {
  type Card,
  type DeductionKind,
  type Evidence,
  type Line,
  deductionKinds,
  isContact,
  mayAssess,
  num,
  score,
  useAreas,
  when,
} from "./util";

async function upload(file: File): Promise<string> {
  const id = uuid4();
  await call(`/attachments/${id}`, {
    method: "PUT",
    body: file,
    contentType: file.type || "application/octet-stream",
    headers: { "X-Content-SHA256": await sha256Hex(file) },
  });
  return id;
}

/** The evidence of a form: the note and the uploaded file (if one was chosen). */
async function evidenceOf(f: FormData, onUpload: () => void): Promise<Evidence> {
  const file = f.get("photo");
  const attachments: string[] = [];
  if (file instanceof File && file.size) {
    onUpload();
    attachments.push(await upload(file));
  }
  return { note: String(f.get("note") ?? "").trim(), attachments };
}

function Raw({ line }: { line: Line }) {
  const raw = line.raw ?? {};
  const parts: string[] = [];
  if (raw.numerator !== undefined && raw.denominator !== undefined)
    parts.push(`${num(raw.numerator)} / ${num(raw.denominator)}`);
  if (raw.count !== undefined) parts.push(`n=${raw.count}`);
  if (raw.overall !== undefined) parts.push(`overall ${num(raw.overall, 4)}`);
  if (raw.entered !== undefined) parts.push(`${num(raw.entered)} / ${num(raw.scale ?? line.scale)}`);
  const details = (raw.details ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(details))
    parts.push(`${k}: ${typeof v === "object" ? JSON.stringify(v) : String(v)}`);
  return <span class="raw">{parts.length ? parts.join(" · ") : "—"}</span>;
}

function AttachmentView({ ids }: { ids: string[] | undefined }) {
  const [shown, setShown] = useState<string[]>([]);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => () => shown.forEach((u) => URL.revokeObjectURL(u)), [shown]);
  if (!ids?.length) return null;
  async function open() {
    try {
      setShown(await Promise.all(ids!.map(photoUrl)));
    } catch (err) {
      setError(err);
    }
  }
  return (
    <span class="attachments">
      {t("as.attachments", { n: ids.length })}{" "}
      {!shown.length && (
        <button type="button" class="link" onClick={open}>
          {t("as.view_photo")}
        </button>
      )}
      <ErrorMessage error={error} />
      {shown.map((u) => (
        <img class="evidence-photo" src={u} alt={t("as.photo")} />
      ))}
    </span>
  );
}

function Records({ line }: { line: Line }) {
  return (
    <section class="records" aria-label={t("as.records_of", { name: line.name })} data-testid="records">
      <h3>{t("as.records_of", { name: line.name })}</h3>
      <PagedList<Record<string, unknown>>
        path={line.records_url!}
        pageSize={20}
        render={(rows) => (
          <table>
            <thead>
              <tr>
                <th scope="col">{t("as.rec.id")}</th>
                <th scope="col">{t("as.rec.kind")}</th>
                <th scope="col">{t("as.rec.at")}</th>
                <th scope="col">{t("as.rec.ref")}</th>
                <th scope="col">{t("as.rec.counted")}</th>
                <th scope="col">{t("as.rec.description")}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr data-testid="record">
                  <td>{String(r.id)}</td>
                  <td>{String(r.kind ?? "")}</td>
                  <td>{(r.local as string) ?? when(r.at as string)}</td>
                  <td>{(r.ref as string) ?? "—"}</td>
                  <td>{r.counted == null ? "—" : r.counted ? t("as.yes") : t("as.no")}</td>
                  <td>{String(r.description ?? "")}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      />
    </section>
  );
}

function EntryForm({ card, line, onSaved }: { card: Card; line: Line; onSaved: (c: Card) => void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const scale = line.scale ?? 100;
  async function submit(e: Event) {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    setError(null);
    try {
      const evidence = await evidenceOf(f, () => setBusy(t("as.uploading")));
      setBusy("…");
      const saved = await put<Card>(`/assessments/scorecards/${card.id}/indicators/${line.code}`, {
        value: Number(f.get("value")),
        evidence,
        version: card.version,
      });
      onSaved(saved);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  }
  const title = t("as.enter_title", { name: line.name });
  return (
    <form class="entry-form card" onSubmit={submit} aria-label={title}>
      <h3>{title}</h3>
      <label>
        {t("as.entered_value", { scale })}
        <input
          name="value"
          type="number"
          min={0}
          max={scale}
          step="any"
          required
          defaultValue={line.entered_value == null ? "" : String(line.entered_value)}
        />
      </label>
      <label>
        {t("as.evidence")}
        <textarea name="note" rows={3} maxLength={4000} required defaultValue={line.evidence?.note ?? ""} />
      </label>
      <label>
        {t("as.photo")}
        <input type="file" name="photo" accept="image/jpeg,image/png,application/pdf" />
      </label>
      <Conflict error={error} />
      <p aria-live="polite">{busy ?? ""}</p>
      <button type="submit" disabled={!!busy}>
        {t("as.save")}
      </button>
    </form>
  );
}

/** The envelope's message; for a version conflict also what to do, and a reload. */
function Conflict({ error }: { error: unknown }) {
  const stale = error instanceof ApiError && error.code === "stale_version";
  return (
    <>
      <ErrorMessage error={error} />
      {stale && (
        <p class="error" data-testid="stale">
          {t("as.stale")}{" "}
          <button type="button" onClick={() => location.reload()}>
            {t("as.reload")}
          </button>
        </p>
      )}
    </>
  );
}

function DeductionForm({ card, kinds, onSaved }: {
  card: Card;
  kinds: DeductionKind[];
  onSaved: (c: Card) => void;
}) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState<string | null>(null);
  if (!kinds.length) return null;
  async function submit(e: Event) {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const f = new FormData(form);
    setError(null);
    try {
      const evidence = await evidenceOf(f, () => setBusy(t("as.uploading")));
      setBusy("…");
      const saved = await post<Card>(`/assessments/scorecards/${card.id}/deductions`, {
        code: String(f.get("code")),
        reason: String(f.get("reason") ?? "").trim(),
        evidence,
      });
      form.reset();
      onSaved(saved);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  }
  return (
    <form class="deduction-form card" onSubmit={submit} aria-label={t("as.deduct")}>
      <h3>{t("as.deduct")}</h3>
      <label>
        {t("as.deduct_kind")}
        <select name="code" required>
          {kinds.map((k) => (
            <option value={k.code}>
              {k.name}（−{k.points}）
            </option>
          ))}
        </select>
      </label>
      <label>
        {t("as.deduct_reason")}
        <input name="reason" required maxLength={2000} />
      </label>
      <label>
        {t("as.evidence")}
        <textarea name="note" rows={2} required maxLength={4000} />
      </label>
      <label>
        {t("as.photo")}
        <input type="file" name="photo" accept="image/jpeg,image/png,application/pdf" />
      </label>
      <ErrorMessage error={error} />
      <p aria-live="polite">{busy ?? ""}</p>
      <button type="submit" disabled={!!busy}>
        {t("as.deduct")}
      </button>
    </form>
  );
}

function LineRow({ line, open, onRecords, onEnter, editable }: {
  line: Line;
  open: boolean;
  onRecords: () => void;
  onEnter: () => void;
  editable: boolean;
}) {
  const why = line.not_rated_reason ? t(`as.not_rated.${line.not_rated_reason}`) : "";
  return (
    <tr data-line={line.code} data-testid="line" class={line.rated ? "" : "not-rated"}>
      <th scope="row">
        {line.name}
        <div class="muted">
          {line.group} · {t(`as.source.${line.source}`)}
        </div>
      </th>
      <td class="num">{line.weight}</td>
      <td>
        <Raw line={line} />
        {line.source === "entered" && line.evidence && (
          <div class="evidence" data-testid="evidence">
            {line.evidence.note}
            {line.entered_at && <span class="muted"> · {t("as.entered_by", { at: when(line.entered_at) })}</span>}
            <AttachmentView ids={line.evidence.attachments} />
          </div>
        )}
      </td>
      <td>
        {line.formula && <div>{line.formula}</div>}
        <div class="muted">{line.rule}</div>
      </td>
      <td class="num">{line.value == null ? "—" : num(line.value, 4)}</td>
      <td class="num" data-testid="line-points">
        {line.rated ? `${score(line.points)} / ${score(line.max_points)}` : "—"}
        {line.capped && <span class="badge">{t("as.capped")}</span>}
      </td>
      <td data-testid="line-rated">
        {line.rated ? "" : `${t("as.not_rated")}：${why || line.not_rated_text || ""}`}
      </td>
      <td>
        {line.records_url && (
          <button type="button" aria-expanded={open} onClick={onRecords}>
            {open ? t("as.hide_records") : t("as.records")}
          </button>
        )}
        {line.source === "entered" && editable && (
          <button type="button" onClick={onEnter}>
            {t("as.enter")}
          </button>
        )}
      </td>
    </tr>
  );
}

export function CardDetail({ id }: { id: number }) {
  const found = useAsync(() => get<Card>(`/assessments/scorecards/${id}`), [id]);
  const { name: areaOf } = useAreas();
  const [records, setRecords] = useState<string | null>(null);
  const [entering, setEntering] = useState<string | null>(null);
  const [done, setDone] = useState("");
  const card = found.data;
  // The run's page, when the user sees the run (a station sees its workers' cards of a
  // street's run, not the run).
  const run = useAsync(
    () => (card && !isContact() ? get(`/assessments/runs/${card.run_id}`).catch(() => null) : Promise.resolve(null)),
    [card?.run_id],
  );
  const editable = !!card && card.run_status !== "published" && mayAssess(card.template.assessor_role);
  const kinds = useAsync(
    () => (card && editable ? deductionKinds(card) : Promise.resolve([] as DeductionKind[])),
    [card?.id, editable],
  );
  function saved(c: Card, message: string) {
    found.setData(c);
    setEntering(null);
    setDone(message);
  }
  const openLine = card?.lines.find((l) => l.code === records);
  const enterLine = card?.lines.find((l) => l.code === entering);
  return (
    <>
      <p>
        {card && run.data && <a href={`#/assessment/runs/${card.run_id}`}>{t("as.back_run")}</a>}{" "}
        <a href="#/assessment/cards">{t("as.back_cards")}</a>
      </p>
      <ErrorMessage error={found.error} />
      {card && (
        <>
          <h1>
            {card.target_name} · {card.template.name} · {card.period}
          </h1>
          <dl class="facts">
            <dt>{t("as.period")}</dt>
            <dd>{t("as.period_dates", { from: card.period_start, to: card.period_end })}</dd>
            <dt>{t("as.community")}</dt>
            <dd>{areaOf(card.area_id)}</dd>
            <dt>{t("as.total")}</dt>
            <dd data-testid="card-total">{score(card.total)}</dd>
            <dt>{t("as.grade")}</dt>
            <dd data-testid="card-grade">
              <GradeBadge grade={card.grade} />
            </dd>
            <dt>{t("as.rated_weight")}</dt>
            <dd>{card.rated_weight}</dd>
            <dt>{t("as.deducted")}</dt>
            <dd>{score(card.deducted)}</dd>
            {card.disqualified && (
              <>
                <dt>{t("as.disqualified")}</dt>
                <dd>{t("as.yes")}</dd>
              </>
            )}
            {card.ranks && (
              <>
                <dt>{t("as.rank")}</dt>
                <dd>
                  {card.ranks.community != null && `${t("as.rank.community")} ${card.ranks.community} `}
                  {card.ranks.street != null && `${t("as.rank.street")} ${card.ranks.street} `}
                  {card.ranks.run != null && `${t("as.rank.run")} ${card.ranks.run}`}
                </dd>
              </>
            )}
          </dl>
          <p class="done" role="status">
            {done}
          </p>
          <h2>{t("as.lines")}</h2>
          <div class="table-scroll" tabIndex={0}>
            <table class="lines" data-testid="lines">
              <thead>
                <tr>
                  <th scope="col">{t("as.indicator")}</th>
                  <th scope="col">{t("as.weight")}</th>
                  <th scope="col">{t("as.raw")}</th>
                  <th scope="col">{t("as.formula")}</th>
                  <th scope="col">{t("as.value")}</th>
                  <th scope="col">{t("as.points")}</th>
                  <th scope="col">{t("as.not_rated")}</th>
                  <th scope="col">
                    <span class="sr-only">{t("as.records")}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {card.lines.map((line) => (
                  <LineRow
                    line={line}
                    open={records === line.code}
                    editable={editable}
                    onRecords={() => setRecords(records === line.code ? null : line.code)}
                    onEnter={() => {
                      setDone("");
                      setEntering(entering === line.code ? null : line.code);
                    }}
                  />
                ))}
              </tbody>
            </table>
          </div>
          {enterLine && (
            <EntryForm card={card} line={enterLine} onSaved={(c) => saved(c, t("as.saved"))} />
          )}
          {openLine && <Records line={openLine} />}
          <h2>{t("as.deductions")}</h2>
          {card.deductions.length ? (
            <table data-testid="deductions">
              <thead>
                <tr>
                  <th scope="col">{t("as.deduct_kind")}</th>
                  <th scope="col">{t("as.points")}</th>
                  <th scope="col">{t("as.deduct_reason")}</th>
                  <th scope="col">{t("as.evidence")}</th>
                </tr>
              </thead>
              <tbody>
                {card.deductions.map((d) => (
                  <tr>
                    <td>{d.name}</td>
                    <td class="num">−{score(d.points)}</td>
                    <td>{d.reason}</td>
                    <td>
                      {d.evidence?.note} <AttachmentView ids={d.evidence?.attachments} />
                      <span class="muted"> · {when(d.created_at)}</span>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p>{t("as.no_deductions")}</p>
          )}
          {editable && (
            <DeductionForm card={card} kinds={kinds.data ?? []} onSaved={(c) => saved(c, t("as.deducted_ok"))} />
          )}
        </>
      )}
    </>
  );
}
