import { defineConfig } from "vite";

// `npx vite build kitchen` (root: this folder) writes kitchen/dist (git-ignored). `base: "./"`: every asset
// is addressed relative to index.html, so the built files work under any path
// (`/`, `/kitchen/`) on any static host.
export default defineConfig({
  base: "./",
  // Two pages: the kitchen board (index.html) and the guest's order tracker (track.html).
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    rollupOptions: { input: { index: "index.html", track: "track.html" } },
  },
});
