#!/usr/bin/env node
// Differential oracle for airlock-policy.
//
// Reads airlock differential cases as JSON lines on stdin and writes, for each, one JSON line on
// stdout, in order: {"id": ..., "decision": "allow" | "explicit-deny" | "implicit-deny"}, or
// {"id": ..., "error": "..."} when iam-simulate rejects the input. With --explain, the line also
// carries iam-simulate's full analysis (for replaying one failing case by hand):
//
//   node tests/oracle/decide.mjs --explain < case.jsonl
//
// One process serves a whole batch; cases are evaluated one at a time, in input order.

import { createInterface } from 'node:readline';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { toDecision, toSimulation } from './case.mjs';

const explain = process.argv.includes('--explain');
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
let out = [];
const flush = () => {
  if (out.length > 0) {
    process.stdout.write(out.join(''));
    out = [];
  }
};

for await (const line of rl) {
  if (line.trim() === '') continue;
  let id = null;
  let answer;
  try {
    const c = JSON.parse(line);
    id = c.id ?? null;
    const simulation = toSimulation(c);
    const result = await runSimulation(simulation, { simulationMode: 'Strict' });
    answer = toDecision(result);
    if (explain) {
      answer.simulation = simulation;
      answer.result = result;
    }
  } catch (e) {
    answer = { error: `oracle exception: ${e && e.stack ? e.stack : e}` };
  }
  out.push(JSON.stringify({ id, ...answer }) + '\n');
  if (out.length >= 256) flush();
}
flush();
