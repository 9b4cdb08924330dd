// The console for the offices: sign-in, then a shell with one screen per wing. Screens are
// loaded on demand (each its own chunk) and registered in SCREENS below.
import { type ComponentType, render } from "preact";
import { lazy, Suspense } from "preact/compat";
import { useEffect, useState } from "preact/hooks";
import { lang, onLangChange, registerStrings, setLang, t } from "../common/i18n";
import { ErrorMessage } from "../common/ui";
import "./console.css";
import { current, onSessionChange, restore, signIn, signOut } from "./session";

registerStrings(
  {
    "app.title": "网格化服务管理平台",
    "app.signin": "登录",
    "app.username": "用户名",
    "app.password": "密码",
    "app.signout": "退出",
    "app.scope": "{name}（{role}）",
    "app.language": "English",
    "app.nav": "主导航",
    "nav.map": "地图",
    "nav.grid": "网格划分",
    "nav.field": "网格员与终端",
    "nav.households": "住户",
    "nav.sms": "短信",
    "nav.tasks": "任务与事件",
    "nav.outreach": "宣传活动",
    "nav.cases": "事件处置",
    "nav.case_report": "事件报表",
    "nav.assessment": "考核",
    "nav.reports": "月报",
    "role.admin": "管理员",
    "role.district_centre": "新区监管中心",
    "role.street_centre": "街道中心",
    "role.station": "社区工作站",
    "role.worker": "网格员",
    "role.coordinator": "活动协调员",
    "role.institution_contact": "机构联系人",
  },
  {
    "app.title": "Grid management console",
    "app.signin": "Sign in",
    "app.username": "Username",
    "app.password": "Password",
    "app.signout": "Sign out",
    "app.scope": "{name} ({role})",
    "app.language": "中文",
    "app.nav": "Main navigation",
    "nav.map": "Map",
    "nav.grid": "Grid layouts",
    "nav.field": "Workers and terminals",
    "nav.households": "Households",
    "nav.sms": "SMS",
    "nav.tasks": "Tasks and cases",
    "nav.outreach": "Outreach",
    "nav.cases": "Cases",
    "nav.case_report": "Cases report",
    "nav.assessment": "Assessment",
    "nav.reports": "Reports",
    "role.admin": "administrator",
    "role.district_centre": "district centre",
    "role.street_centre": "street centre",
    "role.station": "community station",
    "role.worker": "grid worker",
    "role.coordinator": "coordinator",
    "role.institution_contact": "institution contact",
  },
);

// One entry per screen: route, label key, the roles that see it (empty: everyone), the module;
// for institution contacts, ``departments``: "only" (a department's contacts) or "never" (the
// banks' and the regulator's), absent: every contact the roles admit.
const SCREENS: {
  route: string;
  label: string;
  roles: string[];
  departments?: "only" | "never";
  load: ComponentType<{ rest: string[] }>;
}[] = [
  { route: "map", label: "nav.map", roles: [], load: lazy(() => import("./screens/map")) },
  {
    route: "grid",
    label: "nav.grid",
    roles: ["street_centre", "district_centre", "station", "coordinator"],
    load: lazy(() => import("./screens/grid")),
  },
  {
    route: "field",
    label: "nav.field",
    roles: ["station", "street_centre", "district_centre"],
    load: lazy(() => import("./screens/field")),
  },
  {
    route: "households",
    label: "nav.households",
    roles: ["station", "street_centre", "district_centre"],
    load: lazy(() => import("./screens/households")),
  },
  {
    route: "sms",
    label: "nav.sms",
    roles: ["coordinator", "institution_contact"],
    departments: "never",
    load: lazy(() => import("./screens/sms")),
  },
  {
    route: "tasks",
    label: "nav.tasks",
    roles: ["station", "street_centre", "district_centre"],
    load: lazy(() => import("./screens/tasks")),
  },
  {
    // The ladder board, case detail, verification: the readers of the cases API (a department's
    // contacts see the cases dispatched to their department).
    route: "cases",
    label: "nav.cases",
    roles: ["station", "street_centre", "district_centre", "institution_contact"],
    departments: "only",
    load: lazy(() => import("./screens/cases")),
  },
  {
    route: "case-report",
    label: "nav.case_report",
    roles: ["station", "street_centre", "district_centre"],
    load: lazy(() => import("./screens/case_report")),
  },
  {
    route: "outreach",
    label: "nav.outreach",
    roles: ["coordinator", "institution_contact", "station", "street_centre", "district_centre"],
    departments: "never",
    load: lazy(() => import("./screens/outreach")),
  },
  {
    // Runs, cards, entry, rankings, recommendations (issue 15); a bank's contact: its own
    // published cards (a department's contacts are not assessed).
    route: "assessment",
    label: "nav.assessment",
    roles: ["station", "street_centre", "district_centre", "coordinator", "institution_contact"],
    departments: "never",
    load: lazy(() => import("./screens/assessment")),
  },
  {
    route: "reports",
    label: "nav.reports",
    roles: ["station", "street_centre", "district_centre"],
    load: lazy(() => import("./screens/reports")),
  },
];

