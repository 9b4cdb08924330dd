// The field app's service worker: keeps the app shell so it opens with no network.
// (To be completed with the asset list of the build: issue 12.)
const sw = self as unknown as ServiceWorkerGlobalScope;

sw.addEventListener("install", () => {
  void sw.skipWaiting();
});

sw.addEventListener("activate", (event: ExtendableEvent) => {
  event.waitUntil(sw.clients.claim());
});

export {};
