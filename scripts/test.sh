#!/usr/bin/env bash
# Runs every test of the workspace: unit, property, differential (iam-simulate oracle),
# solver cross-checks (Z3) and the end-to-end tests against a real `airlock serve` driven by the
# AWS CLI, boto3 and aws-sdk-rust. Installs what the tests need first (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/test-env.sh
exec cargo test --workspace --locked "$@"
