// The field app's service worker (/field/sw.js, scope /field/): keeps the app shell so the app
// opens with no network.
// - install: precache /field/, the manifest and every hashed asset the page needs, found by
//   reading the built page's <script src>/<link href> and then the assets those files name
//   (the lazily loaded map chunk and its stylesheet included);
// - navigations under /field/: network first (3 s), the cached shell when that fails, and each
//   good answer refreshes the shell and its assets (a new release is picked up);
// - /assets/*: cache first (names carry a content hash); /api/*: never touched (network only).
const sw = self as unknown as ServiceWorkerGlobalScope;
const CACHE = "gridserve-field-shell-v1";
const SHELL = "/field/";
const EXTRA = ["/field/manifest.webmanifest"];
const ASSET = /\/?assets\/[A-Za-z0-9._-]+\.(?:js|css|png|svg|woff2?|webp|jpg)/g;

function assetsIn(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(ASSET)) out.add(m[0].startsWith("/") ? m[0] : `/${m[0]}`);
  return [...out];
}

/** The shell and every asset it reaches, stored; the assets no longer reached are dropped. */
async function precache(page?: Response): Promise<void> {
  const cache = await caches.open(CACHE);
  const shell = page ?? (await fetch(SHELL, { cache: "no-cache" }));
  if (!shell.ok) throw new Error(`shell ${shell.status}`);
  const html = await shell.clone().text();
  await cache.put(SHELL, shell);
  for (const url of EXTRA) {
    const r = await fetch(url, { cache: "no-cache" }).catch(() => null);
    if (r?.ok) await cache.put(url, r);
  }
  const seen = new Set<string>();
  let todo = assetsIn(html);
  while (todo.length) {
    const next: string[] = [];
    for (const url of todo) {
      if (seen.has(url)) continue;
      seen.add(url);
      let r = await cache.match(url);
      if (!r) {
        r = await fetch(url);
        if (!r.ok) continue;
        await cache.put(url, r.clone());
      }
      if (/\.(js|css)$/.test(url)) next.push(...assetsIn(await r.text()));
    }
    todo = next;
  }
  for (const req of await cache.keys()) {
    const path = new URL(req.url).pathname;
    if (path.startsWith("/assets/") && !seen.has(path)) await cache.delete(req);
  }
}

sw.addEventListener("install", (event: ExtendableEvent) => {
  event.waitUntil(precache().catch(() => undefined).then(() => sw.skipWaiting()));
});

// A page whose navigation began before this worker activated misses the activate-time claim
// (the document is created after it): the page asks, and is claimed then.
sw.addEventListener("message", (event: ExtendableMessageEvent) => {
  if (event.data === "claim") event.waitUntil(sw.clients.claim());
});

sw.addEventListener("activate", (event: ExtendableEvent) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
      await sw.clients.claim();
    })(),
  );
});

function timeout(ms: number): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), ms));
}

async function navigate(event: FetchEvent): Promise<Response> {
  try {
    const fresh = await Promise.race([fetch(event.request), timeout(3000)]);
    if (fresh.ok && (fresh.headers.get("Content-Type") ?? "").includes("text/html")) {
      event.waitUntil(precache(fresh.clone()).catch(() => undefined));
    }
    return fresh;
  } catch {
    const cached = await caches.match(SHELL);
    return cached ?? Response.error();
  }
}

async function asset(request: Request): Promise<Response> {
  const cached = await caches.match(request, { ignoreSearch: true });
  if (cached) return cached;
  const fresh = await fetch(request);
  if (fresh.ok) {
    const cache = await caches.open(CACHE);
    await cache.put(request, fresh.clone());
  }
  return fresh;
}

sw.addEventListener("fetch", (event: FetchEvent) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== sw.location.origin) return;
  if (url.pathname.startsWith("/api/")) return; // network only: never cached
  if (req.mode === "navigate" && url.pathname.startsWith("/field")) {
    event.respondWith(navigate(event));
  } else if (url.pathname.startsWith("/assets/")) {
    event.respondWith(asset(req));
  } else if (EXTRA.includes(url.pathname)) {
    event.respondWith(caches.match(url.pathname).then((r) => r ?? fetch(req)));
  }
});

export {};
