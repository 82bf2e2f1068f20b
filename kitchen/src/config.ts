/**
 * Where the display finds the API and Convex: `config.json` next to index.html
 * (`{"apiUrl": "...", "convexUrl": "..."}`), which whoever serves the built files writes
 * (the dev runner's kitchen server answers it from its own settings), and `?api=` /
 * `?convex=` in the page's address, which win. Nothing is baked into the build, so one
 * build works against the local stand-in and against a real deployment.
 */
export type Config = { apiUrl: string; convexUrl: string };

function trimmed(url: string): string {
  return url.replace(/\/+$/, "");
}

export async function loadConfig(): Promise<Config> {
  let file: Partial<Config> = {};
  try {
    const answer = await fetch("config.json", { cache: "no-store" });
    if (answer.ok) file = (await answer.json()) as Partial<Config>;
  } catch {
    // No config.json (a bare static host): the query parameters must say everything.
  }
  const query = new URLSearchParams(location.search);
  const apiUrl = query.get("api") ?? file.apiUrl ?? location.origin;
  const convexUrl = query.get("convex") ?? file.convexUrl;
  if (!convexUrl) {
    throw new Error(
      "No Convex URL: serve a config.json with convexUrl next to index.html, or add ?convex=https://<deployment>.convex.cloud",
    );
  }
  return { apiUrl: trimmed(apiUrl), convexUrl: trimmed(convexUrl) };
}
