# syntax=docker/dockerfile:1
#
# The SalesOS Customer Portal as a container: one static binary, one volume.
#
#   docker build -t salesos/portal .
#   docker run -d --name portal -p 8080:8080 -v portal-data:/data \
#     -e PORTAL_PUBLIC_URL=https://portal.example.com salesos/portal
#
# See docs/operations.md for the settings, backups and upgrades.

# ---- build: a static, reproducible binary ---------------------------------
FROM golang:1.25 AS build
# CI builds with a patched toolchain (fixes to net/http after Go 1.26.8),
# which the go command fetches through the module proxy (go.mod names no
# toolchain of its own). --build-arg GOTOOLCHAIN=local builds with the
# image's own Go instead.
ARG GOTOOLCHAIN=go1.27.3
# --build-arg TAGS=etcd compiles in the etcd store (docs/operations.md,
# "Running on an etcd cluster").
ARG TAGS=
ENV GOTOOLCHAIN=${GOTOOLCHAIN} CGO_ENABLED=0
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# -trimpath drops local paths from the binary; the module version and, when
# .git is in the build context, the VCS revision are embedded for
# `portal version` and the portal_build_info metric.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -tags "${TAGS}" -ldflags='-s -w' -o /out/portal . \
 && mkdir -p /out/data

# ---- run: no shell, no package manager, not root --------------------------
# distroless/static carries CA certificates (for smtps:// and JWKS over TLS)
# and time zone data, and nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/portal /usr/local/bin/portal
# /data belongs to the runtime user, so a fresh named volume (which Docker
# seeds from the image) is writable without a chown.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
# Metrics listen apart from the API. Inside a container, 127.0.0.1 would be
# out of Prometheus's reach, so they listen on 9090 of the container; the
# port is not exposed: publish it only on the monitoring network
# (-p 127.0.0.1:9090:9090), never with the API's port.
ENV PORTAL_ADDR=:8080 PORTAL_DB=/data/portal.db PORTAL_METRICS_ADDR=:9090
VOLUME /data
EXPOSE 8080
# No HEALTHCHECK: distroless has no shell, curl or wget for one to run, and
# the binary has no probe subcommand. Let the orchestrator probe over HTTP
# instead: GET /healthz (alive) and GET /readyz (database usable, mail sender
# running), e.g. Kubernetes httpGet liveness and readiness probes.
# SIGTERM (docker stop) drains requests in flight for up to
# PORTAL_SHUTDOWN_TIMEOUT (10s): give docker stop -t 15 or more.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/portal"]
CMD ["serve"]
