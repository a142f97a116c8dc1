# astrobot: a static binary (CGO off) on distroless, running as a non-root user,
# with its bbolt database on a volume.
#
#   docker build -t astrobot .
#   docker run -d --name astrobot \
#     -e SLACK_APP_TOKEN -e SLACK_BOT_TOKEN \
#     -v astrobot-data:/data -v "$PWD/clusters.yaml:/config/clusters.yaml:ro" \
#     -p 9090:9090 astrobot
#
# /data must be writable by uid 65532 (nonroot). A named volume is created with the
# image's /data and its owner; for a bind mount, chown the host directory to 65532.

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, in their own layer: rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/astrobot ./cmd/astrobot \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/astrobot /astrobot
# An empty /data owned by nonroot, so a fresh named volume is writable by the bot.
COPY --from=build --chown=65532:65532 /out/data /data
ENV ASTROBOT_DB=/data/astrobot.db \
    ASTROBOT_CLUSTERS=/config/clusters.yaml \
    ASTROBOT_OPS_ADDR=:9090
VOLUME /data
# 3000: Slack requests in HTTP mode. 9090: /healthz, /readyz and /metrics.
EXPOSE 3000 9090
USER 65532:65532
ENTRYPOINT ["/astrobot"]
CMD ["serve"]
