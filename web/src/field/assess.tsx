// The worker's own published scorecards (考核), loaded lazily like the case screens.
// Online only: GET /assessments/scorecards?mine=1 (the terminal's token may read the worker's
// own published cards, nothing else) and GET /assessments/scorecards/{id} for one card's lines:
// the figures it rests on, the points, and "not rated" with the reason. Offline, it says so.
import { useEffect, useState } from "preact/hooks";
import { call } from "../common/api";
import { registerStrings, t } from "../common/i18n";
import { messageOf } from "../common/ui";

registerStrings(
  {
    "assess.h": "我的考核",
    "assess.offline": "查看考核结果需要联网。",
    "assess.loading": "正在载入考核结果…",
    "assess.none": "还没有已发布的考核结果",
    "assess.total": "总分 {total}",
    "assess.nototal": "无总分",
    "assess.period": "考核期",
    "assess.back": "返回考核列表",
    "assess.card.h": "考核详情",
    "assess.points": "{points} / {max} 分",
    "assess.notrated": "不计分",
    "assess.why.too_little_data": "数据太少，本项不计分",
    "assess.why.nothing_to_divide": "没有可计算的数据",
    "assess.why.no_overall": "没有全体平均值可比",
    "assess.why.not_entered": "尚未录入",
    "assess.entered": "录入 {value}",
    "assess.target": "{n} / {d} 网格月（每月目标 {target}，完成 {pct}）",
    "assess.relative": "{n} / {d}（与全体相比 {pct}）",
    "assess.deducted": "扣分 {n}",
    "assess.deductions": "扣分项",
    "assess.failed": "载入失败：{message}",
    "grade.excellent": "优秀",
    "grade.good": "良好",
    "grade.pass": "合格",
    "grade.fail": "不合格",
  },
  {
    "assess.h": "My assessments",
    "assess.offline": "Assessment results need a connection.",
    "assess.loading": "Loading the results…",
    "assess.none": "No published results yet",
    "assess.total": "Total {total}",
    "assess.nototal": "No total",
    "assess.period": "Period",
    "assess.back": "Back to the list",
    "assess.card.h": "Scorecard",
    "assess.points": "{points} / {max} points",
    "assess.notrated": "Not rated",
    "assess.why.too_little_data": "Too little data: not rated",
    "assess.why.nothing_to_divide": "Nothing to compute it from",
    "assess.why.no_overall": "No overall figure to compare with",
    "assess.why.not_entered": "Not entered yet",
    "assess.entered": "Entered {value}",
    "assess.target": "{n} / {d} cell-months (target {target} a month, {pct} reached)",
    "assess.relative": "{n} / {d} ({pct} of the overall)",
    "assess.deducted": "{n} deducted",
    "assess.deductions": "Deductions",
    "assess.failed": "Could not load: {message}",
    "grade.excellent": "Excellent",
    "grade.good": "Good",
    "grade.pass": "Pass",
    "grade.fail": "Fail",
  },
);

interface CardSummary {
  id: number;
  period: string;
  total: string | null;
  grade: string | null;
  deducted: string;
}

interface Line {
  code: string;
  name: string;
  weight: number;
  max_points: string;
  points: string | null;
  rated: boolean;
  scoring: string;
  target?: number | null;
  not_rated_reason?: string | null;
  not_rated_text?: string | null;
  raw: { numerator?: number; denominator?: number; entered?: number; details?: Record<string, unknown> };
  value: number | null;
  entered_value?: number | null;
}

interface Card extends CardSummary {
  period_start: string;
  period_end: string;
  lines: Line[];
  deductions: { id: number; name: string; points: string; reason: string }[];
}

