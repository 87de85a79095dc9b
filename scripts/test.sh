#!/usr/bin/env bash
# The project's test command: provisions the local stack's binaries when missing, type-checks,
# lints, then runs every test once against one shared Temporal dev server and S3 server.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/provision.sh
# package.json runs this through scripts/with-node.sh: say which Node the suite runs under.
echo "== node $(node -v)"

echo "== typecheck"; npx tsc -p tsconfig.json --noEmit
echo "== lint"; npx eslint .

mapfile -t files < <(find test -name '*.test.ts' -not -path '*/fixtures/*' | sort)
[ ${#files[@]} -gt 0 ] || { echo "no test files found" >&2; exit 1; }
echo "== tests (${#files[@]} files)"
exec npx tsx scripts/with-local-stack.ts -- node --import tsx --test --test-concurrency="${TEST_CONCURRENCY:-2}" "${files[@]}"
