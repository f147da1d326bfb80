// Drives the demo page (web/index.html) in headless Chromium with playwright-core: the same steps
// a user takes (choose the model file, then the WAV file), then reads what the page measured
// (window.todmDemo, see web/app.js) and the page's renderer memory. Used by test/web-e2e.test.ts and
// bench/web.ts. Not a server: callers start `todm serve` (startServer) and pass its URL.
//
// Chromium is Debian's (`apt-get install chromium`, /usr/bin/chromium) or the one named by the
// CHROMIUM environment variable; playwright-core never downloads a browser.

import { existsSync, readFileSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";

/** Where a Chromium binary is looked for, in order ($CHROMIUM first). */
export const CHROMIUM_PATHS = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

/** The Chromium binary to use, or null when none is installed. */
export function findChromium(): string | null {
  const env = process.env.CHROMIUM;
  if (env) return existsSync(env) ? env : null;
  return CHROMIUM_PATHS.find((p) => existsSync(p)) ?? null;
}

export interface LaunchOptions {
  /** A WAV file that Chromium's fake microphone plays once (for the microphone path). */
  fakeMicrophone?: string;
}

/** Headless Chromium; with `fakeMicrophone`, getUserMedia is granted and plays that file. */
export async function launchChromium(executablePath: string, opts: LaunchOptions = {}): Promise<Browser> {
  const args: string[] = [];
  if (opts.fakeMicrophone) {
    args.push("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", `--use-file-for-fake-audio-capture=${opts.fakeMicrophone}%noloop`);
  }
  return chromium.launch({ executablePath, headless: true, args });
}

/** What the page measured for one run (web/app.js window.todmDemo) plus the driver's own figures. */
export interface DemoRun {
  build: "simd" | "relaxed-simd";
  /** "stream": fed in chunks through rec.stream; "whole": rec.transcribe (a model that cannot stream). */
  mode: "stream" | "whole";
  final: string;
  /** Each distinct partial transcript shown while the audio came in, in order. */
  partials: string[];
  /** The text the page shows as final (#final). */
  shownFinal: string;
  /** The LM the page decoded with (runDemo with lmFile), or null. */
  lm?: { name: string; order: number; weight: number } | null;
  audioSeconds: number;
  /** Model bytes in hand -> Recognizer ready: WASM fetch + compile + model load. */
  loadMs: number;
  /** Time inside the recogniser (accept/partial/finish or transcribe). */
  computeMs: number;
  rtf: number;
  /** loadMs + compute to the first partial: load to first result. */
  coldStartMs: number;
  /** The Recognizer's WebAssembly memory after the run (bytes). */
  wasmMemoryBytes: number;
  /** Growth of the page's renderer process resident memory, peak after the run minus before the model (MiB; Linux only). */
  rendererPeakGrowthMiB: number | null;
  /** Console errors and uncaught page errors seen during the run. */
  pageErrors: string[];
  /** The RTF of each run when the file was chosen `runs` times in the same page (the first equals rtf). */
  rtfPerRun: number[];
}

export interface RunDemoOptions {
  /** Per step: loading, transcribing (Default: 60 s). */
  timeoutMs?: number;
  /** Choose the WAV file this many times in the same page; the figures are the first run's (Default: 1). */
  runs?: number;
  /** An LM file chosen through the page's LM input after the model (Default: none). */
  lmFile?: string;
  /** The page loads the model (and its LM) itself from its ?model= URL (todm serve --model): modelFile is not chosen; wait for the LM. */
  modelFromPage?: boolean;
}

interface PageState {
  build: DemoRun["build"];
  loadMs: number;
  memoryBytes: number;
  lm: DemoRun["lm"];
  error: string | null;
  result: { mode: DemoRun["mode"]; final: string; partials: string[]; audioSeconds: number; computeMs: number; rtf: number; firstResultMs: number };
}

/** Resident set of each renderer process of the browser (kB): VmRSS now and VmHWM (peak). */
async function rendererMemory(browser: Browser): Promise<Map<number, { rss: number; hwm: number }>> {
  const out = new Map<number, { rss: number; hwm: number }>();
  if (process.platform !== "linux") return out;
  const cdp = await browser.newBrowserCDPSession();
  try {
    const info = (await cdp.send("SystemInfo.getProcessInfo")) as { processInfo: { type: string; id: number }[] };
    for (const p of info.processInfo) {
      if (p.type !== "renderer") continue;
      try {
        const status = readFileSync(`/proc/${p.id}/status`, "utf8");
        const kb = (key: string) => Number(new RegExp(`${key}:\\s*(\\d+)`).exec(status)?.[1] ?? NaN);
        out.set(p.id, { rss: kb("VmRSS"), hwm: kb("VmHWM") });
      } catch {
        /* the process ended */
      }
    }
  } finally {
    await cdp.detach();
  }
  return out;
}

async function waitForState(page: Page, states: string[], what: string, timeoutMs: number): Promise<void> {
  const selector = [...states, "error"].map((s) => `body[data-state="${s}"]`).join(", ");
  await page.waitForSelector(selector, { timeout: timeoutMs });
  const state = await page.getAttribute("body", "data-state");
  if (state === "error") throw new Error(`demo page: ${what} failed: ${await page.textContent("#status")}`);
}

/**
 * Opens the page at `pageUrl` in a fresh browser context, chooses `modelFile` then `wavFile` through
 * the file inputs, waits for the final transcript and returns the run. Throws with the page's status
 * line when the page reports an error.
 */
export async function runDemo(browser: Browser, pageUrl: string, modelFile: string, wavFile: string, opts: RunDemoOptions = {}): Promise<DemoRun> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const context = await browser.newContext();
  const pageErrors: string[] = [];
  try {
    const page = await context.newPage();
    page.on("console", (m) => {
      if (m.type() === "error") pageErrors.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => pageErrors.push(`pageerror: ${e.message}`));
    await page.goto(pageUrl);
    if (!opts.modelFromPage) await page.waitForSelector('body[data-state="idle"]'); // else it is loading already
    const before = await rendererMemory(browser);
    if (!opts.modelFromPage) {
      await page.setInputFiles("#model-file", modelFile);
      await waitForState(page, ["ready"], "loading the model", timeoutMs);
    }
    if (opts.lmFile || opts.modelFromPage) {
      if (opts.lmFile) await page.setInputFiles("#lm-file", opts.lmFile);
      await page.waitForFunction("window.todmDemo.lm !== null || window.todmDemo.error !== null", undefined, { timeout: timeoutMs });
      await waitForState(page, ["ready"], "loading the LM", timeoutMs);
    }
    await page.setInputFiles("#wav-file", wavFile);
    await waitForState(page, ["done"], "transcribing the WAV file", timeoutMs);
    const after = await rendererMemory(browser);
    const s = (await page.evaluate("window.todmDemo")) as PageState;
    const rtfPerRun = [s.result.rtf];
    for (let k = 2; k <= (opts.runs ?? 1); k++) {
      await page.setInputFiles("#wav-file", wavFile);
      await page.waitForFunction(`window.todmDemo.runs >= ${k} || window.todmDemo.error !== null`, undefined, { timeout: timeoutMs });
      await waitForState(page, ["done"], `transcribing the WAV file again (run ${k})`, timeoutMs);
      rtfPerRun.push(((await page.evaluate("window.todmDemo.result.rtf")) as number));
    }
    let growth: number | null = null;
    for (const [pid, m] of after) {
      const b = before.get(pid);
      if (b) growth = Math.max(growth ?? 0, (m.hwm - b.rss) / 1024);
    }
    return {
      build: s.build,
      mode: s.result.mode,
      final: s.result.final,
      partials: s.result.partials,
      lm: s.lm,
      shownFinal: (await page.textContent("#final")) ?? "",
      audioSeconds: s.result.audioSeconds,
      loadMs: s.loadMs,
      computeMs: s.result.computeMs,
      rtf: s.result.rtf,
      coldStartMs: s.loadMs + s.result.firstResultMs,
      wasmMemoryBytes: s.memoryBytes,
      rendererPeakGrowthMiB: growth,
      pageErrors,
      rtfPerRun,
    };
  } finally {
    await context.close();
  }
}

/**
 * The microphone path: loads `modelFile`, starts the microphone (the browser must come from
 * launchChromium with `fakeMicrophone`), lets `seconds` of audio in, stops, and returns the run.
 */
export async function runMicrophone(browser: Browser, pageUrl: string, modelFile: string, seconds: number, timeoutMs = 60_000): Promise<DemoRun> {
  const context = await browser.newContext({ permissions: ["microphone"] });
  const pageErrors: string[] = [];
  try {
    const page = await context.newPage();
    page.on("console", (m) => {
      if (m.type() === "error") pageErrors.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => pageErrors.push(`pageerror: ${e.message}`));
    await page.goto(pageUrl);
    await page.waitForSelector('body[data-state="idle"]');
    await page.setInputFiles("#model-file", modelFile);
    await waitForState(page, ["ready"], "loading the model", timeoutMs);
    await page.click("#mic-start");
    await waitForState(page, ["listening"], "starting the microphone", timeoutMs);
    await page.waitForFunction(`(document.getElementById("audio-seconds").textContent || "").match(/^[0-9.]+/) && parseFloat(document.getElementById("audio-seconds").textContent) >= ${seconds}`, undefined, { timeout: timeoutMs });
    await page.click("#mic-stop");
    await waitForState(page, ["done"], "finishing the microphone run", timeoutMs);
    const s = (await page.evaluate("window.todmDemo")) as PageState;
    return {
      build: s.build, mode: s.result.mode, final: s.result.final, partials: s.result.partials,
      shownFinal: (await page.textContent("#final")) ?? "", audioSeconds: s.result.audioSeconds, loadMs: s.loadMs,
      computeMs: s.result.computeMs, rtf: s.result.rtf, coldStartMs: s.loadMs + s.result.firstResultMs,
      wasmMemoryBytes: s.memoryBytes, rendererPeakGrowthMiB: null, pageErrors, rtfPerRun: [s.result.rtf],
    };
  } finally {
    await context.close();
  }
}
