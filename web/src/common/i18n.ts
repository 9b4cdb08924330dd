// Chinese by default, English on request. Each screen registers its own strings next to its
// code (registerStrings), so screens never edit a shared dictionary.

export type Lang = "zh" | "en";
type Table = Record<string, string>;

const tables: Record<Lang, Table> = { zh: {}, en: {} };
const KEY = "gridserve.lang";
let current: Lang = (localStorage.getItem(KEY) as Lang) === "en" ? "en" : "zh";
const listeners = new Set<() => void>();

export function registerStrings(zh: Table, en: Table): void {
  Object.assign(tables.zh, zh);
  Object.assign(tables.en, en);
}

export function lang(): Lang {
  return current;
}

export function setLang(next: Lang): void {
  current = next;
  localStorage.setItem(KEY, next);
  document.documentElement.lang = next === "zh" ? "zh-CN" : "en";
  listeners.forEach((f) => f());
}

export function onLangChange(f: () => void): () => void {
  listeners.add(f);
  return () => listeners.delete(f);
}

/** The string for ``key`` in the current language, with {name} placeholders filled. */
export function t(key: string, vars: Record<string, string | number> = {}): string {
  const text = tables[current][key] ?? tables.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k: string) => (k in vars ? String(vars[k]) : `{${k}}`));
}

document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
