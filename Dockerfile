# uic in a container: built with Rust, run from a small Debian image as a
# non-root user, its SQLite database and development salt in the /data volume.
#
#   docker build -t uic .
#   docker run -p 8000:8000 -v uic-data:/data --env-file .env uic
#
# (Flows and locales are built into the binary; mount a folder and set
# FLOWS_DIR / LOCALES_DIR to serve edited ones.)

FROM rust:1.94-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && strip target/release/uic

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin uic \
    && mkdir -p /data && chown uic /data
COPY --from=build /src/target/release/uic /usr/local/bin/uic
USER uic
WORKDIR /data
ENV DATA_DIR=/data HOST=0.0.0.0 PORT=8000 LOG_JSON=true
# Request bodies of 64 KB and more get their own pages, returned when freed (as in deploy/whatsapp-uic.service).
ENV GLIBC_TUNABLES=glibc.malloc.mmap_threshold=65536
VOLUME ["/data"]
EXPOSE 8000
ENTRYPOINT ["/usr/local/bin/uic"]
CMD ["serve"]
