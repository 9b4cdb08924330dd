// Tasks and cases: a filtered list (status, kind, area) paging through GET /tasks, and each
// one's detail with its history (GET /tasks/{id}). Routes: #/tasks, #/tasks/<id>.
// A case moves only by its ladder steps (POST /tasks/{id}/{step}; PATCH refuses a case's
// status): its row and detail lead to the case screen (#/cases/<id>), never to an edit here.
import { useState } from "preact/hooks";
import { get, page } from "../../common/api";
import { t } from "../../common/i18n";
import { ErrorMessage, PagedList, useAsync } from "../../common/ui";
import "../sms/sms.css";
import "../tasks/strings";

const STATUSES = ["open", "in_progress", "done", "cancelled"];
const KINDS = ["task", "case"];

interface Task {
  id: number;
  kind: string;
  title: string;
  details: string;
  place_id: number | null;
  cell_code: string | null;
  area_id: number;
  location: { lon: number; lat: number } | null;
  assigned_worker_id: number | null;
  status: string;
  priority: string;
  source: string;
  due_at: string | null;
  note: string;
  created_at: string;
  version: number;
}
interface TaskEvent {
  action: string;
  from_status: string | null;
  to_status: string | null;
  from_worker_id: number | null;
  to_worker_id: number | null;
  note: string;
  actor_id: number | null;
  at: string;
}
interface Area {
  id: number;
  code: string;
  name: string;
  level: string;
}

const tl = (key: string) => {
  const s = t(key);
  return s === key ? key.split(".").pop()! : s;
};
/** A case opens in the cases screen (its steps), a task here. */
const caseOrTask = (x: { id: number; kind: string }) =>
  x.kind === "case" ? `#/cases/${x.id}` : `#/tasks/${x.id}`;
const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : "—");

function Filters({ onApply }: { onApply: (q: Record<string, string>) => void }) {
  const areas = useAsync(() => page<Area>("/areas", {}, 1, 500).then((r) => r.rows), []);
  function submit(e: Event) {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    onApply(Object.fromEntries([...f.entries()].map(([k, v]) => [k, String(v)])));
  }
  return (
    <form class="filters" onSubmit={submit} aria-label={t("tasks.filters")}>
      <label>
        {t("tasks.status")}
        <select name="status">
          <option value="">{t("tasks.any")}</option>
          {STATUSES.map((s) => (
            <option value={s}>{tl(`tasks.status.${s}`)}</option>
          ))}
        </select>
      </label>
      <label>
        {t("tasks.kind")}
        <select name="kind">
          <option value="">{t("tasks.any")}</option>
          {KINDS.map((s) => (
            <option value={s}>{tl(`tasks.kind.${s}`)}</option>
          ))}
        </select>
      </label>
      <label>
        {t("tasks.area")}
        <select name="area">
          <option value="">{t("tasks.any")}</option>
          {(areas.data ?? []).map((a) => (
            <option value={a.id}>
              {a.code} {a.name}
            </option>
          ))}
        </select>
      </label>
      <button type="submit">{t("tasks.apply")}</button>
      <ErrorMessage error={areas.error} />
    </form>
  );
}

function TaskList() {
  const [query, setQuery] = useState<Record<string, string>>({});
  return (
    <>
      <h1>{t("tasks.title")}</h1>
      <Filters onApply={setQuery} />
      <PagedList<Task>
        path="/tasks"
        query={query}
        render={(rows) => (
          <table>
            <thead>
              <tr>
                <th scope="col">{t("tasks.item")}</th>
                <th scope="col">{t("tasks.kind")}</th>
                <th scope="col">{t("tasks.status")}</th>
                <th scope="col">{t("tasks.priority")}</th>
                <th scope="col">{t("tasks.cell")}</th>
                <th scope="col">{t("tasks.due")}</th>
                <th scope="col">{t("tasks.created")}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((x) => (
                <tr>
                  <td>
                    <a href={caseOrTask(x)}>{x.title}</a>
                  </td>
                  <td>{tl(`tasks.kind.${x.kind}`)}</td>
                  <td>{tl(`tasks.status.${x.status}`)}</td>
                  <td>{tl(`tasks.priority.${x.priority}`)}</td>
                  <td>{x.cell_code ?? "—"}</td>
                  <td>{when(x.due_at)}</td>
                  <td>{when(x.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      />
    </>
  );
}

function TaskDetail({ id }: { id: number }) {
  const { data, error, loading } = useAsync(() => get<Task & { history: TaskEvent[] }>(`/tasks/${id}`), [id]);
  return (
    <>
      <p>
        <a href="#/tasks">{t("tasks.back")}</a>
      </p>
      <h1>{data ? data.title : t("tasks.title")}</h1>
      <ErrorMessage error={error} />
      <div aria-live="polite">{loading && t("ui.loading")}</div>
      {data && data.kind === "case" && (
        <p>
          <a href={caseOrTask(data)}>{t("tasks.handle_case")}</a>
        </p>
      )}
      {data && (
        <>
          <dl class="facts">
            <dt>{t("tasks.kind")}</dt>
            <dd>{tl(`tasks.kind.${data.kind}`)}</dd>
            <dt>{t("tasks.status")}</dt>
            <dd>{tl(`tasks.status.${data.status}`)}</dd>
            <dt>{t("tasks.priority")}</dt>
            <dd>{tl(`tasks.priority.${data.priority}`)}</dd>
            <dt>{t("tasks.cell")}</dt>
            <dd>{data.cell_code ?? "—"}</dd>
            <dt>{t("tasks.worker")}</dt>
            <dd>{data.assigned_worker_id ?? "—"}</dd>
            <dt>{t("tasks.source")}</dt>
            <dd>{data.source}</dd>
            <dt>{t("tasks.due")}</dt>
            <dd>{when(data.due_at)}</dd>
            {data.location && (
              <>
                <dt>{t("tasks.location")}</dt>
                <dd>
                  {data.location.lon.toFixed(5)}, {data.location.lat.toFixed(5)}
                </dd>
              </>
            )}
            <dt>{t("tasks.details")}</dt>
            <dd>{data.details || "—"}</dd>
            <dt>{t("tasks.note")}</dt>
            <dd>{data.note || "—"}</dd>
          </dl>
          <h2>{t("tasks.history")}</h2>
          {data.history.length ? (
            <table>
              <thead>
                <tr>
                  <th scope="col">{t("tasks.at")}</th>
                  <th scope="col">{t("tasks.action")}</th>
                  <th scope="col">{t("tasks.change")}</th>
                  <th scope="col">{t("tasks.note")}</th>
                  <th scope="col">{t("tasks.actor")}</th>
                </tr>
              </thead>
              <tbody>
                {data.history.map((h) => (
                  <tr>
                    <td>{when(h.at)}</td>
                    <td>{h.action}</td>
                    <td>
                      {h.from_status || h.to_status
                        ? `${h.from_status ? tl(`tasks.status.${h.from_status}`) : "—"} → ${h.to_status ? tl(`tasks.status.${h.to_status}`) : "—"}`
                        : ""}
                      {h.from_worker_id !== h.to_worker_id ? ` ${t("tasks.worker")} ${h.from_worker_id ?? "—"} → ${h.to_worker_id ?? "—"}` : ""}
                    </td>
                    <td>{h.note}</td>
                    <td>{h.actor_id ?? "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p>{t("tasks.history.none")}</p>
          )}
        </>
      )}
    </>
  );
}

export default function Screen({ rest }: { rest: string[] }) {
  const id = Number(rest[0]);
  return <div class="tasks">{id ? <TaskDetail id={id} /> : <TaskList />}</div>;
}