function visibleScreens() {
  const me = current();
  const department = me?.scope.institution_kind === "department";
  return SCREENS.filter((s) => {
    if (me?.role === "admin") return true;
    if (s.roles.length && !s.roles.includes(me?.role ?? "")) return false;
    if (me?.role !== "institution_contact" || !s.departments) return true;
    return s.departments === "only" ? department : !department;
  });
}

function route(): { screen: string; rest: string[] } {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  return { screen: parts[0] ?? "", rest: parts.slice(1) };
}

function SignIn() {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: Event) {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    setBusy(true);
    setError(null);
    try {
      await signIn(String(form.get("username")), String(form.get("password")));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <main class="signin">
      <h1>{t("app.title")}</h1>
      <form onSubmit={submit} aria-label={t("app.signin")}>
        <label>
          {t("app.username")}
          <input name="username" autocomplete="username" required />
        </label>
        <label>
          {t("app.password")}
          <input name="password" type="password" autocomplete="current-password" required />
        </label>
        <ErrorMessage error={error} />
        <button type="submit" disabled={busy}>
          {t("app.signin")}
        </button>
      </form>
      <LanguageSwitch />
    </main>
  );
}

function LanguageSwitch() {
  return (
    <button type="button" class="lang" onClick={() => setLang(lang() === "zh" ? "en" : "zh")}>
      {t("app.language")}
    </button>
  );
}

function Shell() {
  const me = current()!;
  const screens = visibleScreens();
  const { screen, rest } = route();
  const active = screens.find((s) => s.route === screen) ?? screens[0];
  const Screen = active.load;
  return (
    <div class="shell">
      <header>
        <span class="brand">{t("app.title")}</span>
        <nav aria-label={t("app.nav")}>
          {screens.map((s) => (
            <a href={`#/${s.route}`} aria-current={s === active ? "page" : undefined}>
              {t(s.label)}
            </a>
          ))}
        </nav>
        <span class="who">
          {t("app.scope", { name: me.full_name || me.username, role: t(`role.${me.role}`) })}
          {me.scope.area_name || me.scope.institution_name
            ? ` · ${me.scope.area_name ?? me.scope.institution_name}`
            : ""}
        </span>
        <LanguageSwitch />
        <button type="button" onClick={() => signOut()}>
          {t("app.signout")}
        </button>
      </header>
      <main id="main">
        <Suspense fallback={<p>…</p>}>
          <Screen rest={rest} />
        </Suspense>
      </main>
    </div>
  );
}

function App() {
  const [, tick] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const [ready, setReady] = useState(false);
  useEffect(() => {
    const bump = () => tick((n) => n + 1);
    const offs = [onSessionChange(bump), onLangChange(bump)];
    window.addEventListener("hashchange", bump);
    restore()
      .catch(setError)
      .finally(() => setReady(true));
    return () => {
      offs.forEach((f) => f());
      window.removeEventListener("hashchange", bump);
    };
  }, []);
  if (!ready) return <p>…</p>;
  if (error) return <ErrorMessage error={error} />;
  return current() ? <Shell /> : <SignIn />;
}

render(<App />, document.getElementById("app")!);
