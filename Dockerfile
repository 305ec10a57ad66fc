# syntax=docker/dockerfile:1
# kernel-gossip: one image for both roles (`args: ["agent"]` / `["aggregator"]`).
# The image runs built JavaScript (docs/adr/0010): the build stage generates the protocol code
# and bundles each role into one minified ES module with esbuild (scripts/build-dist.ts);
# the runtime stage carries those files and the entry script only — no node_modules, no
# TypeScript, no type stripping at run time. `kernel-gossip demo` is not in the image (it
# needs a development checkout: the local API server and kubectl); the command says so.
#   docker build -t ghcr.io/kernel-gossip/kernel-gossip:0.1.0 .

ARG NODE_IMAGE=node:24-bookworm-slim

# --- build: all dependencies, proto/gen, dist/ -------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the base image already is Node 24, so the `node` devDependency (the
# pinned Node for developer machines) need not fetch its binary; esbuild's binary is its
# platform package (@esbuild/linux-*), installed from the lockfile like any dependency.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY scripts/ scripts/
COPY proto/ proto/
COPY cli/ cli/
COPY shared/ shared/
COPY agent/ agent/
COPY aggregator/ aggregator/
# The protocol code is generated explicitly (not by the postinstall hook); --check fails the
# build if it is missing or stale.
RUN node scripts/gen-proto.ts \
 && node scripts/gen-proto.ts --check \
 && node scripts/build-dist.ts

# --- runtime: the entry script and the bundles -------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY bin/ bin/
COPY --from=build /src/dist/ dist/
# The base image's "node" user, by number so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 9101 9102 9400
ENTRYPOINT ["/app/bin/kernel-gossip"]
CMD ["--help"]
