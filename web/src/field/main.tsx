// The field app for the handheld terminals (/field/): enrolment with a one-time code, then
// offline first — the bundle in IndexedDB, records queued locally and uploaded when online.
// A revoked terminal or disabled account wipes everything at the next contact.
import { render } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, setToken, whenUnauthorised } from "../common/api";
import { lang, onLangChange, registerStrings, setLang, t } from "../common/i18n";
import { messageOf } from "../common/ui";
import { type Place, type QueuedRecord, type RecordKind, db, getMeta, isSent, setMeta, unsentCount, wipeAll } from "./db";
import "./field.css";
import { RecordForm } from "./record";
import { OutboxScreen, PlaceScreen, PlacesScreen, TasksScreen } from "./screens";
import { enrol, pullBundle, upload } from "./sync";

registerStrings(
  {
    "app.title": "网格员",
    "app.lang": "English",
    "app.online": "在线",
    "app.offline": "离线",
    "app.sync": "立即同步",
    "app.syncing": "正在同步…",
    "app.synced": "已同步 {at}",
    "app.sync.pages": "已下载 {items} 条数据",
    "app.sync.failed": "同步失败：{reason}",
    "app.insecure": "此连接不是 HTTPS，应用无法离线工作。请使用 https:// 地址打开。",
    "nav.label": "主要功能",
    "nav.tasks": "任务",
    "nav.cases": "事件",
    "nav.assess": "考核",
    "nav.places": "地点",
    "nav.map": "地图",
    "nav.record": "记录",
    "nav.sme": "走访企业",
    "nav.outbox": "待发送 {n}",
    "enrol.h": "登记终端",
    "enrol.intro": "请输入站长给您的一次性登记码，或扫描二维码。",
    "enrol.code": "登记码",
    "enrol.label": "终端名称",
    "enrol.submit": "登记",
    "enrol.scan": "扫描二维码",
    "enrol.scan.stop": "停止扫描",
    "enrol.scan.video": "摄像头画面",
    "enrol.scan.fail": "无法打开摄像头：{reason}",
    "enrol.busy": "正在登记…",
    "enrol.again": "登记已失效（{code}），请重新登记。本机的数据和未发送的记录都还在。",
    "wiped.h": "终端已被清除",
    "wiped.text": "此终端已被停用（{code}）。本机保存的数据、缓存和登记都已删除。",
    "wiped.lost": "{n} 条未发送的记录已丢失。",
    "wiped.again": "重新登记",
    "map.h": "网格地图",
    "map.loading": "正在加载地图…",
    "map.region": "网格地图，点击网格查看其地点",
    "map.none": "还没有下载网格",
  },
  {
    "app.title": "Grid worker",
    "app.lang": "中文",
    "app.online": "Online",
    "app.offline": "Offline",
    "app.sync": "Sync now",
    "app.syncing": "Syncing…",
    "app.synced": "Synced {at}",
    "app.sync.pages": "{items} items downloaded",
    "app.sync.failed": "Sync failed: {reason}",
    "app.insecure": "This connection is not HTTPS: the app cannot work offline. Open it with https://.",
    "nav.label": "Main",
    "nav.tasks": "Tasks",
    "nav.cases": "Cases",
    "nav.assess": "Scores",
    "nav.places": "Places",
    "nav.map": "Map",
    "nav.record": "Record",
    "nav.sme": "SMEs",
    "nav.outbox": "Outbox {n}",
    "enrol.h": "Enrol this terminal",
    "enrol.intro": "Type the one-time code your station gave you, or scan its QR code.",
    "enrol.code": "Enrolment code",
    "enrol.label": "Terminal name",
    "enrol.submit": "Enrol",
    "enrol.scan": "Scan QR code",
    "enrol.scan.stop": "Stop scanning",
    "enrol.scan.video": "Camera view",
    "enrol.scan.fail": "Cannot open the camera: {reason}",
    "enrol.busy": "Enrolling…",
    "enrol.again": "The enrolment has lapsed ({code}): enrol again. The data and unsent records on this terminal are kept.",
    "wiped.h": "This terminal was wiped",
    "wiped.text": "This terminal was disabled ({code}). The data, caches and enrolment on it have been deleted.",
    "wiped.lost": "{n} unsent records were lost.",
    "wiped.again": "Enrol again",
    "map.h": "Cell map",
    "map.loading": "Loading the map…",
    "map.region": "Cell map; choose a cell to see its places",
    "map.none": "No cells downloaded yet",
  },
);

