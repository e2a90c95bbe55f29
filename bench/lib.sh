# bench/lib.sh — what the benchmark scripts share. Source it from the repository root.

# Installs Debian packages without letting them start their daemons (Postfix would take port 25).
bench_install() { # package...
  [ "$#" -gt 0 ] || return 0
  [ "$(id -u)" -eq 0 ] || { echo "need $* (Debian); run as root" >&2; exit 1; }
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d
  echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
  rm -f /usr/sbin/policy-rc.d
}

# Sets `peer` to the perf kit's Postfix (smtpd with its fsync'd queue) when the kit is there.
bench_start_postfix() {
  peer=""
  if [ -x "$PERF_KIT/install-peers.sh" ] && [ "$(id -u)" -eq 0 ]; then
    "$PERF_KIT/install-peers.sh" >/dev/null
    "$PERF_KIT/peers.sh" start postfix >/dev/null
    peer="127.0.0.1:2525"
  fi
}

# Builds the release binary and sets `bin` to it.
bench_build_tern() {
  echo "building tern (release)..." >&2
  swift build -c release --product tern >&2
  bin="$(swift build -c release --show-bin-path)/tern"
}

# The median of the numbers on standard input.
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
