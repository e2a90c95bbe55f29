# bench/lib.sh — what the benchmark scenarios share. Sourced by bench/run from the repository
# root; every server it starts listens on 127.0.0.1 only.

BENCH_DOMAIN=bench.example.test       # the local domain of Tern and Postfix alike
BENCH_RCPT=bench@$BENCH_DOMAIN        # its one mailbox
POSTFIX_PORT=${POSTFIX_PORT:-2525}
TERN_PORT=${TERN_PORT:-2630}          # Tern as configured by default: [storage] sync = "filesystem"
TERN_FILE_PORT=${TERN_FILE_PORT:-2632}  # Tern with sync = "file": every file synced on its own
TERN_DKIM_PORT=${TERN_DKIM_PORT:-2634}  # Tern signing what it relays (the signing scenario)
SIGNING_DOMAIN=client.test            # smtp-source's From: domain, which tern-dkim has keys for
SINK_PORT=${SINK_PORT:-2631}          # smtp-sink as an inbound peer
RELAY_SINK_PORT=${RELAY_SINK_PORT:-2641}  # smtp-sink as the outbound MX
DNS_PORT=${DNS_PORT:-2653}
PY=/usr/bin/python3                   # Debian's, with the packages bench_install adds

# Installs Debian packages without letting them start their daemons (Postfix would take port 25).
bench_install() { # package...
  [ "$#" -gt 0 ] || return 0
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d
  echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
  echo "postfix postfix/mailname string $BENCH_DOMAIN" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2
  rm -f /usr/sbin/policy-rc.d
}

bench_install_missing() {
  local need=()
  [ -x /usr/sbin/postfix ] || need+=(postfix)
  [ -x /usr/sbin/smtp-source ] || need+=(postfix)
  [ -x /usr/sbin/nsd ] || need+=(nsd)
  [ -x "$PY" ] || need+=(python3)
  bench_install "${need[@]}"
}

# Postfix as a peer: smtpd on 127.0.0.1:$POSTFIX_PORT with its fsync'd queue, local delivery
# to ~bench/Maildir/, nothing relayed (the outbound scenario switches relaying on for its run).
# Idempotent; the settings are Postfix's defaults but for where it listens and delivers.
postfix_configure() {
  id bench >/dev/null 2>&1 || useradd -r -m -d /var/lib/tern-bench/home -s /usr/sbin/nologin bench
  POSTFIX_HOME=$(getent passwd bench | cut -d: -f6)  # the home (and Maildir) of Postfix's local user
  mkdir -p "$POSTFIX_HOME" && chown bench "$POSTFIX_HOME"
  postfix_clear_maildir
  postconf -e \
    "inet_interfaces = loopback-only" \
    "inet_protocols = ipv4" \
    "myhostname = $BENCH_DOMAIN" \
    "mydestination = $BENCH_DOMAIN, localhost" \
    "home_mailbox = Maildir/" \
    "mailbox_command =" \
    "maillog_file = /var/log/postfix-bench.log" \
    "default_transport = error" "relay_transport = error" "defer_transports ="
  postconf -M smtp/inet >/dev/null 2>&1 && postconf -MX smtp/inet
  postconf -M "127.0.0.1:$POSTFIX_PORT/inet=127.0.0.1:$POSTFIX_PORT inet n - y - - smtpd"
  postconf -M postlog/unix-dgram >/dev/null 2>&1 ||
    postconf -M "postlog/unix-dgram=postlog unix-dgram n - n - 1 postlogd"
  newaliases
  # What Debian's init script does: copy resolv.conf and friends into the smtpd chroot.
  [ -x /usr/lib/postfix/configure-instance.sh ] && /usr/lib/postfix/configure-instance.sh - >/dev/null 2>&1
  postfix check
  postfix status >/dev/null 2>&1 && postfix reload >/dev/null 2>&1 || postfix start >/dev/null 2>&1
  wait_port "$POSTFIX_PORT"
}

postfix_maildir_count() { ls -f "$POSTFIX_HOME/Maildir/new" 2>/dev/null | grep -vc '^\.' || true; }
postfix_queue_size() {
  find /var/spool/postfix/incoming /var/spool/postfix/active /var/spool/postfix/deferred \
    /var/spool/postfix/maildrop -type f 2>/dev/null | wc -l
}
postfix_clear_maildir() { find "$POSTFIX_HOME/Maildir" -type f -delete 2>/dev/null || true; }

wait_port() { # port
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "port $1 did not open" >&2
  return 1
}

# Polls `command` until it prints `expected`; fails after `timeout` seconds.
wait_until() { # command expected timeout
  local deadline=$((SECONDS + $3))
  while [ "$($1)" != "$2" ]; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.05
  done
}

# Polls `command` until it prints a number no less than `expected`; fails after `timeout` seconds.
wait_until_at_least() { # command expected timeout
  local deadline=$((SECONDS + $3))
  while [ "$($1)" -lt "$2" ]; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.05
  done
}

# smtp-sink, the protocol-only upper bound: it answers everything and stores nothing.
sink_start() { # port [max-connections]
  /usr/sbin/smtp-sink -u nobody -m "${2:-4096}" "127.0.0.1:$1" 4096 &
  sink_pid=$!
  wait_port "$1"
}
sink_stop() { [ -n "${sink_pid:-}" ] || return 0; kill "$sink_pid" 2>/dev/null || true; wait "$sink_pid" 2>/dev/null || true; }

