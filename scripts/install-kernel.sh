#!/usr/bin/env bash
# Registers the tslab (TypeScript/JavaScript) Jupyter kernels for this checkout only, under .jupyter/ in the repo.
# Tools find them through JUPYTER_PATH="$PWD/.jupyter/share/jupyter"; nothing is written outside the repository.
#
# Usage: bash scripts/install-kernel.sh [--force]
#   Skips the install when the kernelspec already points at this checkout's node_modules/.bin/tslab.
#   Uses Debian's /usr/bin/python3 (Jupyter lives there; a pyenv python3 on PATH usually has no Jupyter).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
py=/usr/bin/python3
bin="$root/node_modules/.bin/tslab"
prefix="$root/.jupyter"
spec="$prefix/share/jupyter/kernels/tslab/kernel.json"

say() { printf '[kernel] %s\n' "$*"; }
fail() { printf '[kernel] ERROR: %s\n' "$*" >&2; exit 1; }

[ -x "$bin" ] || fail "$bin not found: run 'npm ci' first (tslab is a devDependency)"
[ -x "$py" ] || fail "$py not found: install Debian's jupyter-nbconvert python3-nbclient python3-ipykernel jupyter-client"
"$py" -c "import jupyter_client, nbclient" 2>/dev/null \
  || fail "$py has no jupyter_client/nbclient: apt-get install jupyter-nbconvert python3-nbclient python3-ipykernel jupyter-client"

if [ "${1:-}" != "--force" ] && [ -f "$spec" ] && grep -qF "\"$bin\"" "$spec"; then
  say "tslab kernel already registered in .jupyter/ (use --force to reinstall)"
  exit 0
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! "$bin" install --python="$py" --binary "$bin" --prefix "$prefix" >"$log" 2>&1; then
  cat "$log" >&2
  fail "tslab install failed"
fi
if ! JUPYTER_PATH="$prefix/share/jupyter" "$py" -m jupyter kernelspec list 2>/dev/null | grep -q "tslab.*$prefix"; then
  JUPYTER_PATH="$prefix/share/jupyter" "$py" -m jupyter kernelspec list >&2 || true
  fail "the tslab kernelspec is not visible under JUPYTER_PATH=$prefix/share/jupyter"
fi
say "registered kernels tslab + jslab in .jupyter/share/jupyter/kernels (binary: node_modules/.bin/tslab)"
