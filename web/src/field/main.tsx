// The field app for the handheld terminals: to be built (issue 12). It registers its service
// worker so the app shell works offline.
import { render } from "preact";

function App() {
  return <h1>网格员</h1>;
}

if ("serviceWorker" in navigator && window.isSecureContext) {
  navigator.serviceWorker.register("/field/sw.js", { scope: "/field/" }).catch(() => undefined);
}

render(<App />, document.getElementById("app")!);
