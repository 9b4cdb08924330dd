// A cell's panel on the map: its worker, places, households, today's patrols and open tasks,
// each from a public list (households and tasks counted through X-Pagination / the rows).
import { call, get } from "../../common/api";
import { registerStrings, t } from "../../common/i18n";
import type { Feature } from "../../common/map";
import { ErrorMessage, useAsync } from "../../common/ui";
import { hasRole } from "../session";
import { CellPlaces, type PlaceInfo } from "./PlacePanel";

registerStrings(
  {
    "cell.title": "网格 {code}",
    "cell.worker": "网格员",
    "cell.vacant": "空缺",
    "cell.places": "地点数",
    "cell.workload": "工作量",
    "cell.households": "已登记住户",
    "cell.patrols": "今日巡查",
    "cell.patrols_none": "今日未巡查",
    "cell.patrols_some": "{n} 次（{first}–{last}）",
    "cell.tasks": "未完成任务",
    "cell.no_tasks": "无",
    "cell.close": "关闭网格面板",
    "cell.not_allowed": "无权查看",
  },
  {
    "cell.title": "Cell {code}",
    "cell.worker": "Worker",
    "cell.vacant": "vacant",
    "cell.places": "Places",
    "cell.workload": "Workload",
    "cell.households": "Registered households",
    "cell.patrols": "Patrols today",
    "cell.patrols_none": "not patrolled today",
    "cell.patrols_some": "{n} ({first}–{last})",
    "cell.tasks": "Open tasks",
    "cell.no_tasks": "none",
    "cell.close": "Close the cell panel",
    "cell.not_allowed": "not available to your role",
  },
);

interface Task {
  id: number;
  title: string;
  status: string;
  priority: string;
  cell_code: string | null;
}

interface Patrol {
  code: string;
  patrols: number;
  first: string | null;
  last: string | null;
}

const FIELD_ROLES = ["station", "street_centre", "district_centre"];

function time(s: string | null): string {
  if (!s) return "";
  const d = new Date(s);
  return isNaN(d.getTime()) ? s : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function CellPanel(props: {
  cell: Feature;
  areaId: number;
  today: string;
  onClose: () => void;
  onOpenPlace: (p: PlaceInfo) => void;
}) {
  const p = props.cell.properties;
  const allowed = hasRole(...FIELD_ROLES);
  const details = useAsync(async () => {
    if (!allowed) return null;
    const [households, coverage, tasks] = await Promise.all([
      call<unknown[]>("/households", { query: { cell: p.id, page: 1, page_size: 1 } }),
      get<{ cells: Patrol[] }>("/reports/patrol-coverage", { area: props.areaId, date: props.today }),
      // GET /tasks has no cell filter: the worker's (or the area's) unfinished tasks and cases
      // (open, in progress, accepted), kept by cell code
      Promise.all(
        ["open", "in_progress", "accepted"].map((status) =>
          get<Task[]>("/tasks", {
            status,
            ...(p.worker ? { worker_id: p.worker.id } : { area: props.areaId }),
            page_size: 500,
          }),
        ),
      ).then((lists) => lists.flat()),
    ]);
    return {
      households: households.pagination?.total ?? (households.data as unknown[]).length,
      patrol: coverage.cells.find((c) => c.code === p.code) ?? null,
      tasks: tasks.filter((x) => x.cell_code === p.code),
    };
  }, [p.id, props.areaId, props.today]);
  const d = details.data;
  return (
    <section class="cell-panel" aria-labelledby="cell-panel-title" data-testid="cell-panel">
      <h2 id="cell-panel-title" tabIndex={-1}>
        {t("cell.title", { code: p.code })}
      </h2>
      <button type="button" class="close" onClick={props.onClose} aria-label={t("cell.close")}>
        ×
      </button>
      <dl>
        <dt>{t("cell.worker")}</dt>
        <dd>{p.worker ? p.worker.full_name : t("cell.vacant")}</dd>
        <dt>{t("cell.places")}</dt>
        <dd>{p.place_count}</dd>
        <dt>{t("cell.workload")}</dt>
        <dd>{p.workload}</dd>
        <dt>{t("cell.households")}</dt>
        <dd>{allowed ? (d ? d.households : "…") : t("cell.not_allowed")}</dd>
        <dt>{t("cell.patrols")}</dt>
        <dd>
          {!allowed
            ? t("cell.not_allowed")
            : !d
              ? "…"
              : d.patrol && d.patrol.patrols
                ? t("cell.patrols_some", {
                    n: d.patrol.patrols,
                    first: time(d.patrol.first),
                    last: time(d.patrol.last),
                  })
                : t("cell.patrols_none")}
        </dd>
      </dl>
      <ErrorMessage error={details.error} />
      {allowed && d && (
        <>
          <h3>{t("cell.tasks")}</h3>
          {d.tasks.length ? (
            <ul>
              {d.tasks.map((x) => (
                <li>
                  <a href={`#/tasks/${x.id}`}>{x.title}</a> ({x.priority})
                </li>
              ))}
            </ul>
          ) : (
            <p>{t("cell.no_tasks")}</p>
          )}
        </>
      )}
      <CellPlaces cellId={p.id} cell={p.code} onOpen={props.onOpenPlace} />
    </section>
  );
}
