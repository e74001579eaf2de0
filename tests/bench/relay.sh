#!/usr/bin/env bash
# Benchmark (issue 15): messages per second and MB/s through `kluis-relay`
# against Postfix relaying the same messages directly. Postfix's own load
# tools make and take the mail: `smtp-source` sends N messages of one size
# over S concurrent sessions (each session reuses its connection) to
#   1. kluis-relay (pass mode, no Kluis server: nothing matches a trigger, so
#      everything passes) with `--upstream smtp://127.0.0.1:SINK`, or
#   2. a throwaway Postfix instance with `relayhost = [127.0.0.1]:SINK`
#      (Postfix's defaults otherwise: in_flow_delay 1s, 20 connections per
#      destination, connection cache on demand),
# and `smtp-sink` on loopback takes everything and counts it. Both answer
# 250 only after the message is on disk (fsync) and deliver afterwards, so
# two times are taken from the first message sent: until smtp-source has
# its last 250 ("accepted") and until the sink has all N ("delivered",
# end to end). Also: the relay's peak RSS (VmHWM), and for both the peak of
# the summed PSS of all their processes, sampled every 0.2 s.
# Optionally (--secure), a third path: messages with "[secure]" in the
# subject through kluis-relay to a real kluis-server (a package each, and a
# notification to the sink), SECURE_N messages of the small size.
#
# Needs root (Postfix's master, smtp-sink), Debian's postfix (smtp-source and
# smtp-sink come with it) and release builds:
#   cargo build --release -p kluis-relay   (with --secure also -p kluis-server)
#   sudo tests/bench/relay.sh [--secure]   (binaries from $CARGO_TARGET_DIR/release, default target/release)
# Settings (environment): SMALL_N=1000 SMALL_KB=5 LARGE_N=200 LARGE_KB=1024
# SESSIONS=10 RUNS=2 SECURE_N=100 TIMEOUT=180 (seconds, for each wait)
# BENCH_DIR (default target/bench).
set -euo pipefail
secure=0
[ "${1:-}" = --secure ] && secure=1
small_n=${SMALL_N:-1000}; small_kb=${SMALL_KB:-5}
large_n=${LARGE_N:-200}; large_kb=${LARGE_KB:-1024}
sessions=${SESSIONS:-10}; runs=${RUNS:-2}; secure_n=${SECURE_N:-100}
timeout=${TIMEOUT:-180}
root=$(cd "$(dirname "$0")/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
relay_bin=$target/release/kluis-relay
server_bin=$target/release/kluis-server
dir=${BENCH_DIR:-$root/target/bench}/relay

[ "$(id -u)" = 0 ] || { echo "run as root: Postfix's master and smtp-sink need it" >&2; exit 1; }
for tool in postfix smtp-source smtp-sink python3; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install postfix python3)" >&2; exit 1; }
done
[ -x "$relay_bin" ] || { echo "$relay_bin is missing: cargo build --release -p kluis-relay" >&2; exit 1; }
[ "$secure" = 0 ] || [ -x "$server_bin" ] || { echo "$server_bin is missing: cargo build --release -p kluis-server" >&2; exit 1; }

rm -rf "$dir"
mkdir -p "$dir"
# Postfix's daemons (user postfix) must reach the queue below it; smtp-sink drops to postfix too.
chmod 755 "$dir"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
elapsed() { awk -v s="$1" -v e="$2" 'BEGIN { printf "%.2f", e - s }'; }
wait_port() { # PORT WHAT
  local started; started=$(now)
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    over "$started" 20 && { echo "$2 did not listen on port $1" >&2; return 1; }
    sleep 0.05
  done
}
over() { awk -v s="$1" -v n="$(now)" -v t="$2" 'BEGIN { exit !(n - s > t) }'; }

