#!/usr/bin/env node
// Times iam-simulate on a fixed set of cases (airlock differential-case JSON lines on stdin),
// for the speed comparison of crates/airlock-policy/benches/vs_iam_simulate.rs.
//
//   node tests/oracle/bench.mjs [--seconds S] < cases.jsonl
//
// Builds every Simulation once, warms up, then runs the cases round-robin through
// `runSimulation` (iam-simulate's public entry point, which validates and loads the policies on
// every call) for at least S seconds (default 3). Prints one JSON object:
// {"decisions": n, "seconds": t, "per_second": n/t, "results": [decision per case]}.

import { createInterface } from 'node:readline';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { toDecision, toSimulation } from './case.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? Number(process.argv[i + 1]) : dflt;
};
const seconds = arg('--seconds', 3);

const simulations = [];
for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (line.trim() !== '') simulations.push(toSimulation(JSON.parse(line)));
}
if (simulations.length === 0) {
  console.error('bench.mjs: no cases on stdin');
  process.exit(2);
}

const results = [];
for (const sim of simulations) {
  const r = toDecision(await runSimulation(sim, { simulationMode: 'Strict' }));
  results.push(r.decision ?? `error: ${r.error}`);
}
// Warm-up (JIT, iam-data caches).
for (let i = 0; i < 200; i++) {
  await runSimulation(simulations[i % simulations.length], { simulationMode: 'Strict' });
}

let decisions = 0;
const start = process.hrtime.bigint();
const budget = BigInt(Math.round(seconds * 1e9));
let elapsed = 0n;
while (elapsed < budget) {
  for (const sim of simulations) {
    await runSimulation(sim, { simulationMode: 'Strict' });
  }
  decisions += simulations.length;
  elapsed = process.hrtime.bigint() - start;
}
const secs = Number(elapsed) / 1e9;
process.stdout.write(
  JSON.stringify({ decisions, seconds: secs, per_second: decisions / secs, results }) + '\n'
);
