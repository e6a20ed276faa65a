// The operator console's build (Vite, Preact): `make console` runs it and writes console/dist, which Envoy serves
// (gateway/envoy.py makes one route per built file). Everything is served under /console/ (index.html also at /),
// so the built page names its assets by absolute /console/assets/… paths.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  // Preact's JSX without a plugin: Vite's own transformer (oxc) compiles it to preact/jsx-runtime calls.
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    // Envoy serves the files as they are: no source maps to route, and no inlined assets either, so the page's
    // Content-Security-Policy can stay strict (envoy.yaml).
    sourcemap: false,
    assetsInlineLimit: 0,
  },
  logLevel: 'warn',
});