function Grade(props: { grade: string | null }) {
  if (!props.grade) return null;
  return (
    <span class={`badge g-${props.grade}`} data-testid="card-grade">
      {t(`grade.${props.grade}`)}
    </span>
  );
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

function num(x: number, digits: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(digits);
}

/** The line's figures in a few words, by how it scores: an entered value; visits against the
 * target per cell-month; a relative ratio; else a share (numerator / denominator). */
function figures(line: Line): string {
  if (line.scoring === "entered") return line.entered_value != null ? t("assess.entered", { value: line.entered_value }) : "";
  const { numerator, denominator } = line.raw ?? {};
  if (numerator == null || denominator == null) return "";
  const n = num(numerator, 1);
  const d = num(denominator, 2);
  if (line.scoring === "target" && line.value != null) return t("assess.target", { n, d, target: line.target ?? "", pct: pct(line.value) });
  if (line.scoring === "relative" && line.value != null) return t("assess.relative", { n, d, pct: pct(line.value) });
  return denominator ? `${n} / ${d} (${pct(numerator / denominator)})` : `${n} / ${d}`;
}

function whyNot(line: Line): string {
  return line.not_rated_reason ? t(`assess.why.${line.not_rated_reason}`) : "";
}

export function AssessListScreen(props: { online: boolean }) {
  const [cards, setCards] = useState<CardSummary[] | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    if (!props.online) return;
    let live = true;
    call<CardSummary[]>("/assessments/scorecards", { query: { mine: "1" } })
      .then((r) => live && setCards(r.data))
      .catch((e: unknown) => live && setError(t("assess.failed", { message: messageOf(e) })));
    return () => {
      live = false;
    };
  }, [props.online]);
  return (
    <section aria-labelledby="assess-h">
      <h2 id="assess-h">{t("assess.h")}</h2>
      {!props.online && <p class="warn">{t("assess.offline")}</p>}
      {error && <p class="error">{error}</p>}
      {props.online && cards === null && !error && <p aria-live="polite">{t("assess.loading")}</p>}
      {cards !== null && cards.length === 0 && <p class="hint">{t("assess.none")}</p>}
      {cards !== null && cards.length > 0 && (
        <ul class="cards" data-testid="assess-list">
          {cards.map((c) => (
            <li key={c.id} class="card">
              <a href={`#/assess/${c.id}`}>
                <strong>{c.period}</strong>
              </a>{" "}
              <Grade grade={c.grade} />
              <p>{c.total != null ? t("assess.total", { total: c.total }) : t("assess.nototal")}</p>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

export function AssessCardScreen(props: { id: number; online: boolean }) {
  const [card, setCard] = useState<Card | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    if (!props.online) return;
    let live = true;
    call<Card>(`/assessments/scorecards/${props.id}`)
      .then((r) => live && setCard(r.data))
      .catch((e: unknown) => live && setError(t("assess.failed", { message: messageOf(e) })));
    return () => {
      live = false;
    };
  }, [props.id, props.online]);
  return (
    <section aria-labelledby="card-h">
      <h2 id="card-h">
        {t("assess.card.h")} {card?.period ?? ""}
      </h2>
      <p>
        <a href="#/assess">{t("assess.back")}</a>
      </p>
      {!props.online && <p class="warn">{t("assess.offline")}</p>}
      {error && <p class="error">{error}</p>}
      {props.online && card === null && !error && <p aria-live="polite">{t("assess.loading")}</p>}
      {card && (
        <>
          <dl class="facts">
            <dt>{t("assess.period")}</dt>
            <dd>
              {card.period_start} – {card.period_end}
            </dd>
          </dl>
          <p data-testid="card-total">
            <strong>{card.total != null ? t("assess.total", { total: card.total }) : t("assess.nototal")}</strong>{" "}
            <Grade grade={card.grade} />
          </p>
          <ul class="cards" data-testid="card-lines">
            {card.lines.map((line) => (
              <li key={line.code} class="card">
                <p>
                  <strong>{line.name}</strong>
                </p>
                <p class="hint">{figures(line)}</p>
                <p>
                  {line.rated ? (
                    t("assess.points", { points: line.points ?? "0", max: line.max_points })
                  ) : (
                    <span class="badge" data-testid="line-not-rated">
                      {t("assess.notrated")}
                    </span>
                  )}
                </p>
                {!line.rated && whyNot(line) && <p class="hint">{whyNot(line)}</p>}
              </li>
            ))}
          </ul>
          {card.deductions.length > 0 && (
            <>
              <h3>{t("assess.deductions")}</h3>
              <ul class="cards">
                {card.deductions.map((d) => (
                  <li key={d.id} class="card">
                    <p>
                      {d.name}: −{d.points}
                    </p>
                    <p class="hint">{d.reason}</p>
                  </li>
                ))}
              </ul>
            </>
          )}
        </>
      )}
    </section>
  );
}
