import { defineConfig } from 'vite';

// The node embeds dist/ in its binary (explorer/build.rs) and a test checks that dist/ is what
// this build makes of web/: keep it deterministic (no sourcemaps, no timestamps, content hashes).
export default defineConfig({
  root: 'web',
  base: './',
  publicDir: false,
  build: {
    outDir: '../dist',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
    chunkSizeWarningLimit: 200,
  },
});
