// `todm serve [--port N] [--host H]`: a static file server for the browser demo (web/index.html).
//
//   todm serve                       # http://127.0.0.1:8080/ -> the demo page
//   todm serve --port 0 --host 0.0.0.0
//
// It serves the package's own web/, dist/ and wasm/ folders under the same URL paths as on disk, so
// the page's relative imports (../dist/infer/index.js, ../wasm/*.wasm) work the same from this
// server and from any static server started in the package root (`python3 -m http.server`). `/`
// redirects to `/web/`. Nothing else of the package (node_modules, runs/, data/) is reachable: the
// first path segment must be one of ROOTS, the path is normalised before use, and the real path of
// the file (symlinks resolved) must stay inside the package. GET and HEAD only. Not a production
// server: no compression, no range requests, no caching beyond `Cache-Control: no-cache`.
//
// With --model FILE it also serves that model at /model/NAME and, when the model names an LM sidecar in
// its `todm.lm` metadata (todm export --lm) and the file is there, the LM at /model/LM_NAME; `/` then
// redirects to /web/?model=/model/NAME, and the page loads the model and its LM by itself. Only those
// two files are reachable under /model/.
//
// Browsers give microphone access (getUserMedia) only to secure contexts: http://127.0.0.1 and
// http://localhost qualify; another host needs HTTPS in front of this server.

import { createReadStream, realpathSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync } from "node:fs";
import { basename, dirname, extname, join, posix, sep } from "node:path";
import { modelLmInfo } from "../infer/index.js";
import { readSafetensors } from "../io/safetensors.js";
import { resolveModelPath } from "../model/path.js";
import { fileURLToPath } from "node:url";

/** The package folders that are served; everything else is 404. */
export const ROOTS = ["web", "dist", "wasm"] as const;

/** Content types by extension; anything else is application/octet-stream. */
export const MIME: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
  ".wav": "audio/wav",
  ".flac": "audio/flac",
};

/** The package root: two levels above this file (dist/commands/ or src/commands/). */
export const PACKAGE_ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface ServeOptions {
  /** TCP port; 0 picks a free one (Default: 8080). */
  port?: number;
  /** Interface to listen on (Default: 127.0.0.1, this machine only). */
  host?: string;
  /** Folder holding web/, dist/ and wasm/ (Default: the package root). */
  root?: string;
  /** One line per request, e.g. for --verbose (Default: none). */
  log?: (line: string) => void;
  /** A model file or run directory to serve at /model/NAME, with its LM sidecar if it names one (Default: none). */
  model?: string;
}

export interface RunningServer {
  server: Server;
  /** e.g. http://127.0.0.1:8080/ */
  url: string;
  /** With `model`: the URL paths served under /model/ (the model, then its LM if present). */
  modelPaths: string[];
  port: number;
  close(): Promise<void>;
}

/**
 * Maps a request path to a file under `root`, or returns null when it is outside the served folders.
 * Pure except for the symlink check (realpath), which needs the file to exist.
 */
export function resolveRequestPath(root: string, urlPath: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath.split("?")[0].split("#")[0]);
  } catch {
    return null; // malformed %-escape
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return null;
  const norm = posix.normalize(decoded);
  if (!norm.startsWith("/") || norm.split("/").includes("..")) return null;
  const segments = norm.split("/").filter((s) => s.length > 0);
  if (segments.length === 0 || !(ROOTS as readonly string[]).includes(segments[0])) return null;
  return join(root, ...segments);
}

function send(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", ...headers });
  res.end(text + "\n");
}

/** The files of --model by URL path: the model, and its LM sidecar when its metadata names one that exists. */
export function modelFiles(model: string, warn: (line: string) => void = () => {}): Map<string, string> {
  const path = resolveModelPath(model);
  const files = new Map([[`/model/${encodeURIComponent(basename(path))}`, path]]);
  const info = modelLmInfo(readSafetensors(path).metadata, path);
  if (info) {
    const lm = join(dirname(path), info.file);
    if (existsSync(lm)) files.set(`/model/${encodeURIComponent(basename(info.file))}`, lm);
    else warn(`todm serve: ${path} names the LM ${lm}, which does not exist: the page decodes without it`);
  }
  return files;
}

