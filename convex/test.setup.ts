/// <reference types="vite/client" />
// The modules convex-test may load; `_generated` must be among them, it marks the root.
// Test files stay out so that loading a module never re-runs a test file.
export const modules = import.meta.glob(["./**/*.ts", "!./**/*.test.ts"]);