# Builds the release binary and sets `tern_bin` to it; BENCH_TERN_BIN names one built already
# (a release build in another scratch path).
tern_build() {
  if [ -n "${BENCH_TERN_BIN:-}" ]; then tern_bin=$BENCH_TERN_BIN; return; fi
  echo "building tern (release)..." >&2
  swift build -c release --product tern >&2
  tern_bin="$(swift build -c release --show-bin-path)/tern"
}

# The Tern instances: "tern" (the default, sync = "filesystem"), "tern-file", and "tern-dkim"
# ("tern" with DKIM keys for $SIGNING_DOMAIN, so it signs the mail it relays from there).
tern_port() { case $1 in tern) echo "$TERN_PORT" ;; tern-file) echo "$TERN_FILE_PORT" ;; tern-dkim) echo "$TERN_DKIM_PORT" ;; esac; }
tern_sync() { case $1 in tern|tern-dkim) echo filesystem ;; tern-file) echo file ;; esac; }
tern_data() { echo "$work/$1-data"; }

# Writes the configuration of Tern instance $1 into $work/$1.toml: serve mode (the MTA path: 250
# once the message is durable, in the journal or the mailbox's Maildir for mail to one local
# mailbox, in the queue for relayed mail), the local domain $BENCH_DOMAIN with its mailbox,
# relaying for loopback through the loopback DNS, and connection limits raised past the
# scenarios' needs (Postfix's defaults exempt $mynetworks from its per-client limits too).
tern_configure() { # tern|tern-file
  cat > "$work/$1.toml" <<EOF
hostname = "tern.$BENCH_DOMAIN"
data_dir = "$(tern_data "$1")"
log_level = "warning"

[[listener]]
address = "127.0.0.1"
port = $(tern_port "$1")
role = "mx"

[mail]
domains = ["$BENCH_DOMAIN"]
relay_networks = ["127.0.0.0/8"]

[[mailbox]]
address = "$BENCH_RCPT"

[limits]
connections = 20000
connections_per_ip = 20000

[outbound]
port = $RELAY_SINK_PORT

[dns]
servers = ["127.0.0.1:$DNS_PORT"]

# Postfix checks no DKIM, SPF or DMARC out of the box; here Tern does not either, so both do
# the same work per message.
[dkim]
verify = false

[spf]
verify = false

[dmarc]
verify = false

[queue]
retry_delay = "1h"
retry_max_delay = "4h"

[storage]
sync = "$(tern_sync "$1")"
EOF
}

# Starts Tern instance $1 on an empty data directory; its pid goes to $work/$1.pid.
tern_start() { # tern|tern-file|tern-dkim
  rm -rf "$(tern_data "$1")"
  if [ "$1" = tern-dkim ]; then
    "$tern_bin" dkim generate "$SIGNING_DOMAIN" --selector bench --data "$(tern_data "$1")" >/dev/null
  fi
  (ulimit -n 20000 2>/dev/null || true; exec "$tern_bin" serve --config "$work/$1.toml") \
    >"$work/$1.stdout" 2>"$work/$1.stderr" &
  echo $! > "$work/$1.pid"
  for _ in $(seq 1 100); do grep -q "tern: ready" "$work/$1.stdout" && return 0; sleep 0.1; done
  cat "$work/$1.stderr" >&2
  return 1
}
tern_pid() { cat "$work/$1.pid" 2>/dev/null; }
tern_stop() { # tern|tern-file
  local pid
  pid=$(tern_pid "$1") || return 0
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rm -f "$work/$1.pid"
}
tern_maildir_count() { ls -f "$(tern_data "$1")/mailboxes/$BENCH_DOMAIN/bench/new" 2>/dev/null | grep -vc '^\.' || true; }
tern_queue_size() { find "$(tern_data "$1")/spool/queue" -name '*.json' 2>/dev/null | wc -l; }
maildir_count() { case $1 in tern|tern-file|tern-dkim) tern_maildir_count "$1" ;; postfix) postfix_maildir_count ;; esac; }

# One smtp-source run; prints messages per second (0 when it failed).
smtp_source_rate() { # target sessions messages size [flags...]
  local target=$1 sessions=$2 messages=$3 size=$4 t0 t1 rc=0
  shift 4
  t0=$(date +%s.%N)
  timeout 600 /usr/sbin/smtp-source -s "$sessions" -m "$messages" -l "$size" -f sender@client.test \
    -t "$BENCH_RCPT" -M client.test "$@" "$target" >/dev/null || rc=$?
  t1=$(date +%s.%N)
  [ "$rc" -eq 0 ] || { echo "smtp-source against $target failed (rc $rc)" >&2; echo 0; return; }
  awk -v a="$t0" -v b="$t1" -v n="$messages" 'BEGIN { printf "%.1f", n / (b - a) }'
}

# Appends one measurement to the results file.
record() { # scenario server repetition metric value
  echo "\"$1\",$2,$3,$4,$5" >> "$results_csv"
  printf '  %-40s %-8s rep %s  %-14s %s\n' "$1" "$2" "$3" "$4" "$5" >&2
}
