#!/usr/bin/env python3
"""Decides SMT-LIB queries with Z3 (z3-solver from the test venv), for airlock-prove's cross-check.

Input (stdin or a file argument): queries separated by lines `;;; QUERY <id>`.
Output (stdout): one line per query, `<id> <sat|unsat|unknown|bounded-unsat> <seconds>`; a final
line `total <seconds>` gives Z3's summed solving time (parse time excluded).

Z3's sequence solver gives up (unknown) on some unsatisfiable string queries, typically a
concatenation `x ++ ":" ++ y` constrained by a regular language that lacks `:`. For those the
harness retries with every string variable bounded to length <= AIRLOCK_Z3_BOUND (default 8): `sat` there is a real `sat`;
`unsat` there is reported as `bounded-unsat` (no model up to that length), a weaker verdict that the
Rust side counts and reports separately.
"""
import re
import sys
import time

try:
    import z3
except ImportError:  # pragma: no cover - the Rust test turns this into a clear failure
    sys.stderr.write("z3-solver is not installed in this Python (run scripts/test-env.sh)\n")
    sys.exit(3)


def queries(stream):
    qid, buf = None, []
    for line in stream:
        if line.startswith(";;; QUERY "):
            if qid is not None:
                yield qid, "".join(buf)
            qid, buf = line[len(";;; QUERY "):].strip(), []
        else:
            buf.append(line)
    if qid is not None:
        yield qid, "".join(buf)


def main():
    src = open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin
    import os
    timeout_ms = int(os.environ.get("AIRLOCK_Z3_TIMEOUT_MS", "2000"))
    bound = int(os.environ.get("AIRLOCK_Z3_BOUND", "8"))
    total = 0.0
    out = sys.stdout
    for qid, text in queries(src):
        s = z3.Solver()
        s.set("timeout", timeout_ms)
        try:
            s.from_string(text)
        except z3.Z3Exception as e:
            out.write(f"{qid} error {e}\n".replace("\n", " ").rstrip() + "\n")
            continue
        t0 = time.perf_counter()
        r = s.check()
        verdict = str(r)
        if r == z3.unknown:
            names = re.findall(r"\(declare-const (\S+) String\)", text)
            bounds = "".join(f"(assert (<= (str.len {n}) {bound}))\n" for n in names)
            b = z3.Solver()
            b.set("timeout", 10000)
            b.from_string(text.replace("(check-sat)", bounds + "(check-sat)"))
            rb = b.check()
            verdict = {"sat": "sat", "unsat": "bounded-unsat"}.get(str(rb), "unknown")
        dt = time.perf_counter() - t0
        total += dt
        out.write(f"{qid} {verdict} {dt:.6f}\n")
        out.flush()
    out.write(f"total {total:.6f}\n")


if __name__ == "__main__":
    main()
