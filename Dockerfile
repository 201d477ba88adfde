# Wharf production image: Debian-based Node 20 with ffmpeg, compiled server, non-root user.
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY core core
COPY server server
COPY media media
COPY protocol protocol
COPY orchestrator orchestrator
COPY signer signer
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg tini ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production \
    WHARF_HOST=0.0.0.0 \
    WHARF_DATA_DIR=/data
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY web-player web-player
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
# 8935 HTTP API/HLS/WebRTC signalling, 1935 RTMP ingest
EXPOSE 8935 1935
# WebRTC media (UDP) uses ephemeral ports; run with --network host for WHIP/WHEP.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/server/main.js"]
