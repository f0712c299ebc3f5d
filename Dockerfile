# One image for every Meridian service (primary, follower, router); the role comes from
# MERIDIAN_* environment variables or a --config file (see docker-compose.yml).
#
# Build stage: better-sqlite3 and hnswlib-node are native addons compiled from source
# (about 1.5 min), so only this stage carries a compiler.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# tsx and the demo dataset are runtime dependencies; dev tools are not needed to serve.
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY . .
# The services and their worker threads run from bundles (index/bundle-entry.mjs); made
# here, while node_modules/.cache is writable, so a container never needs tsx at run time.
RUN node --input-type=module -e "const b = await import('./index/bundle-entry.mjs'); \
  await b.bundle('services/run.ts', ['lib', 'index', 'catalog', 'sync', 'services']); \
  b.bundleSync('index/view-thread.ts', 'index'); b.bundleSync('index/segment-worker.ts', 'index');"
# Named volumes start as a copy of this directory, owner included.
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 8080
# /readyz answers 503 until the node has joined the cluster.
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=5 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.MERIDIAN_HTTP_PORT || 8080) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "services/start.mjs"]
