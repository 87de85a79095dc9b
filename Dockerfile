# syntax=docker/dockerfile:1
#
# The pipeline worker image (also runs the local RunComfy emulator: see docker-compose.yml).
#   docker build -t runcomfy-pipelines:local .
#
# Node 24 LTS, the release the tests run on (scripts/with-node.sh provisions the same one where the
# machine's Node is older than package.json's engines allow). Debian (glibc), not Alpine:
# Temporal's native core bridge ships prebuilt binaries for glibc only.
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

# ---- build: full install, compile, prebuild the workflow bundle, then drop dev dependencies ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build-workflow-bundle.ts ./scripts/
COPY src ./src
# tsc → dist/, then dist/workflow-bundle.js (workers load it instead of running webpack at start-up)
RUN npm run build
RUN npm prune --omit=dev --no-audit --no-fund

# ---- runtime ----
FROM ${NODE_IMAGE} AS runtime
# Temporal's Rust core reads the system CA store for TLS (Temporal Cloud); the slim image has none.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# MALLOC_ARENA_MAX: the Rust core's threads otherwise each get a malloc arena of their own, which
# costs a worker holding 1,000 waiting pipelines about 100 MB of RSS (docs/benchmark.md).
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js \
    DEPLOYMENT_REGISTRY_PATH=/app/config/deployments.json \
    METRICS_PORT=9464 \
    TEMPORAL_METRICS_PORT=9465
WORKDIR /app
# Owned by root and not writable by the runtime user: the process cannot alter its own code.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY config ./config
# Seed workflows for the emulator profile (a few KiB of API-format JSON).
COPY test/fixtures/comfy ./test/fixtures/comfy

# The official node image's unprivileged user (uid 1000).
USER node
EXPOSE 9464 9465
# Healthy once the worker has connected to Temporal and serves /metrics (METRICS_PORT=0 disables both).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.METRICS_PORT || '9464') + '/metrics', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node is PID 1 and handles SIGTERM itself: the worker drains for SHUTDOWN_GRACE_MS, then exits.
CMD ["node", "dist/worker.js"]