# SIGTERM, at most 10 s to go, then SIGKILL.
stop() { # PID
  local started
  started=$(now)
  kill "$1" 2>/dev/null || true
  while kill -0 "$1" 2>/dev/null && ! over "$started" 10; do sleep 0.05; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# Everything started here, killed on exit whatever happens.
sink_pid=; relay_pid=; server_pid=; sampler_pid=; postfix_etc=; postfix_pid=; postfix_queue=
cleanup() {
  set +e # a kill of what has gone already must not end the cleanup
  [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null
  [ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  local master=
  if [ -n "$postfix_etc" ]; then
    master=$(postfix_master)
    postfix -c "$postfix_etc" stop >/dev/null 2>&1 || true
    [ -n "$postfix_pid" ] && kill "$postfix_pid" 2>/dev/null
  fi
  [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null
  # Bounded: whatever has not gone after 5 s is killed hard.
  local p started
  started=$(now)
  for p in $sampler_pid $relay_pid $server_pid $postfix_pid $master $sink_pid; do
    while kill -0 "$p" 2>/dev/null && ! over "$started" 5; do sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The sink: takes and discards; -c writes running counters ("sess=… quit=… mesg=N\r").
start_sink() {
  sink_port=$(free_port)
  smtp-sink -u postfix -c -m 512 "127.0.0.1:$sink_port" 512 > "$dir/sink.out" 2>&1 &
  sink_pid=$!
  wait_port "$sink_port" smtp-sink
}
sunk() { tail -c 64 "$dir/sink.out" | tr '\r' '\n' | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -1; }
# Sessions the sink has seen end (one of them wait_port's probe).
sessions_at_sink() { tail -c 64 "$dir/sink.out" | tr '\r' '\n' | sed -n 's/^sess=\([0-9]*\).*/\1/p' | tail -1; }
stop_sink() { stop "$sink_pid"; sink_pid=; }

# kluis-relay in pass mode, a fresh state directory each run.
start_relay() { # [SERVER_URL TOKEN]
  local state=$dir/relay-$RANDOM
  mkdir -p "$state"
  relay_port=$(free_port)
  {
    printf 'listen = "127.0.0.1:%s"\nhostname = "relay.test"\nstate_dir = "%s/state"\n' "$relay_port" "$state"
    printf 'upstream = "smtp://127.0.0.1:%s"\nupstream_tls = "opportunistic"\n' "$sink_port"
    if [ -n "${1:-}" ]; then
      printf '%s' "$2" > "$state/token"
      printf 'server = "%s"\ntoken_file = "%s/token"\n' "$1" "$state"
    fi
  } > "$state/relay.toml"
  RUST_LOG=warn "$relay_bin" --config "$state/relay.toml" 2> "$dir/relay.log" &
  relay_pid=$!
  relay_state=$state/state
  wait_port "$relay_port" kluis-relay
}
# Anything the relay logged at warn or worse, but for the expected note on the missing --server.
relay_log() {
  if grep -v 'no --server and --token' "$dir/relay.log" | grep -q .; then
    echo "relay log:" >&2; grep -v 'no --server and --token' "$dir/relay.log" | head -5 >&2
  fi
}
stop_relay() { stop "$relay_pid"; relay_pid=; }

# A throwaway Postfix instance (as relay/tests/relay/postfix.rs): its own
# configuration, queue and data directories, smtpd on a loopback port.
start_postfix() {
  local pf=$dir/postfix-$RANDOM
  mkdir -p "$pf/etc" "$pf/queue" "$pf/data"
  chown postfix "$pf/data"
  postfix_port=$(free_port)
  cat > "$pf/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = pf.test
mydestination =
relayhost = [127.0.0.1]:$sink_port
mynetworks = 127.0.0.0/8
maillog_file = /dev/stdout
smtp_tls_security_level = none
EOF
  local master=/etc/postfix/master.cf
  [ -f "$master" ] || master=/usr/share/postfix/master.cf.dist
  awk -v port="$postfix_port" '/^smtp +inet/ && !done { print "127.0.0.1:" port " inet n - n - - smtpd"; done = 1; next } { print }' \
    "$master" > "$pf/etc/master.cf"
  postfix_etc=$pf/etc
  postfix_queue=$pf/queue
  postfix -c "$postfix_etc" start-fg > "$dir/postfix.log" 2>&1 &
  postfix_pid=$!
  wait_port "$postfix_port" Postfix
}
stop_postfix() {
  postfix -c "$postfix_etc" stop >/dev/null 2>&1 || true
  local started; started=$(now)
  while kill -0 "$postfix_pid" 2>/dev/null; do
    over "$started" 20 && { kill "$postfix_pid" 2>/dev/null || true; break; }
    sleep 0.1
  done
  wait "$postfix_pid" 2>/dev/null || true
  postfix_etc=; postfix_pid=
}
postfix_master() { tr -d ' ' < "$postfix_queue/pid/master.pid" 2>/dev/null; }

# Peak of the summed PSS (KiB) of a process and its children, every 0.2 s, into FILE.
sample() { # PID FILE
  local peak=0 pss
  while kill -0 "$1" 2>/dev/null; do
    # shellcheck disable=SC2046
    pss=$(awk '/^Pss:/ { s += $2 } END { print s + 0 }' /proc/"$1"/smaps_rollup \
      $(pgrep -P "$1" | sed 's|.*|/proc/&/smaps_rollup|') 2>/dev/null || true)
    [ "${pss:-0}" -gt "$peak" ] && peak=$pss && echo "$peak" > "$2"
    sleep 0.2
  done
}

# One measured run: smtp-source to PORT, then wait for the sink to have N.
# Sets accepted, delivered (seconds) and pss (peak KiB).
measure() { # PORT PID_TO_SAMPLE N KB [SUBJECT]
  local port=$1 pid=$2 n=$3 kb=$4 subject=${5:-bench} s a e got
  echo 0 > "$dir/pss"
  sample "$pid" "$dir/pss" & sampler_pid=$!
  s=$(now)
  timeout "$timeout" smtp-source -d -s "$sessions" -m "$n" -l $((kb * 1024)) -M client.test \
    -f alice@example.org -t bob@example.net -S "$subject" "127.0.0.1:$port" \
    || { echo "smtp-source failed or timed out" >&2; return 1; }
  a=$(now)
  while got=$(sunk); [ "${got:-0}" -lt "$n" ]; do
    over "$s" "$timeout" && { echo "timed out: the sink has ${got:-0} of $n" >&2; return 1; }
    sleep 0.05
  done
  e=$(now)
  kill "$sampler_pid" 2>/dev/null || true; wait "$sampler_pid" 2>/dev/null || true; sampler_pid=
  accepted=$(elapsed "$s" "$a"); delivered=$(elapsed "$s" "$e"); pss=$(cat "$dir/pss")
}

results=()
row() { # PATH KB N
  local mb
  mb=$(awk -v n="$3" -v kb="$2" 'BEGIN { print n * kb * 1024 / 1e6 }')
  results+=("$(printf '%-22s %7s %6s %9s %9s %9s %8s %8s %9s %9s %6s' "$1" "$2 KB" "$3" "$accepted" \
    "$(awk -v n="$3" -v t="$accepted" 'BEGIN { printf "%.0f", n / t }')" "$delivered" \
    "$(awk -v n="$3" -v t="$delivered" 'BEGIN { printf "%.0f", n / t }')" \
    "$(awk -v m="$mb" -v t="$delivered" 'BEGIN { printf "%.1f", m / t }')" \
    "$((pss / 1024))" "${hwm:--}" "$conns")")
  printf '%s\n' "${results[-1]}"
}

run_relay() { # N KB
  start_sink; start_relay
  measure "$relay_port" "$relay_pid" "$1" "$2"
  hwm=$(( $(awk '/VmHWM/ { print $2 }' /proc/"$relay_pid"/status) / 1024 ))
  sleep 0.5 # a duplicate (delivered twice) would show in the count
  conns=$(( $(sessions_at_sink) - 1 )) # less wait_port's probe
  [ "$(sunk)" = "$1" ] || echo "note: the sink got $(sunk) messages for $1 sent" >&2
  [ -z "$(ls "$relay_state/spool" 2>/dev/null)" ] || echo "note: the relay's spool is not empty" >&2
  relay_log
  stop_relay; stop_sink
  row kluis-relay "$2" "$1"
}

run_postfix() { # N KB
  start_sink; start_postfix
  local master; master=$(postfix_master)
  measure "$postfix_port" "$master" "$1" "$2"
  hwm=-
  sleep 0.5
  conns=$(( $(sessions_at_sink) - 1 )) # less wait_port's probe
  [ "$(sunk)" = "$1" ] || echo "note: the sink got $(sunk) messages for $1 sent" >&2
  stop_postfix; stop_sink
  row "Postfix $(postconf -h mail_version 2>/dev/null)" "$2" "$1"
}

# Secured end to end: a real kluis-server, "[secure]" in the subject; each
# message becomes a package and its notification reaches the sink.
run_secure() { # N KB
  local data=$dir/server port url token
  mkdir -p "$data"
  port=$(free_port); url=http://127.0.0.1:$port
  printf '[mail]\noutbox_dir = "%s/outbox"\n' "$data" > "$data/kluis.toml"
  RUST_LOG=warn KLUIS_WEB_DIR=$root/web "$server_bin" --config "$data/kluis.toml" --data "$data/data" \
    --listen "127.0.0.1:$port" --public-url "$url" 2> "$dir/server.log" &
  server_pid=$!
  wait_port "$port" kluis-server
  token=$("$server_bin" --config "$data/kluis.toml" --data "$data/data" token create relay@example.org 2>/dev/null)
  start_sink; start_relay "$url" "$token"
  measure "$relay_port" "$relay_pid" "$1" "$2" "[secure] bench"
  hwm=$(( $(awk '/VmHWM/ { print $2 }' /proc/"$relay_pid"/status) / 1024 ))
  sleep 0.5
  conns=$(( $(sessions_at_sink) - 1 )) # less wait_port's probe
  relay_log
  stop_relay; stop_sink
  stop "$server_pid"; server_pid=
  row "kluis-relay, secured" "$2" "$1"
}

echo
echo "SMTP relay over loopback: smtp-source with $sessions sessions -> path -> smtp-sink; $(nproc) cores; $runs interleaved runs"
echo "(accepted: until smtp-source has its last 250; delivered: until the sink has all; MB/s of the message bodies, delivered;"
echo " PSS: peak of the summed PSS of the path's processes; HWM: the relay's VmHWM; conns: sessions the sink had seen end 0.5 s later)"
printf '%-22s %7s %6s %9s %9s %9s %8s %8s %9s %9s %6s\n' path size msgs "accept s" "accept/s" "deliv. s" "deliv/s" "MB/s" "PSS MiB" "HWM MiB" conns
for _ in $(seq "$runs"); do
  run_relay "$small_n" "$small_kb"
  run_postfix "$small_n" "$small_kb"
done
for _ in $(seq "$runs"); do
  run_relay "$large_n" "$large_kb"
  run_postfix "$large_n" "$large_kb"
done
[ "$secure" = 1 ] && run_secure "$secure_n" "$small_kb"
rm -rf "$dir"/relay-* "$dir"/postfix-* "$dir"/server
