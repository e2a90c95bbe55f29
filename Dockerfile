# Tern in a container: the release binary from scripts/release on a slim Debian. Nothing is
# compiled here, so the image needs no Swift toolchain.
#
#   scripts/release                                  # dist/tern-<version>-linux-<arch>.tar.gz
#   docker build --build-arg TARBALL=dist/tern-0.1.0-linux-x86_64.tar.gz -t tern .
#
# The catcher (the default command), reached from the host and from compose neighbours as
# http://tern:8025 (the name must be allowed: the DNS-rebinding guard refuses others):
#   docker run --rm -p 1025:1025 -p 8025:8025 tern
#   docker run --rm tern dev --smtp 0.0.0.0:1025 --http 0.0.0.0:8025 --http-allow-host mail.internal
# A server: mount the configuration and the data directory (data_dir = "/var/lib/tern"):
#   docker run -v ./tern.toml:/etc/tern/tern.toml:ro -v tern-data:/var/lib/tern \
#       -p 25:25 -p 465:465 -p 587:587 -p 993:993 tern serve --config /etc/tern/tern.toml
FROM debian:bookworm-slim

# What the static binary still takes from the system: SQLite (the directory database) and the
# CA certificates that outbound TLS verifies against. glibc, libstdc++ and zlib are in the image.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates libsqlite3-0 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /var/lib/tern --shell /usr/sbin/nologin tern \
    && install -d -o tern -g tern -m 700 /var/lib/tern

ARG TARBALL
# ADD unpacks a local tar.gz.
ADD ${TARBALL} /opt/
RUN ln -s /opt/tern-*/tern /usr/local/bin/tern && tern --version

USER tern
WORKDIR /var/lib/tern
EXPOSE 25 465 587 993 995 1025 8025
ENTRYPOINT ["tern"]
CMD ["dev", "--smtp", "0.0.0.0:1025", "--http", "0.0.0.0:8025", "--http-allow-host", "tern", "--data", "/var/lib/tern"]
