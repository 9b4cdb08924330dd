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

/** The line's figures in a few words: entered value, or numerator / denominator (share). */
function figures(line: Line): string {
  if (line.entered_value != null) return `${line.entered_value}`;
  const { numerator, denominator } = line.raw ?? {};
  if (numerator == null || denominator == null) return "";
  const n = Number.isInteger(numerator) ? numerator : numerator.toFixed(1);
  const d = Number.isInteger(denominator) ? denominator : denominator.toFixed(2);
  const share = line.value != null ? ` (${(line.value * 100).toFixed(1)}%)` : "";
  return `${n} / ${d}${share}`;
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
                    <span class="badge" title={line.not_rated_text ?? ""}>
                      {t("assess.notrated")}
                    </span>
                  )}
                </p>
                {!line.rated && line.not_rated_text && <p class="hint">{line.not_rated_text}</p>}
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
