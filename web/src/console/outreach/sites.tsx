// Site suggestions: where to put N publicity sites so that most households are within the
// radius of one; each chosen site drawn with its catchment circle, the numbers beside the
// plain top-k baseline.
import { useState } from "preact/hooks";
import { page, post } from "../../common/api";
import { t } from "../../common/i18n";
import { ErrorMessage, useAsync } from "../../common/ui";
import { SitesMap } from "./map";
import { tl } from "./util";

const TYPES = ["market", "square", "school", "compound", "courtyard"];

interface Site {
  place_id: number;
  name: string;
  type: string;
  lon: number;
  lat: number;
  catchment: number;
  adds: number;
  covered: number;
}
interface Suggestion {
  area_id: number;
  count: number;
  radius_m: number;
  candidates: number;
  households: number;
  reachable: number;
  sites: Site[];
  covered: number;
  share: number;
  short_by: number;
  baseline: { sites: Site[]; covered: number; share: number };
  gain_over_baseline: number;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function SiteTable({ caption, sites }: { caption: string; sites: Site[] }) {
  return (
    <table>
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">#</th>
          <th scope="col">{t("or.sites.place")}</th>
          <th scope="col">{t("or.sites.type")}</th>
          <th scope="col">{t("or.sites.catchment")}</th>
          <th scope="col">{t("or.sites.adds")}</th>
          <th scope="col">{t("or.sites.covered")}</th>
        </tr>
      </thead>
      <tbody>
        {sites.map((s, i) => (
          <tr>
            <td>{i + 1}</td>
            <td>{s.name}</td>
            <td>{tl(`or.type.${s.type}`)}</td>
            <td>{s.catchment}</td>
            <td>{s.adds}</td>
            <td>{s.covered}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function SiteSuggestions({ defaultArea }: { defaultArea?: number }) {
  const areas = useAsync(
    () => page<{ id: number; code: string; name: string; level: string }>("/areas", {}, 1, 500).then((r) => r.rows),
    [],
  );
  const [result, setResult] = useState<Suggestion | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [form, setForm] = useState({ count: "7", radius: "300", separation: "200" });
  const [types, setTypes] = useState<string[]>(TYPES);
  const field = (name: keyof typeof form) => ({
    name,
    value: form[name],
    onInput: (e: Event) => setForm({ ...form, [name]: (e.target as HTMLInputElement).value }),
  });
  async function submit(e: Event) {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    setBusy(true);
    setError(null);
    try {
      setResult(
        await post<Suggestion>("/outreach/site-suggestions", {
          area_id: Number(f.get("area")),
          count: Number(form.count),
          radius_m: Number(form.radius),
          min_separation_m: Number(form.separation || 0),
          ...(types.length ? { candidate_types: types } : {}),
        }),
      );
    } catch (err) {
      setError(err);
      setResult(null);
    } finally {
      setBusy(false);
    }
  }
  const list = (areas.data ?? []).filter((a) => a.level !== "district");
  return (
    <div class="or-sites">
      <h1>{t("or.sites")}</h1>
      <form class="filters" onSubmit={submit} aria-label={t("or.sites")}>
        <label>
          {t("or.area")}
          <select name="area" required>
            {list.map((a) => (
              <option value={a.id} selected={a.id === defaultArea || (!defaultArea && a.level === "street")}>
                {a.code} {a.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t("or.count")}
          <input type="number" min={1} max={50} required {...field("count")} />
        </label>
        <label>
          {t("or.radius")}
          <input type="number" min={1} max={5000} required {...field("radius")} />
        </label>
        <label>
          {t("or.separation")}
          <input type="number" min={0} max={20000} {...field("separation")} />
        </label>
        <fieldset>
          <legend>{t("or.types")}</legend>
          {TYPES.map((ty) => (
            <label class="check">
              <input
                type="checkbox"
                name="types"
                value={ty}
                checked={types.includes(ty)}
                onChange={(e) =>
                  setTypes((e.target as HTMLInputElement).checked ? [...types, ty] : types.filter((x) => x !== ty))
                }
              />
              {tl(`or.type.${ty}`)}
            </label>
          ))}
        </fieldset>
        <button type="submit" disabled={busy || !list.length}>
          {t("or.suggest")}
        </button>
      </form>
      <ErrorMessage error={areas.error} />
      <ErrorMessage error={error} />
      <p aria-live="polite">{busy ? t("or.suggesting") : ""}</p>
      {result && (
        <section aria-labelledby="or-sites-res-h" data-testid="site-suggestions">
          <h2 id="or-sites-res-h">{t("or.sites.suggested")}</h2>
          <p role="status">
            {t("or.sites.result", {
              n: result.sites.length,
              covered: result.covered,
              share: pct(result.share),
              base: result.baseline.covered,
              bshare: pct(result.baseline.share),
              gain: result.gain_over_baseline,
            })}
          </p>
          <p>
            {t("or.sites.stats", { candidates: result.candidates, households: result.households, reachable: result.reachable })}
          </p>
          {result.short_by > 0 && <p class="warn">{t("or.sites.short", { n: result.short_by })}</p>}
          <div class="or-sites-grid">
            <SitesMap areaId={result.area_id} radius={result.radius_m} sites={result.sites} baseline={result.baseline.sites} />
            <div>
              <SiteTable caption={t("or.sites.suggested")} sites={result.sites} />
              <SiteTable caption={t("or.sites.baseline")} sites={result.baseline.sites} />
            </div>
          </div>
        </section>
      )}
    </div>
  );
}
