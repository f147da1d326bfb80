// `todm serve` (src/commands/serve.ts): served bytes equal the files on disk, content types, the
// redirect to the page, and everything outside web/, dist/, wasm/ refused — raw traversal paths,
// %-encoded ones, backslashes, symlinks that leave the root — plus a clear message on a port in use.
// The server runs on a temporary root made here; only the last test runs the built CLI
// (`node dist/cli.js`, build first: `npm run build`).
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveRequestPath, startServer, type RunningServer } from "../src/commands/serve.js";

let root: string, outside: string, srv: RunningServer;
const WASM = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0xff, 0x00, 0x80]);

/** A raw request: the path goes on the wire exactly as given (no URL normalisation by a client). */
function get(path: string, method = "GET"): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: srv.port, path, method }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (d: Buffer) => parts.push(d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "todm-serve-"));
  outside = mkdtempSync(join(tmpdir(), "todm-serve-outside-"));
  writeFileSync(join(outside, "secret.txt"), "secret");
  for (const d of ["web", "dist/infer", "wasm", "node_modules/x"]) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, "web/index.html"), "<!doctype html><p>page</p>");
  writeFileSync(join(root, "web/app.js"), "export const a = 1;\n");
  writeFileSync(join(root, "web/with space.txt"), "spaced");
  writeFileSync(join(root, "dist/infer/index.js"), "export class Recognizer {}\n");
  writeFileSync(join(root, "wasm/todm-infer-simd.wasm"), WASM);
  writeFileSync(join(root, "package.json"), "{}");
  writeFileSync(join(root, "node_modules/x/index.js"), "private");
  symlinkSync(join(outside, "secret.txt"), join(root, "web/leak.txt"));
  srv = await startServer({ root, port: 0 });
});

afterAll(async () => {
  await srv?.close();
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

describe("todm serve", () => {
  it("serves the files' exact bytes with their content types", async () => {
    const cases: [string, string, string | Uint8Array][] = [
      ["/web/index.html", "text/html; charset=utf-8", "<!doctype html><p>page</p>"],
      ["/web/", "text/html; charset=utf-8", "<!doctype html><p>page</p>"],
      ["/web/app.js", "text/javascript; charset=utf-8", "export const a = 1;\n"],
      ["/dist/infer/index.js", "text/javascript; charset=utf-8", "export class Recognizer {}\n"],
      ["/wasm/todm-infer-simd.wasm", "application/wasm", WASM],
      ["/web/with%20space.txt", "text/plain; charset=utf-8", "spaced"],
      ["/web/app.js?v=2", "text/javascript; charset=utf-8", "export const a = 1;\n"],
    ];
    for (const [path, type, want] of cases) {
      const r = await get(path);
      expect(r.status, path).toBe(200);
      expect(r.headers["content-type"], path).toBe(type);
      expect(new Uint8Array(r.body), path).toEqual(typeof want === "string" ? new TextEncoder().encode(want) : want);
    }
    const head = await get("/wasm/todm-infer-simd.wasm", "HEAD");
    expect([head.status, head.headers["content-length"], head.body.length]).toEqual([200, String(WASM.length), 0]);
  });

  it("redirects / to the page and a folder to its slash form", async () => {
    expect([(await get("/")).status, (await get("/")).headers.location]).toEqual([302, "/web/"]);
    expect([(await get("/web")).status, (await get("/web")).headers.location]).toEqual([301, "/web/"]);
  });

  it("refuses everything outside web/, dist/, wasm/ and other methods", async () => {
    const refused = [
      "/package.json", "/node_modules/x/index.js", "/web/../package.json", "/web/%2e%2e/package.json",
      "/web/..%2fpackage.json", "/dist/..%2F..%2Fetc%2Fpasswd", "/web/..\\package.json", "/web/%5c..%5cpackage.json",
      "/web/%00index.html", "/web/%zz", "//etc/passwd", "/web/leak.txt", "/web/missing.js", "/wasm",
    ];
    for (const path of refused) {
      const r = await get(path);
      // "/wasm" is a folder without index.html: a redirect to "/wasm/", which is then 404.
      if (path === "/wasm") expect(r.status).toBe(301);
      else expect([path, r.status]).toEqual([path, 404]);
      expect(r.body.toString()).not.toMatch(/secret|private|"\{\}"|root:/);
    }
    expect((await get("/wasm/")).status).toBe(404);
    expect((await get("/web/index.html", "POST")).status).toBe(405);
    expect((await get("/web/index.html", "DELETE")).status).toBe(405);
  });

  it("resolveRequestPath keeps the first segment in the served folders", () => {
    expect(resolveRequestPath("/r", "/web/a/b.js")).toBe(join("/r", "web", "a", "b.js"));
    expect(resolveRequestPath("/r", "/web/a/../b.js")).toBe(join("/r", "web", "b.js")); // stays inside web/
    expect(resolveRequestPath("/r", "/web/../../x")).toBeNull();
    expect(resolveRequestPath("/r", "/src/cli.ts")).toBeNull();
    expect(resolveRequestPath("/r", "/")).toBeNull();
  });

  it("a port in use is reported with a hint", async () => {
    await expect(startServer({ root, port: srv.port })).rejects.toThrow(`serve: port ${srv.port} on 127.0.0.1 is in use; choose another with --port`);
    expect(() => startServer({ root, port: 70000 })).toThrow(/--port must be an integer in 0\.\.65535/);
  });

  it("node dist/cli.js serve: a busy port exits 1 with the message; --help shows the defaults", () => {
    const busy = spawnSync("node", ["dist/cli.js", "serve", "--port", String(srv.port)], { encoding: "utf8", timeout: 30_000 });
    expect(busy.status).toBe(1);
    expect(busy.stderr).toContain(`todm: serve: port ${srv.port} on 127.0.0.1 is in use`);
    const help = spawnSync("node", ["dist/cli.js", "serve", "--help"], { encoding: "utf8", timeout: 30_000 });
    expect(help.stdout).toMatch(/--port <n>.*\(default: "8080"\)/s);
    expect(help.stdout).toMatch(/--host <h>.*\(default:\s+"127\.0\.0\.1"\)/s); // commander wraps long lines
  });
});
