#!/usr/bin/env bash
# Installs what the local stack (tests, demo, benchmark) needs and a fresh machine lacks:
#   - Ceph's RADOS Gateway from Debian's packages (the local S3 server),
#   - Chromium from Debian's packages (the tests check the Temporal Web UI in a headless browser),
#   - the Temporal CLI dev server, built once from the Go module proxy into a cache folder outside
#     the checkout and reused by every clone.
# Safe to run again: it does nothing when both are present.
set -euo pipefail

TEMPORAL_CLI_VERSION=v1.5.1
CACHE_DIR="${RCP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/runcomfy-pipelines}"
# "-r2": builds from before the version was stamped in said 0.0.0-DEV; a new folder keeps them unused.
TEMPORAL_BIN="$CACHE_DIR/temporal-cli-$TEMPORAL_CLI_VERSION-r2/temporal"

say() { printf 'provision: %s\n' "$*" >&2; }
fail() { printf 'provision: error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else fail "installing packages needs root (or sudo): $*"
  fi
}

# Installs Debian packages; refreshes the package lists and tries again when the first attempt fails
# (a fresh image has no lists at all).
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y -q "$@" >/dev/null 2>&1 && return 0
  as_root apt-get update -q >/dev/null 2>&1 || return 1
  as_root apt-get install -y -q "$@" >/dev/null
}

# --- Ceph RADOS Gateway -------------------------------------------------------------------------
missing_ceph=()
for bin in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph; do
  command -v "$bin" >/dev/null 2>&1 || missing_ceph+=("$bin")
done
if [ ${#missing_ceph[@]} -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 || fail "missing ${missing_ceph[*]} and no apt-get here. Install Ceph's radosgw, ceph-mon and ceph-osd with your package manager."
  say "installing Ceph radosgw, ceph-mon, ceph-osd (missing: ${missing_ceph[*]})"
  apt_install radosgw ceph-mon ceph-osd \
    || fail "could not install Ceph (radosgw, ceph-mon, ceph-osd) with apt-get. Install them with your package manager, or point R2_* at a real S3/R2 bucket for the demo."
fi

# --- Chromium (Web UI tests) -------------------------------------------------------------------
if [ -z "${CHROMIUM_PATH:-}" ] && ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 && ! command -v google-chrome >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || fail "Chromium is missing and there is no apt-get here. Install Chromium with your package manager, or set CHROMIUM_PATH to a Chromium or Chrome executable."
  say "installing Chromium (headless browser for the Web UI tests)"
  apt_install chromium \
    || fail "could not install Chromium (Debian package chromium) with apt-get. Install it with your package manager, or set CHROMIUM_PATH to a Chromium or Chrome executable."
fi

# --- Temporal CLI -------------------------------------------------------------------------------
if [ -n "${TEMPORAL_CLI_PATH:-}" ]; then
  [ -x "$TEMPORAL_CLI_PATH" ] || fail "TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH is not executable"
elif [ -x "$TEMPORAL_BIN" ]; then
  :
elif command -v temporal >/dev/null 2>&1 && temporal server start-dev --help 2>/dev/null | grep -q -- '--db-filename'; then
  say "using $(command -v temporal) from PATH"
else
  command -v go >/dev/null 2>&1 || fail "the Temporal CLI is missing and Go is not installed to build it. Install Go (https is not needed: the Go module proxy is enough), or put a 'temporal' CLI on PATH, or set TEMPORAL_CLI_PATH."
  mkdir -p "$CACHE_DIR"
  # One build at a time per machine, however many checkouts ask for it.
  exec 9>"$CACHE_DIR/.temporal-build.lock"
  flock 9
  if [ ! -x "$TEMPORAL_BIN" ]; then
    say "building the Temporal CLI $TEMPORAL_CLI_VERSION with Go (once per machine, a few minutes)"
    build_dir=$(mktemp -d "$CACHE_DIR/.build-XXXXXX")
    trap 'rm -rf "$build_dir"' EXIT
    # A plain `go install` leaves the CLI's version at its 0.0.0-DEV default; the release build
    # stamps it the same way, through the temporalcli package's Version variable.
    GOBIN="$build_dir" GOFLAGS=-mod=mod go install \
      -ldflags "-X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION#v}" \
      "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION"
    mkdir -p "$(dirname "$TEMPORAL_BIN")"
    mv "$build_dir/temporal" "$TEMPORAL_BIN"
    say "built $TEMPORAL_BIN"
  fi
fi
