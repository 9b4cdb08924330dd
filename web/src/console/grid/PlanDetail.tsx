// One layout: its metrics and map, merge/split edits, and the approval steps the role allows.
import { useState } from "preact/hooks";
import { del, get, post } from "../../common/api";
import { t } from "../../common/i18n";
import { ErrorMessage, useAsync } from "../../common/ui";
import { hasRole } from "../session";
import { MetricsTable, type Plan, PlanMap, planName } from "./plans";
import "./strings";

export function PlanDetail({ id }: { id: number }) {
  const { data: plan, error, setData } = useAsync(() => get<Plan>(`/grid-plans/${id}`), [id]);
  const [actionError, setActionError] = useState<unknown>(null);
  const [message, setMessage] = useState("");

  async function act(run: () => Promise<Plan | void>, done?: (p: Plan) => string) {
    setActionError(null);
    setMessage("");
    try {
      const p = await run();
      if (p) {
        setData(p);
        setMessage(done ? done(p) : t("grid.done", { status: t(`grid.status.${p.status}`) }));
      }
    } catch (e) {
      setActionError(e);
    }
  }

  if (!plan) return <ErrorMessage error={error} />;
  const planner = hasRole("street_centre", "district_centre");
  const edit = (body: Record<string, unknown>) =>
    act(
      () => post<Plan>(`/grid-plans/${plan.id}/edits`, { ...body, version: plan.version }),
      (p) => t("grid.edited", { version: p.version }),
    );
  const step = (path: string, body: Record<string, unknown> = {}) =>
    act(() => post<Plan>(`/grid-plans/${plan.id}/${path}`, body));

  return (
    <section aria-labelledby="plan-title">
      <p>
        <a href="#/grid">{t("grid.back")}</a>
      </p>
      <h2 id="plan-title">
        {t("grid.plan", { name: planName(plan) })} · {t(`grid.status.${plan.status}`)}
      </h2>
      <div class="plan-layout">
        <MetricsTable plans={[plan]} caption={t("grid.plan", { name: planName(plan) })} />
        <PlanMap plan={plan} version={plan.version} />
      </div>
      <p aria-live="polite" class="status">
        {message}
      </p>
      <ErrorMessage error={actionError} />
      {planner && plan.status === "draft" && (
        <section aria-labelledby="edit-title" class="edits">
          <h3 id="edit-title">{t("grid.edit")}</h3>
          <form
            onSubmit={(e) => {
              e.preventDefault();
              const f = new FormData(e.currentTarget as HTMLFormElement);
              edit({ op: "merge", cells: [String(f.get("a")).trim(), String(f.get("b")).trim()] });
            }}
          >
            <fieldset>
              <legend>{t("grid.merge")}</legend>
              <label>
                {t("grid.merge_a")} <input name="a" required />
              </label>
              <label>
                {t("grid.merge_b")} <input name="b" required />
              </label>
              <button type="submit">{t("grid.merge_do")}</button>
            </fieldset>
          </form>
          <form
            onSubmit={(e) => {
              e.preventDefault();
              const f = new FormData(e.currentTarget as HTMLFormElement);
              edit({ op: "split", cell: String(f.get("cell")).trim(), parts: Number(f.get("parts")) });
            }}
          >
            <fieldset>
              <legend>{t("grid.split")}</legend>
              <label>
                {t("grid.split_cell")} <input name="cell" required />
              </label>
              <label>
                {t("grid.split_parts")} <input name="parts" type="number" min={2} max={50} defaultValue="2" required />
              </label>
              <button type="submit">{t("grid.split_do")}</button>
            </fieldset>
          </form>
        </section>
      )}
      <section aria-labelledby="workflow-title" class="workflow">
        <h3 id="workflow-title">{t("grid.workflow")}</h3>
        {plan.status === "approved" && plan.effective_from && (
          <p data-testid="plan-scheduled">{t("grid.scheduled", { day: plan.effective_from })}</p>
        )}
        {plan.status === "draft" && hasRole("street_centre") && (
          <button type="button" onClick={() => step("propose")}>
            {t("grid.propose")}
          </button>
        )}
        {plan.status === "proposed" && hasRole("district_centre") && (
          <>
            <button type="button" onClick={() => step("approve")}>
              {t("grid.approve")}
            </button>
            <form
              class="inline-form"
              onSubmit={(e) => {
                e.preventDefault();
                const note = String(new FormData(e.currentTarget as HTMLFormElement).get("note") ?? "");
                step("return", note ? { note } : {});
              }}
            >
              <label>
                {t("grid.return_note")} <input name="note" />
              </label>
              <button type="submit">{t("grid.return")}</button>
            </form>
          </>
        )}
        {plan.status === "approved" && hasRole("district_centre") && (
          <form
            class="inline-form"
            onSubmit={(e) => {
              e.preventDefault();
              const day = String(new FormData(e.currentTarget as HTMLFormElement).get("day"));
              step("activate", { effective_from: day });
            }}
          >
            <label>
              {t("grid.effective_from")} <input name="day" type="date" required />
            </label>
            <button type="submit">{t("grid.activate")}</button>
          </form>
        )}
        {plan.status === "draft" && planner && (
          <button
            type="button"
            onClick={() =>
              act(async () => {
                await del(`/grid-plans/${plan.id}`);
                location.hash = "#/grid";
              })
            }
          >
            {t("grid.delete")}
          </button>
        )}
        {!planner && <p>{t("grid.no_actions")}</p>}
      </section>
    </section>
  );
}
