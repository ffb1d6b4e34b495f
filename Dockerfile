# syntax=docker/dockerfile:1
# One image, three entry points: the pods choose with their args (/app/dist/{agent,apiserver,controller}/main.js).
#   docker build -t bottlerocket-update-operator:dev .     (npm run image)
# Multi-arch: docker buildx build --platform linux/amd64,linux/arm64 -t <registry>/bottlerocket-update-operator:<tag> .
ARG NODE_VERSION=24.21.0

# ---- build: compile src/ to dist/ (what `npm run build` does: tsc -p tsconfig.build.json) ----
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the dev dependency "node" (the project's pinned runtime) would download a second Node here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# tsc through the image's own node: node_modules/.bin/node is the skipped "node" package's launcher.
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json

# ---- production dependencies only ----
FROM node:${NODE_VERSION}-bookworm-slim AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ---- runtime: distroless Node 24, no shell, no package manager, non-root ----
FROM gcr.io/distroless/nodejs24-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
# 65532 is distroless' "nonroot"; the manifests set the same uid (the agent alone overrides it, see src/deploy/security.ts).
USER 65532:65532
# The base image's ENTRYPOINT is node; the default command is the controller.
CMD ["/app/dist/controller/main.js"]
