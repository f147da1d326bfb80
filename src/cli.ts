#!/usr/bin/env node
// todm's command line. Each command lives in its own module; this file only wires them up.
//
//   node dist/cli.js --help
//   node dist/cli.js selfcheck

import { Command } from "commander";
import { createEngine } from "./index.js";
import { runSelfcheck } from "./selfcheck.js";

const program = new Command();
program
  .name("todm")
  .description("Train Once, Deploy Many: train a Supernet of MH-SSM RNN-T speech recognizers, deploy its subnets as WASM")
  .version("0.1.0")
  .showHelpAfterError();

program
  .command("selfcheck")
  .description("load the engine, report the chosen build, and check a few gradients against finite differences")
  .option("--build <name>", "force a build: simd or relaxed-simd (default: the best the runtime supports)")
  .action(async (opts: { build?: "simd" | "relaxed-simd" }) => {
    const engine = await createEngine({ build: opts.build });
    const ok = runSelfcheck(engine, (line) => console.log(line));
    process.exitCode = ok ? 0 : 1;
  });

program.parseAsync(process.argv).catch((e: Error) => {
  console.error(`todm: ${e.message}`);
  process.exit(1);
});
