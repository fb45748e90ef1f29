# rtinfer serve as a container image: CPU onnxruntime, production dependencies only, non-root.
#
#   docker build -t rtinfer:0.1.0 .
#   docker run --init -p 8080:8080 -v "$PWD/models:/models:ro" rtinfer:0.1.0
#
# Needs the node:20 base images and the npm registry at build time (README "Scaling out": this
# repository's CI machine reaches neither a container registry nor a Docker daemon, so the image is
# not built in CI; test/deploy/dockerfile.test.ts checks what the file claims instead).

ARG NODE_VERSION=20

# ---- build: dev dependencies, TypeScript and the web pages into dist/ ----
FROM node:${NODE_VERSION}-bookworm AS build
WORKDIR /app
# onnxruntime-node's install script would download CUDA libraries: it never runs (--ignore-scripts,
# and the variable it reads says skip); the CPU runtime ships inside the package.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
# Scripts off for the install (prepare would build before the sources are here), then only the
# native modules that need theirs (package.json allowScripts: esbuild, better-sqlite3).
RUN npm ci --ignore-scripts && npm rebuild esbuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
COPY web ./web
RUN npm run build

# ---- prod-deps: production dependencies only, native modules built here (the full image has a compiler) ----
FROM node:${NODE_VERSION}-bookworm AS prod-deps
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm rebuild better-sqlite3 && npm cache clean --force

# ---- runtime ----
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# A fixed numeric user (10001): Kubernetes' runAsNonRoot can check it without reading /etc/passwd,
# and rtinfer deploy's securityContext runs as the same id.
RUN groupadd --system --gid 10001 rtinfer \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin rtinfer
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER 10001:10001
# REST (Open Inference Protocol v2, /metrics, the dashboard), gRPC, and the health thread's port.
EXPOSE 8080 8081 8082
# Ready: models loaded and warmed up, a live worker each, not draining; asked on the health port, which
# answers however busy the HTTP thread is. Node 20's fetch, no curl in the slim image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8082/v2/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form: node is PID 1 and gets SIGTERM itself (no shell in between). rtinfer serve installs its
# own SIGTERM handler (drain, then exit), which PID 1 needs: the kernel does not apply default
# signal actions to PID 1. Engine workers are threads, not processes, so there is nothing to reap;
# docker run --init (tini) is still advisable for anything a model's custom op might spawn.
# The V8 heap flags rtinfer serve would otherwise start a child node with (src/cli/relaunch.ts: under
# load V8 marked continuously, its old generation's slack below the new space's size; with these,
# the helper threads' CPU per classifier request halved). Given here, node stays PID 1, one process.
# Node refuses --initial-heap-size in NODE_OPTIONS.
ENTRYPOINT ["node", "--initial-heap-size=64", "--max-semi-space-size=8", "/app/dist/cli/main.js"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--grpc-port", "8081", "--health-port", "8082", "--model-dir", "/models"]
