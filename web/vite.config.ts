import { resolve } from "node:path";
import preact from "@preact/preset-vite";
import { defineConfig } from "vite";

// Two pages: the console at / and the field app at /field/. The service serves dist/ (hashed
// assets with long cache lifetimes, the pages themselves revalidated); nothing comes from a CDN.
export default defineConfig({
  plugins: [preact()],
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    target: "es2020",
    rollupOptions: {
      input: {
        console: resolve(__dirname, "index.html"),
        field: resolve(__dirname, "field/index.html"),
        sw: resolve(__dirname, "src/field/sw.ts"),
      },
      output: {
        // The service worker keeps a fixed name: it is registered by URL at /field/sw.js.
        entryFileNames: (chunk) => (chunk.name === "sw" ? "field/sw.js" : "assets/[name]-[hash].js"),
      },
    },
  },
  server: { proxy: { "/api": "http://127.0.0.1:8000" } },
});
