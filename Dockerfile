# syntax=docker/dockerfile:1
# tokengate: Caddy + tokengate modules, built from this repository.
#   docker build -t tokengate .
#   docker run -p 8080:8080 -v tokengate-data:/data tokengate
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/tokengate ./cmd/tokengate

# Pinned to the Debian 12 line; pin a digest (debian:12-slim@sha256:…) for reproducible builds.
FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin tokengate \
 && mkdir -p /data /etc/tokengate \
 && chown tokengate /data
COPY --from=build /out/tokengate /usr/local/bin/tokengate
COPY Caddyfile /etc/tokengate/Caddyfile
# The embedded store lives under ./data relative to the working directory.
WORKDIR /data
VOLUME ["/data"]
USER tokengate
ENV XDG_CONFIG_HOME=/data/config XDG_DATA_HOME=/data/caddy
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/tokengate"]
CMD ["run", "--config", "/etc/tokengate/Caddyfile", "--adapter", "caddyfile"]