const WIPE_CODES = new Set(["device_revoked", "account_disabled"]);
const REENROL_CODES = new Set(["token_expired", "token_invalid", "token_revoked", "token_missing"]);

type Phase = "loading" | "enrol" | "ready" | "wiped";

function route(): string[] {
  const h = location.hash.replace(/^#\/?/, "");
  return h ? h.split("/") : ["tasks"];
}

function useRoute(): string[] {
  const [r, setR] = useState(route());
  useEffect(() => {
    const f = () => {
      setR(route());
      // a new screen: reading and tabbing start at its content, not at the tab bar
      window.setTimeout(() => document.getElementById("main")?.focus(), 0);
    };
    window.addEventListener("hashchange", f);
    return () => window.removeEventListener("hashchange", f);
  }, []);
  return r;
}

function Enrol(props: { problem: string | null; onDone: () => void }) {
  const [code, setCode] = useState("");
  const [label, setLabel] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [scanning, setScanning] = useState(false);
  const [scanErr, setScanErr] = useState("");
  const video = useRef<HTMLVideoElement>(null);
  const canScan = !!navigator.mediaDevices?.getUserMedia;

  useEffect(() => {
    if (!scanning) return;
    let stream: MediaStream | null = null;
    let stop = false;
    void (async () => {
      try {
        const { default: jsQR } = await import("jsqr");
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
        const v = video.current!;
        v.srcObject = stream;
        await v.play();
        const canvas = document.createElement("canvas");
        const ctx = canvas.getContext("2d", { willReadFrequently: true })!;
        const tick = () => {
          if (stop) return;
          if (v.videoWidth) {
            canvas.width = v.videoWidth;
            canvas.height = v.videoHeight;
            ctx.drawImage(v, 0, 0);
            const img = ctx.getImageData(0, 0, canvas.width, canvas.height);
            const found = jsQR(img.data, img.width, img.height);
            if (found?.data) {
              setCode(found.data.replace(/^gridserve:enrol:/i, ""));
              setScanning(false);
              return;
            }
          }
          requestAnimationFrame(tick);
        };
        tick();
      } catch (e) {
        setScanErr(t("enrol.scan.fail", { reason: e instanceof Error ? e.message : String(e) }));
        setScanning(false);
      }
    })();
    return () => {
      stop = true;
      stream?.getTracks().forEach((tr) => tr.stop());
    };
  }, [scanning]);

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await enrol(code, label || `field ${new Date().toISOString().slice(0, 10)}`);
      props.onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main id="main" class="enrol">
      <h1>{t("enrol.h")}</h1>
      {props.problem && (
        <p class="warn" role="status">
          {t("enrol.again", { code: props.problem })}
        </p>
      )}
      <p>{t("enrol.intro")}</p>
      <form onSubmit={submit}>
        <label>
          {t("enrol.code")}
          <input
            value={code}
            required
            autoComplete="one-time-code"
            autoCapitalize="characters"
            onInput={(e) => setCode((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          {t("enrol.label")}
          <input value={label} maxLength={100} onInput={(e) => setLabel((e.target as HTMLInputElement).value)} />
        </label>
        {error ? (
          <p class="error" role="alert">
            {messageOf(error)}
          </p>
        ) : null}
        <button type="submit" class="big primary" disabled={busy}>
          {busy ? t("enrol.busy") : t("enrol.submit")}
        </button>
      </form>
      {canScan && (
        <button type="button" class="big" onClick={() => setScanning(!scanning)}>
          {scanning ? t("enrol.scan.stop") : t("enrol.scan")}
        </button>
      )}
      {scanning && <video ref={video} class="scan" muted playsInline aria-label={t("enrol.scan.video")} />}
      {scanErr && (
        <p class="error" role="alert">
          {scanErr}
        </p>
      )}
    </main>
  );
}

// The SME visit screens come in their own chunk, loaded the first time one is opened (the
// service worker keeps it for offline use like every other asset).
type SmeModule = typeof import("./sme");
let smeModule: SmeModule | null = null;

function useSme(): SmeModule | null {
  const [m, setM] = useState<SmeModule | null>(smeModule);
  useEffect(() => {
    if (m) return;
    let live = true;
    void import("./sme").then((x) => {
      smeModule = x;
      if (live) setM(x);
    });
    return () => {
      live = false;
    };
  }, []);
  return m;
}

function SmeList(props: { rev: number }) {
  const m = useSme();
  return m ? <m.SmeListScreen rev={props.rev} /> : <p aria-live="polite">{t("ui.loading")}</p>;
}

function SmeForm(props: { enterpriseId?: number; existing?: QueuedRecord; onDone: (saved: boolean) => void }) {
  const m = useSme();
  return m ? <m.SmeVisitForm {...props} /> : <p aria-live="polite">{t("ui.loading")}</p>;
}

// The case screens too (cases.tsx): their own chunk, kept by the service worker for offline use.
type CasesModule = typeof import("./cases");
let casesModule: CasesModule | null = null;

function useCases(): CasesModule | null {
  const [m, setM] = useState<CasesModule | null>(casesModule);
  useEffect(() => {
    if (m) return;
    let live = true;
    void import("./cases").then((x) => {
      casesModule = x;
      if (live) setM(x);
    });
    return () => {
      live = false;
    };
  }, []);
  return m;
}

function CaseList(props: { rev: number }) {
  const m = useCases();
  return m ? <m.CasesScreen rev={props.rev} /> : <p aria-live="polite">{t("ui.loading")}</p>;
}

function CaseItem(props: { id: number; rev: number; online: boolean; changed: () => void }) {
  const m = useCases();
  return m ? <m.CaseScreen {...props} /> : <p aria-live="polite">{t("ui.loading")}</p>;
}

// The worker's published scorecards (assess.tsx): online only, their own chunk.
type AssessModule = typeof import("./assess");
let assessModule: AssessModule | null = null;

function useAssess(): AssessModule | null {
  const [m, setM] = useState<AssessModule | null>(assessModule);
  useEffect(() => {
    if (m) return;
    let live = true;
    void import("./assess").then((x) => {
      assessModule = x;
      if (live) setM(x);
    });
    return () => {
      live = false;
    };
  }, []);
  return m;
}

function AssessList(props: { online: boolean }) {
  const m = useAssess();
  return m ? <m.AssessListScreen online={props.online} /> : <p aria-live="polite">{t("ui.loading")}</p>;
}

function AssessCard(props: { id: number; online: boolean }) {
  const m = useAssess();
  return m ? <m.AssessCardScreen {...props} /> : <p aria-live="polite">{t("ui.loading")}</p>;
}

function MapScreen(props: { rev: number }) {
  const el = useRef<HTMLDivElement>(null);
  const [state, setState] = useState<"loading" | "ready" | "none">("loading");
  useEffect(() => {
    let handle: { destroy: () => void } | null = null;
    let live = true;
    void (async () => {
      const cells = await getMeta<GeoJSON.FeatureCollection>("cells");
      const places = await (await db()).getAll("places");
      if (!cells?.features?.length && !places.length) {
        setState("none");
        return;
      }
      const { mountMap } = await import("./map");
      if (!live || !el.current) return;
      handle = mountMap(el.current, cells ?? null, places, (id) => (location.hash = `#/places/${id}`), () => t("map.region"));
      setState("ready");
    })().catch(() => setState("none"));
    return () => {
      live = false;
      handle?.destroy();
    };
  }, [props.rev]);
  return (
    <section aria-labelledby="map-h" class="mapscreen">
      <h2 id="map-h">{t("map.h")}</h2>
      {state === "loading" && <p aria-live="polite">{t("map.loading")}</p>}
      {state === "none" && <p>{t("map.none")}</p>}
      <div ref={el} class="map" role="region" aria-label={t("map.region")} />
    </section>
  );
}

function App() {
  const [, setLangTick] = useState(0);
  const [phase, setPhase] = useState<Phase>("loading");
  const [problem, setProblem] = useState<string | null>(null);
  const [wiped, setWiped] = useState<{ code: string; lost: number } | null>(null);
  const [online, setOnline] = useState(navigator.onLine);
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState("");
  const [rev, setRev] = useState(0);
  const [who, setWho] = useState("");
  const [unsent, setUnsent] = useState(0);
  const [places, setPlaces] = useState<Place[]>([]);
  const [smeCount, setSmeCount] = useState(0);
  const wiping = useRef(false);
  const r = useRoute();
  const changed = useCallback(() => setRev((x) => x + 1), []);

  useEffect(() => onLangChange(() => setLangTick((x) => x + 1)), []);

  // 401s: a revoked terminal or disabled account wipes; a lapsed token asks to enrol again.
  useEffect(() => {
    whenUnauthorised((e: ApiError) => {
      if (WIPE_CODES.has(e.code)) {
        if (wiping.current) return;
        wiping.current = true;
        void (async () => {
          const lost = await unsentCount().catch(() => 0);
          setToken(null);
          await wipeAll();
          setWiped({ code: e.code, lost });
          setPhase("wiped");
          wiping.current = false;
        })();
      } else if (REENROL_CODES.has(e.code)) {
        setToken(null);
        void setMeta("auth_problem", e.code);
        setProblem(e.code);
        setPhase("enrol");
      }
    });
  }, []);

  useEffect(() => {
    void (async () => {
      const [token, issue] = await Promise.all([getMeta<string>("token"), getMeta<string>("auth_problem")]);
      if (token && !issue) {
        setToken(token);
        setPhase("ready");
      } else {
        setProblem(issue ?? null);
        setPhase("enrol");
      }
    })().catch(() => setPhase("enrol"));
  }, []);

  useEffect(() => {
    if (phase !== "ready") return;
    void (async () => {
      const me = await getMeta<{ user?: { full_name?: string; username?: string } }>("me");
      setWho(me?.user?.full_name || me?.user?.username || "");
      setUnsent(await unsentCount());
      const d = await db();
      setPlaces(await d.getAll("places"));
      setSmeCount(await d.count("sme_enterprises"));
    })().catch(() => undefined); // the database was just wiped
  }, [phase, rev]);

  const sync = useCallback(
    async (only?: QueuedRecord[], pull = true) => {
      if (!navigator.onLine) return;
      setBusy(true);
      setStatus(t("app.syncing"));
      try {
        await upload(only);
        changed();
        if (pull) await pullBundle((_p, items) => setStatus(t("app.sync.pages", { items })));
        setStatus(t("app.synced", { at: new Date().toLocaleTimeString() }));
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 401)) setStatus(t("app.sync.failed", { reason: messageOf(e) }));
      } finally {
        setBusy(false);
        changed();
      }
    },
    [changed],
  );

  useEffect(() => {
    const up = () => {
      setOnline(true);
      if (phase === "ready") void sync();
    };
    const down = () => setOnline(false);
    window.addEventListener("online", up);
    window.addEventListener("offline", down);
    if (phase === "ready" && navigator.onLine) void sync();
    const timer = window.setInterval(() => {
      if (phase === "ready" && navigator.onLine && document.visibilityState === "visible") void sync();
    }, 5 * 60_000);
    return () => {
      window.removeEventListener("online", up);
      window.removeEventListener("offline", down);
      window.clearInterval(timer);
    };
  }, [phase, sync]);

  // a record changed the queue: try to send at once when online
  const saved = useCallback(() => {
    changed();
    if (navigator.onLine) void sync(undefined, false);
  }, [changed, sync]);

  const insecure = !window.isSecureContext;
  const banner = insecure ? (
    <p class="warn" role="alert">
      {t("app.insecure")}
    </p>
  ) : null;
  const langButton = (
    <button type="button" class="lang" lang={lang() === "zh" ? "en" : "zh-CN"} onClick={() => setLang(lang() === "zh" ? "en" : "zh")}>
      {t("app.lang")}
    </button>
  );

  if (phase === "loading") return <p aria-live="polite">{t("ui.loading")}</p>;
  if (phase === "wiped" && wiped) {
    return (
      <main id="main" class="enrol">
        <h1>{t("wiped.h")}</h1>
        <p role="alert">
          {t("wiped.text", { code: wiped.code })} {t("wiped.lost", { n: wiped.lost })}
        </p>
        <button type="button" class="big primary" onClick={() => location.reload()}>
          {t("wiped.again")}
        </button>
      </main>
    );
  }
  if (phase === "enrol") {
    return (
      <>
        <header class="top">
          <span class="brand">{t("app.title")}</span>
          {langButton}
        </header>
        {banner}
        <Enrol
          problem={problem}
          onDone={() => {
            setProblem(null);
            location.hash = "#/tasks";
            setPhase("ready");
          }}
        />
      </>
    );
  }

  const [screen, arg] = r;
  const placeNames = new Map(places.map((p) => [p.id, p.name || p.external_id || `#${p.id}`]));
  let body;
  if (screen === "places") body = <PlacesScreen rev={rev} cellId={arg ? Number(arg) : undefined} key={arg ?? ""} />;
  else if (screen === "place" && arg) body = <PlaceScreen id={Number(arg)} rev={rev} />;
  else if (screen === "map") body = <MapScreen rev={rev} />;
  else if (screen === "sme") body = <SmeList rev={rev} />;
  else if (screen === "cases") body = <CaseList rev={rev} />;
  else if (screen === "case" && arg) body = <CaseItem key={arg} id={Number(arg)} rev={rev} online={online} changed={changed} />;
  else if (screen === "assess" && arg) body = <AssessCard key={arg} id={Number(arg)} online={online} />;
  else if (screen === "assess") body = <AssessList online={online} />;
  else if (screen === "sme-visit" && arg)
    body = (
      <SmeForm
        key={arg}
        enterpriseId={Number(arg)}
        onDone={(ok) => {
          if (ok) saved();
          location.hash = ok ? "#/outbox" : "#/sme";
        }}
      />
    );
  else if (screen === "record" || screen === "problem") {
    const pid = arg ? Number(arg) : null;
    const near = pid !== null ? places.filter((p) => p.cell_id === places.find((x) => x.id === pid)?.cell_id) : places.slice(0, 500);
    body = (
      <RecordForm
        key={`${screen}/${arg ?? ""}`}
        places={near}
        placeId={pid}
        kind={(screen === "problem" ? "case" : undefined) as RecordKind | undefined}
        onDone={(ok) => {
          if (ok) saved();
          location.hash = ok ? "#/outbox" : pid !== null ? `#/place/${pid}` : screen === "problem" ? "#/cases" : "#/tasks";
        }}
      />
    );
  } else if (screen === "fix" && arg) body = <FixScreen uuid={arg} places={places} saved={saved} />;
  else if (screen === "outbox")
    body = <OutboxScreen rev={rev} online={online} busy={busy} send={(recs) => sync(recs, false)} changed={changed} places={placeNames} />;
  else body = <TasksScreen rev={rev} changed={saved} />;

  const nav: [string, string][] = [
    ["tasks", t("nav.tasks")],
    ["cases", t("nav.cases")],
    ["places", t("nav.places")],
    ["map", t("nav.map")],
    ["record", t("nav.record")],
    ["assess", t("nav.assess")],
    ...(smeCount > 0 || screen === "sme" || screen === "sme-visit" ? [["sme", t("nav.sme")] as [string, string]] : []),
    ["outbox", t("nav.outbox", { n: unsent || "" }).trim()],
  ];
  return (
    <>
      <header class="top">
        <h1 class="brand">{t("app.title")}</h1>
        <span class="who">{who}</span>
        <span class={`net ${online ? "on" : "off"}`} role="status">
          {online ? t("app.online") : t("app.offline")}
        </span>
        {langButton}
      </header>
      {banner}
      <div class="syncbar">
        <button type="button" disabled={!online || busy} onClick={() => void sync()}>
          {t("app.sync")}
        </button>
        <span aria-live="polite">{status}</span>
      </div>
      <main id="main" tabIndex={-1}>
        {body}
      </main>
      <nav class="tabs" aria-label={t("nav.label")}>
        {nav.map(([key, label]) => (
          <a key={key} href={`#/${key}`} aria-current={screen === key || (key === "places" && screen === "place") || (key === "sme" && screen === "sme-visit") || (key === "cases" && (screen === "case" || screen === "problem")) ? "page" : undefined}>
            {label}
          </a>
        ))}
      </nav>
    </>
  );
}

function FixScreen(props: { uuid: string; places: Place[]; saved: () => void }) {
  const [rec, setRec] = useState<QueuedRecord | null | undefined>(undefined);
  useEffect(() => {
    void (async () => setRec((await (await db()).get("queue", props.uuid)) ?? null))();
  }, [props.uuid]);
  if (rec === undefined) return <p aria-live="polite">{t("ui.loading")}</p>;
  if (rec === null || isSent(rec)) return <p>{t("ui.empty")}</p>;
  if (rec.kind === "sme_visit" && rec.sme) {
    return (
      <SmeForm
        existing={rec}
        onDone={(ok) => {
          if (ok) props.saved();
          location.hash = "#/outbox";
        }}
      />
    );
  }
  const cell = props.places.find((p) => p.id === rec.place_id)?.cell_id;
  const near = rec.place_id !== null ? props.places.filter((p) => p.cell_id === cell) : props.places.slice(0, 500);
  return (
    <RecordForm
      places={near}
      existing={rec}
      onDone={(ok) => {
        if (ok) props.saved();
        location.hash = "#/outbox";
      }}
    />
  );
}

if ("serviceWorker" in navigator && window.isSecureContext) {
  navigator.serviceWorker.register("/field/sw.js", { scope: "/field/" }).catch(() => undefined);
  // Not yet controlled once a worker is active: ask it to claim this page (see sw.ts).
  void navigator.serviceWorker.ready.then((reg) => {
    if (!navigator.serviceWorker.controller) reg.active?.postMessage("claim");
  });
}

render(<App />, document.getElementById("app")!);
