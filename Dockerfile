# syntax=docker/dockerfile:1
# tidemark as a container: `docker build -t tidemark .`, then
#   docker run --rm -v $PWD/tidemark.yaml:/config/tidemark.yaml:ro tidemark run --config /config/tidemark.yaml
# docker-compose.yml runs it next to Postgres, Kafka and Redis; the Helm chart (helm/tidemark) and
# the manifests in deploy/ run it as `tidemark run --config /etc/tidemark/tidemark.yaml --role ...`.

# ---- build: all dependencies (TypeScript, type packages), compile to dist/, then drop dev deps.
FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 and @duckdb/node-api ship prebuilt binaries for linux-x64/arm64 glibc; the
# compiler toolchain is only the fallback for platforms without one (and stays in this stage).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY scripts/lib/npm-install scripts/lib/check-lock.js ./scripts/lib/
# npm ci, or an install checked against the lock (see scripts/lib/npm-install for why).
RUN bash scripts/lib/npm-install
COPY tsconfig.json ./
COPY src ./src
# `npm run build` also copies the files the code reads beside itself at run time (the Redis Lua
# scripts under src/offsets/lua) next to the compiled modules: tsc emits only JavaScript.
RUN npm run build \
 && npm prune --omit=dev

# ---- runtime: the same base image (so native modules built above match), production deps only.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# A non-root user with a fixed numeric id: Kubernetes' runAsNonRoot can only verify a numeric
# USER, and the chart's runAsUser/fsGroup (10001) match it. /data is where file offsets, a DuckDB
# warehouse or local Iceberg files go.
RUN groupadd --gid 10001 tidemark \
 && useradd --uid 10001 --gid tidemark --home-dir /app --shell /usr/sbin/nologin tidemark \
 && mkdir -p /data /config \
 && chown tidemark:tidemark /data
COPY --from=build --chown=root:root /app/package.json /app/package-lock.json ./
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist/src ./dist/src
# `tidemark` on the PATH (bin/tidemark runs the compiled dist/ when it is there, as here).
COPY --chown=root:root bin ./bin
RUN ln -s /app/bin/tidemark /usr/local/bin/tidemark
USER 10001:10001
VOLUME ["/data"]
# The Prometheus /metrics, /healthz and /readyz server (observe.port, default 9464).
EXPOSE 9464
ENTRYPOINT ["tidemark"]
CMD ["--help"]