function handle(root: string, realRoot: string, req: IncomingMessage, res: ServerResponse, extra: Map<string, string> = new Map()): number {
  if (req.method !== "GET" && req.method !== "HEAD") {
    send(res, 405, "method not allowed", { Allow: "GET, HEAD" });
    return 405;
  }
  const urlPath = req.url ?? "/";
  if (urlPath === "/" || urlPath.startsWith("/?")) {
    const first = [...extra.keys()][0];
    res.writeHead(302, { Location: first ? `/web/?model=${encodeURIComponent(first)}` : "/web/" });
    res.end();
    return 302;
  }
  const own = extra.get(urlPath.split("?")[0]);
  if (own !== undefined) {
    try {
      const st = statSync(own);
      res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": String(st.size), "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff" });
      if (req.method === "HEAD") res.end();
      else createReadStream(own).pipe(res);
      return 200;
    } catch {
      send(res, 404, "not found");
      return 404;
    }
  }
  let file = resolveRequestPath(root, urlPath);
  if (file === null) {
    send(res, 404, "not found");
    return 404;
  }
  try {
    let st = statSync(file);
    if (st.isDirectory()) {
      if (!urlPath.split("?")[0].endsWith("/")) {
        res.writeHead(301, { Location: urlPath.split("?")[0] + "/" });
        res.end();
        return 301;
      }
      file = join(file, "index.html");
      st = statSync(file);
    }
    const real = realpathSync(file);
    if (!st.isFile() || !(real.startsWith(realRoot + sep))) {
      send(res, 404, "not found");
      return 404;
    }
    res.writeHead(200, {
      "Content-Type": MIME[extname(file).toLowerCase()] ?? "application/octet-stream",
      "Content-Length": String(st.size),
      "Cache-Control": "no-cache",
      "X-Content-Type-Options": "nosniff",
    });
    if (req.method === "HEAD") res.end();
    else createReadStream(file).pipe(res);
    return 200;
  } catch {
    send(res, 404, "not found");
    return 404;
  }
}

/** Starts the server; resolves once it listens. A port in use rejects with a message that says so. */
export function startServer(opts: ServeOptions = {}): Promise<RunningServer> {
  const root = opts.root ?? PACKAGE_ROOT;
  const realRoot = realpathSync(root).replace(/[\\/]+$/, "");
  const host = opts.host ?? "127.0.0.1";
  const port = opts.port ?? 8080;
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new Error(`serve: --port must be an integer in 0..65535, got ${opts.port}`);
  const extra = opts.model !== undefined ? modelFiles(opts.model, (l) => process.stderr.write(l + "\n")) : new Map<string, string>();
  const server = createServer((req, res) => {
    const status = handle(root, realRoot, req, res, extra);
    opts.log?.(`${status} ${req.method} ${req.url}`);
  });
  return new Promise((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EADDRINUSE") reject(new Error(`serve: port ${port} on ${host} is in use; choose another with --port (or --port 0 for any free port)`));
      else if (e.code === "EACCES") reject(new Error(`serve: no permission to listen on ${host}:${port} (ports below 1024 need privileges); choose another with --port`));
      else if (e.code === "EADDRNOTAVAIL" || e.code === "ENOTFOUND") reject(new Error(`serve: cannot listen on host ${host} (${e.code}); try --host 127.0.0.1`));
      else reject(e);
    });
    server.listen(port, host, () => {
      const a = server.address() as AddressInfo;
      const shown = a.family === "IPv6" ? `[${a.address}]` : a.address;
      resolve({
        server,
        port: a.port,
        url: `http://${shown}:${a.port}/`,
        modelPaths: [...extra.keys()],
        close: () => new Promise<void>((done) => {
          server.closeAllConnections();
          server.close(() => done());
        }),
      });
    });
  });
}

/** The CLI command: starts the server and prints where the demo is; runs until interrupted. */
export async function runServe(opts: ServeOptions & { out?: (line: string) => void }): Promise<RunningServer> {
  const out = opts.out ?? ((l: string) => process.stdout.write(l + "\n"));
  const s = await startServer(opts);
  const page = s.modelPaths.length ? `${s.url}web/?model=${encodeURIComponent(s.modelPaths[0])}` : `${s.url}web/`;
  const model = s.modelPaths.length ? `; the model ${s.modelPaths.length > 1 ? "and its LM are" : "is"} at ${s.modelPaths.join(", ")}` : "";
  out(`todm serve: the demo page is at ${page} (serving web/, dist/, wasm/ of ${opts.root ?? PACKAGE_ROOT}${model}); Ctrl-C stops`);
  return s;
}
