#!/usr/bin/env bash
# Installs every test-time dependency inside the checkout, and nothing outside it:
#   - Python clients and oracles (AWS CLI, boto3, moto, z3) into target/venv,
#   - npm packages (the iam-simulate oracle) from the committed lockfile into tests/oracle/node_modules.
# Idempotent: reinstalls only when the pinned lists change.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

venv="$root/target/venv"
if [ ! -x "$venv/bin/python" ] || ! cmp -s tests/requirements.txt "$venv/.requirements.txt"; then
  echo "test-env: installing Python test dependencies into target/venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/requirements.txt
  cp tests/requirements.txt "$venv/.requirements.txt"
fi

if [ -f tests/oracle/package-lock.json ]; then
  stamp=tests/oracle/node_modules/.lock-stamp
  if [ ! -f "$stamp" ] || ! cmp -s tests/oracle/package-lock.json "$stamp"; then
    echo "test-env: installing npm oracle packages from tests/oracle/package-lock.json" >&2
    (cd tests/oracle && npm ci --no-audit --no-fund --silent)
    cp tests/oracle/package-lock.json "$stamp"
  fi
fi
