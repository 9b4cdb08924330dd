// Small shared pieces: the error line every screen shows, a pager over the API's lists, and
// a hook for loading data. Screens build on these instead of writing their own.
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, type Pagination, page } from "./api";
import { registerStrings, t } from "./i18n";

registerStrings(
  {
    "ui.loading": "加载中…",
    "ui.prev": "上一页",
    "ui.next": "下一页",
    "ui.page": "第 {page} / {pages} 页，共 {total} 条",
    "ui.empty": "没有记录",
    "ui.offline": "网络不可用",
    "ui.retry": "重试",
  },
  {
    "ui.loading": "Loading…",
    "ui.prev": "Previous",
    "ui.next": "Next",
    "ui.page": "Page {page} of {pages}, {total} in all",
    "ui.empty": "Nothing here",
    "ui.offline": "No network",
    "ui.retry": "Retry",
  },
);

export function messageOf(err: unknown): string {
  if (err instanceof ApiError) return err.code === "network_error" ? t("ui.offline") : err.message;
  return err instanceof Error ? err.message : String(err);
}

/** The envelope's message, announced to screen readers. */
export function ErrorMessage({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {messageOf(error)}
    </p>
  );
}

export function useAsync<T>(load: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  // Only the latest request may set the data: a filter changed quickly must never be
  // overwritten by the slower answer to the filter before it.
  const latest = useRef(0);
  /** Loads again; the promise settles once the new data (or the error) is in place. */
  const reload = useCallback((): Promise<void> => {
    const ticket = ++latest.current;
    setLoading(true);
    setError(null);
    return load()
      .then((d) => {
        if (ticket === latest.current) setData(d);
      })
      .catch((e) => {
        if (ticket === latest.current) setError(e);
      })
      .finally(() => {
        if (ticket === latest.current) setLoading(false);
      });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  useEffect(() => {
    void reload();
  }, [reload]);
  return { data, error, loading, reload, setData };
}

/** A list that pages through the API: ``render`` draws the rows of the current page. */
export function PagedList<T>(props: {
  path: string;
  query?: Record<string, string | number | boolean | undefined | null>;
  pageSize?: number;
  render: (rows: T[]) => ComponentChildren;
}) {
  const [pageNo, setPageNo] = useState(1);
  const key = JSON.stringify(props.query ?? {});
  useEffect(() => setPageNo(1), [props.path, key]);
  const { data, error, loading } = useAsync(
    () => page<T>(props.path, props.query, pageNo, props.pageSize ?? 50),
    [props.path, key, pageNo],
  );
  const p: Pagination | undefined = data?.pagination;
  return (
    <div class="paged">
      <ErrorMessage error={error} />
      {loading && <p aria-live="polite">{t("ui.loading")}</p>}
      {data && (data.rows.length ? props.render(data.rows) : <p>{t("ui.empty")}</p>)}
      {p && p.total_pages > 1 && (
        <nav class="pager" aria-label="pagination">
          <button type="button" disabled={pageNo <= 1} onClick={() => setPageNo(pageNo - 1)}>
            {t("ui.prev")}
          </button>
          <span>{t("ui.page", { page: p.page, pages: p.total_pages, total: p.total })}</span>
          <button
            type="button"
            disabled={pageNo >= p.total_pages}
            onClick={() => setPageNo(pageNo + 1)}
          >
            {t("ui.next")}
          </button>
        </nav>
      )}
    </div>
  );
}
