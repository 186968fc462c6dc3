/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";
import { copyFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import type { Plugin } from "vite";

// The gateway serves the build under /ui/ from inside its own package (see
// services/gateway/src/tideflow/gateway/ui.py); `npm run dev` proxies the API to a
// running `tide dev`.
const api = process.env.TIDEFLOW_URL ?? "http://127.0.0.1:8080";
const apiPaths = ["/workflows", "/runs", "/node-types", "/definitions", "/auth", "/openapi.json", "/collab"];

const outDir = resolve(import.meta.dirname, "../services/gateway/src/tideflow/gateway/ui_dist");

/** Swagger UI's files next to the app, so the gateway's /docs needs no CDN. */
function swaggerUi(): Plugin {
  return {
    name: "tideflow-swagger-ui",
    apply: "build",
    closeBundle() {
      const source = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
      const target = resolve(outDir, "swagger");
      mkdirSync(target, { recursive: true });
      for (const file of ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"]) {
        copyFileSync(resolve(source, file), resolve(target, file));
      }
    },
  };
}

export default defineConfig({
  base: "/ui/",
  plugins: [react(), tailwindcss(), swaggerUi()],
  build: {
    outDir,
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
    rolldownOptions: { checks: { pluginTimings: false } },
  },
  server: {
    proxy: Object.fromEntries(apiPaths.map((p) => [p, { target: api, ws: true }])),
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test-setup.ts"],
  },
});
