#!/usr/bin/env bash
# One-step set-up of parley on a fresh Debian 12 machine (run as root, or with sudo available); safe to re-run.
# Installs only what is missing: Debian packages (Jupyter, Chromium), npm packages, the build, the tslab kernel.
#
# Usage: bash scripts/setup.sh [--bench]
#   --bench   also installs Debian's python3-torch (the PyTorch CPU baseline used by bench/)
# Needs Node.js >= 20.19 with npm (not installed here: Debian 12's nodejs is too old).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
bench=0
for arg in "$@"; do
  case "$arg" in
    --bench) bench=1 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) printf '[setup] ERROR: unknown option %s (see --help)\n' "$arg" >&2; exit 2 ;;
  esac
done

say() { printf '[setup] %s\n' "$*"; }
fail() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Runs a command with its output captured; prints the output and fails loudly if it fails.
quiet() {
  if ! "$@" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    fail "command failed: $*"
  fi
}

# 1. Node.js
command -v node >/dev/null || fail "Node.js >= 20.19 is required (https://nodejs.org or NodeSource); node not found"
command -v npm >/dev/null || fail "npm not found (it ships with Node.js)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
  || fail "Node.js >= 20.19 is required, found $(node --version)"
say "node $(node --version), npm $(npm --version)"

# 2. Debian packages (only the missing ones)
pkgs=(jupyter-nbconvert python3-nbclient python3-ipykernel jupyter-client chromium)
[ "$bench" = 1 ] && pkgs+=(python3-torch)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || fail "apt-get not found; install by hand: ${missing[*]}"
  sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || fail "need root (or sudo) to install: ${missing[*]}"
    sudo=(sudo)
  fi
  say "apt-get install ${missing[*]} (about a minute)"
  quiet "${sudo[@]}" apt-get update -qq
  quiet "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
else
  say "Debian packages present: ${pkgs[*]}"
fi

# 3. npm packages: `npm ci` when node_modules is missing or package.json/package-lock.json changed since the last one
stamp=node_modules/.parley-setup.sha256
want=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [ ! -d node_modules ]; then
  reason="node_modules missing"
elif [ -f "$stamp" ]; then
  [ "$(cat "$stamp")" = "$want" ] && reason="" || reason="package-lock.json changed"
elif npm ls --depth=0 >/dev/null 2>&1; then
  reason=""   # an existing install that satisfies package.json: adopt it
else
  reason="node_modules does not match package.json"
fi
if [ -n "$reason" ]; then
  say "npm ci ($reason)"
  quiet npm ci --no-audit --no-fund --loglevel=error
else
  say "npm packages up to date"
fi
echo "$want" >"$stamp"

# 4. Build (TypeScript -> dist/, and node_modules/parley -> .. so notebooks can import "parley")
say "npm run build"
quiet npm run build --silent

# 5. Project-local tslab kernelspec
bash scripts/install-kernel.sh

say "ready in $((SECONDS - started)) s  (check with: npm run parley -- doctor)"
