// The form that generates a layout by one of the four methods, as a job when the API offers
// one (202 + polling, progress announced), else at once (201).
import { useState } from "preact/hooks";
import { t } from "../../common/i18n";
import { ErrorMessage } from "../../common/ui";
import { postAsJob, useJob } from "./jobs";
import { type Plan, planName } from "./plans";
import "./strings";

const METHODS = ["balanced", "blocks", "square", "hex"];

export function Generate(props: { areaId: number; onDone: (p: Plan) => void }) {
  const [method, setMethod] = useState("balanced");
  const { busy, job, error, pc, start } = useJob();
  const [done, setDone] = useState<Plan | null>(null);
  const byCount = method === "balanced" || method === "blocks";

  async function submit(e: Event) {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const body: Record<string, unknown> = { method };
    const name = String(form.get("name") ?? "").trim();
    if (name) body.name = name;
    if (byCount) body.cells = Number(form.get("cells"));
    else body.size_m = Number(form.get("size_m"));
    setDone(null);
    const plan = await start(async (onProgress) => {
      if (method === "blocks") {
        const file = form.get("roads") as File | null;
        if (file && file.size) body.roads = JSON.parse(await file.text());
      }
      return postAsJob<Plan>(`/areas/${props.areaId}/grid-plans`, body, onProgress);
    });
    if (plan) {
      setDone(plan);
      props.onDone(plan);
    }
  }

  return (
    <form class="generate" onSubmit={submit} aria-labelledby="generate-title">
      <h2 id="generate-title">{t("grid.generate")}</h2>
      <label>
        {t("grid.method")}
        <select name="method" value={method} onChange={(e) => setMethod((e.target as HTMLSelectElement).value)}>
          {METHODS.map((m) => (
            <option value={m}>{t(`grid.method.${m}`)}</option>
          ))}
        </select>
      </label>
      {byCount ? (
        <label>
          {t("grid.cells")}
          <input name="cells" type="number" min={1} max={2000} required defaultValue="140" />
        </label>
      ) : (
        <label>
          {t("grid.size_m")}
          <input name="size_m" type="number" min={1} max={100000} required defaultValue="400" />
        </label>
      )}
      {method === "blocks" && (
        <label>
          {t("grid.roads")}
          <input name="roads" type="file" accept=".geojson,.json,application/geo+json,application/json" />
        </label>
      )}
      <label>
        {t("grid.name")}
        <input name="name" maxLength={200} />
      </label>
      <button type="submit" class="primary" disabled={busy}>
        {t("grid.submit")}
      </button>
      <p aria-live="polite" class="status" data-testid="generate-status">
        {busy && !job && t("grid.generating")}
        {busy && job && t("grid.progress", {
            status: t(`grid.step.${job.message ?? job.status}`),
            percent: pc === null ? "" : `${pc}%`,
          })}
        {!busy && done && t("grid.generated", { name: planName(done) })}
      </p>
      {busy && job && pc !== null && (
        <progress max={100} value={pc} aria-label={t("grid.generating")} />
      )}
      <ErrorMessage error={error} />
    </form>
  );
}
