// On-site verification (核查) by a station account of the case's community: the position from
// the browser's geolocation or typed, a photo uploaded through PUT /attachments/{uuid}, a note;
// POST /tasks/{id}/verify. 422 too_far is explained with the distance and the limit.
import { useState } from "preact/hooks";
import { ApiError, call, post } from "../../common/api";
import { t } from "../../common/i18n";
import { ErrorMessage } from "../../common/ui";
import { sha256Hex, uuid4 } from "./photo";
import { CaseFacts } from "./detail";
import { type Case, stepsFor, tl, useCase } from "./util";

async function uploadPhoto(file: File): Promise<string> {
  const id = uuid4();
  await call(`/attachments/${id}`, {
    method: "PUT",
    body: file,
    contentType: file.type || "image/jpeg",
    headers: { "X-Content-SHA256": await sha256Hex(file) },
  });
  return id;
}

function VerifyForm({ c, onDone }: { c: Case; onDone: () => void }) {
  const [lon, setLon] = useState("");
  const [lat, setLat] = useState("");
  const [geo, setGeo] = useState<string>("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState<string | null>(null);

  function locate() {
    if (!navigator.geolocation) {
      setGeo(t("cases.verify.geo_error"));
      return;
    }
    setGeo(t("cases.verify.locating"));
    navigator.geolocation.getCurrentPosition(
      (p) => {
        setLon(p.coords.longitude.toFixed(6));
        setLat(p.coords.latitude.toFixed(6));
        setGeo(t("cases.verify.located", { m: Math.round(p.coords.accuracy) }));
      },
      () => setGeo(t("cases.verify.geo_error")),
      { enableHighAccuracy: true, timeout: 15_000 },
    );
  }

  async function submit(e: Event) {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    const photo = f.get("photo");
    setError(null);
    try {
      const attachments: string[] = [];
      if (photo instanceof File && photo.size) {
        setBusy(t("cases.verify.uploading"));
        attachments.push(await uploadPhoto(photo));
      }
      setBusy("…");
      await post(`/tasks/${c.id}/verify`, {
        version: c.version,
        location: { lon: Number(lon), lat: Number(lat) },
        attachments,
        note: String(f.get("note") ?? "").trim(),
      });
      onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  }
  const far = error instanceof ApiError && error.code === "too_far" ? error.details : null;
  return (
    <form class="verify-form card" onSubmit={submit} aria-label={t("cases.verify.title")}>
      <fieldset>
        <legend>{t("cases.verify.position")}</legend>
        <button type="button" onClick={locate}>
          {t("cases.verify.locate")}
        </button>
        <span aria-live="polite"> {geo}</span>
        <div class="filters">
          <label>
            {t("cases.verify.lon")}
            <input name="lon" inputMode="decimal" required value={lon} onInput={(e) => setLon(e.currentTarget.value)} />
          </label>
          <label>
            {t("cases.verify.lat")}
            <input name="lat" inputMode="decimal" required value={lat} onInput={(e) => setLat(e.currentTarget.value)} />
          </label>
        </div>
      </fieldset>
      <label>
        {t("cases.verify.photo")}
        <input type="file" name="photo" accept="image/jpeg,image/png" capture="environment" required />
      </label>
      <label>
        {t("cases.verify.note")}
        <textarea name="note" rows={3} maxLength={2000} required />
      </label>
      {far && (
        <p class="error too-far" data-testid="too-far">
          {t("cases.verify.too_far", { d: Math.round(Number(far.distance_m)), limit: Math.round(Number(far.limit_m)) })}
        </p>
      )}
      <ErrorMessage error={error} />
      <p aria-live="polite">{busy ?? ""}</p>
      <button type="submit" disabled={!!busy}>
        {t("cases.verify.submit")}
      </button>
    </form>
  );
}

export function VerifyPage({ id }: { id: number }) {
  const found = useCase(id);
  const c = found.data;
  return (
    <>
      <p>
        <a href={`#/cases/${id}`}>{c ? c.title : t("cases.back")}</a>
      </p>
      <h1>{t("cases.verify.title")}</h1>
      <ErrorMessage error={found.error} />
      {c && (
        <>
          <CaseFacts c={c} />
          {stepsFor(c).includes("verify") ? (
            <VerifyForm c={c} onDone={() => (location.hash = `#/cases/${id}`)} />
          ) : (
            <p>{tl(`cases.status.${c.status}`)}</p>
          )}
        </>
      )}
    </>
  );
}
