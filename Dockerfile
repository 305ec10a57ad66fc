# syntax=docker/dockerfile:1
# kernel-gossip: one image for both roles (`args: ["agent"]` / `["aggregator"]`).
# Node.js 24 runs the TypeScript sources directly (type stripping, no compile step); the
# only build product is the static protocol code in proto/gen, generated from
# proto/kernel_gossip.proto by a devDependency (protobufjs-cli), so it is made in the
# build stage and copied into a runtime stage that has production dependencies only.
#   docker build -t ghcr.io/kernel-gossip/kernel-gossip:0.1.0 .

ARG NODE_IMAGE=node:24-bookworm-slim

# --- build: all dependencies, generate proto/gen -----------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
COPY scripts/ scripts/
COPY proto/ proto/
# --ignore-scripts: the base image already is Node 24, so the `node` devDependency (the
# pinned Node for developer machines) need not fetch its binary; the protocol code is
# generated explicitly instead of by the postinstall hook, and --check fails the build if
# it is missing or stale.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && node scripts/gen-proto.ts \
 && node scripts/gen-proto.ts --check

# --- runtime: production dependencies and the sources the two roles run ------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force
COPY bin/ bin/
COPY cli/ cli/
COPY shared/ shared/
COPY agent/ agent/
COPY aggregator/ aggregator/
COPY --from=build /src/proto/gen/ proto/gen/
# The base image's "node" user, by number so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 9101 9102 9400
ENTRYPOINT ["/app/bin/kernel-gossip"]
CMD ["--help"]
