#!/usr/bin/env bash
# Load test (issue 16), bounded in time, on this machine: TRANSFERS concurrent
# transfers (default 200), half uploads (`kluis send`: create the package,
# tus upload, finalize) and half downloads (`kluis receive`: access, fetch,
# decrypt) of packages uploaded beforehand, files of mixed sizes, against
#   1. two kluis-server nodes sharing one PostgreSQL database, one S3 bucket
#      (`s3s-fs` on loopback) and one secret.key: each transfer goes to one
#      node, alternately, and every download is made from the other node
#      than the one its package was uploaded to;
#   2. the same load on one node with SQLite and the file-system blob store.
# Every byte is checked: each download is compared with the file that was
# sent, and afterwards every package uploaded under load is received (from
# the other node) and compared too. Any failed command, byte mismatch, 5xx
# or 429 answer fails the run (exit 1), also one while uploading the
# packages to download (those are tried again, up to 3 times, so that the
# load still runs and its figures come out).
#
# The client is the real CLI, not raw HTTP: `kluis send` and `kluis receive`
# are what a user runs (encryption on the client, 8 MiB ciphertext chunks,
# its own resume logic), so the server sees the requests, sizes and pacing it
# sees in use; the server only ever sees ciphertext either way. Checking
# the decrypted plaintext against the input also checks the whole path
# (AEAD tags and all), not just that bytes came back. The cost: 200 client
# processes that encrypt and decrypt on the same 2 cores as the servers, so
# the throughput here is that of the whole machine, client included.
#
# Figures: wall time of the concurrent phase, its throughput (plaintext MB
# of all transfers / wall s), API latency p50/p99 from the servers' own
# access lines (`log_format = "json"`, field `ms`, from request to response
# headers) over the control requests (everything but the bulk tus PATCH and
# blob GET, whose time is the body's; those are shown per kind below the
# table), and each node's peak RSS (VmHWM, reset just before the phase via
# /proc/PID/clear_refs; idle RSS beside it).
#
# Needs: release builds (`cargo build --release -p kluis-server -p kluis-cli`),
# a running PostgreSQL where the current user may create databases (it
# creates and drops $PG_DB), `s3s-fs` (cargo install s3s-fs --version 0.14.1
# --features binary), python3, curl.
#   tests/bench/load.sh [TRANSFERS]        (default 200)
# Settings (environment): SETUPS="pg-s3 sqlite-fs" (either or both)
# LARGE_EVERY=10 (one transfer in so many is large) LARGE_MIB=20-50
# SMALL_KIB=10-1024 (log-uniform) SENDERS=10 (users the uploads are spread
# over) SEED_CONCURRENCY=20 (uploads before, checks after) TIMEOUT=900
# (seconds for everything of one setup: seed, load, checks)
# PG_HOST=/var/run/postgresql PG_USER=$(id -un) PG_DB=kluis_load
# KLUIS_BIN_DIR (default $CARGO_TARGET_DIR/release, i.e. target/release;
# target/debug for a quick try) BENCH_DIR (default target/bench).
set -euo pipefail
transfers=${1:-200}
setups=${SETUPS:-pg-s3 sqlite-fs}
large_every=${LARGE_EVERY:-10}
large_mib=${LARGE_MIB:-20-50}
small_kib=${SMALL_KIB:-10-1024}
senders=${SENDERS:-10}
seed_concurrency=${SEED_CONCURRENCY:-20}
timeout=${TIMEOUT:-900}
pg_host=${PG_HOST:-/var/run/postgresql}
pg_user=${PG_USER:-$(id -un)}
pg_db=${PG_DB:-kluis_load}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${KLUIS_BIN_DIR:-${CARGO_TARGET_DIR:-$root/target}/release}
kluis=$bin/kluis
server_bin=$bin/kluis-server
dir=${BENCH_DIR:-$root/target/bench}/load
uploads=$((transfers / 2))
downloads=$((transfers - uploads))

for tool in python3 curl timeout; do
  command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done
for b in "$kluis" "$server_bin"; do
  [ -x "$b" ] || { echo "$b is missing: cargo build --release -p kluis-server -p kluis-cli" >&2; exit 1; }
done
case " $setups " in *" pg-s3 "*)
  command -v s3s-fs >/dev/null || [ -x "$HOME/.cargo/bin/s3s-fs" ] ||
    { echo "s3s-fs is needed: cargo install s3s-fs --version 0.14.1 --features binary" >&2; exit 1; }
  command -v psql >/dev/null || { echo "psql is needed (apt-get install postgresql)" >&2; exit 1; }
esac
s3s_fs=$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")

rm -rf "$dir/run"
mkdir -p "$dir/inputs" "$dir/run"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
# Seconds left until the setup's deadline (at least 1: a command started late fails fast).
left() { local l=$((deadline - $(date +%s))); [ "$l" -gt 0 ] && echo "$l" || echo 1; }
rss() { awk -v k="$2:" '$1 == k { printf "%d", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# Everything started here, stopped on exit whatever happens.
node_pids=(); s3_pid=; pg_made=0
stop_jobs() {
  local j t
  for j in $(jobs -p); do
    for t in $(pgrep -P "$j" 2>/dev/null); do kill "$t" 2>/dev/null; done # timeout passes it on
    kill "$j" 2>/dev/null
  done
}
stop_servers() {
  local p i
  for p in "${node_pids[@]}" $s3_pid; do kill "$p" 2>/dev/null || true; done
  for p in "${node_pids[@]}" $s3_pid; do
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  node_pids=(); s3_pid=
  if [ "$pg_made" = 1 ]; then
    psql -q -h "$pg_host" -U "$pg_user" -d postgres -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
    pg_made=0
  fi
}
cleanup() {
  set +e
  stop_jobs
  stop_servers
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The files: the same for every setup. Transfer i (0-based) of each half is
# large when i % LARGE_EVERY == LARGE_EVERY - 1, else small (log-uniform);
# sizes from a fixed seed, bytes from /dev/urandom.
python3 - "$uploads" "$downloads" "$large_every" "$large_mib" "$small_kib" > "$dir/run/sizes" <<'EOF'
import math, random, sys
ups, downs, every = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
lmin, lmax = (int(x) for x in sys.argv[4].split("-"))
smin, smax = (int(x) for x in sys.argv[5].split("-"))
r = random.Random(16)
for kind, n in (("up", ups), ("seed", downs)):
    for i in range(n):
        if every > 0 and i % every == every - 1:
            size = r.randint(lmin << 20, lmax << 20)
        else:
            size = int(math.exp(r.uniform(math.log(smin << 10), math.log(smax << 10))))
        print(kind, i, size)
EOF
while read -r kind i size; do
  f=$dir/inputs/$kind-$i.bin
  [ -f "$f" ] && [ "$(stat -c %s "$f")" = "$size" ] || head -c "$size" /dev/urandom > "$f"
done < "$dir/run/sizes"
size_of() { awk -v k="$1" -v i="$2" '$1 == k && $2 == i { print $3 }' "$dir/run/sizes"; }
total_bytes=$(awk '{ s += $3 } END { print s }' "$dir/run/sizes")
cat "$dir"/inputs/*.bin > /dev/null

# Servers. $1: pg-s3 or sqlite-fs. Sets urls (one per node), node_pids, tokens, cfg.
start_setup() {
  local setup=$1 n=1 s3_port port i data
  local run=$dir/run/$setup
  rm -rf "$run"; mkdir -p "$run"
  cfg=$run/kluis.toml
  {
    printf 'log_format = "json"\n'
    if [ "$setup" = pg-s3 ]; then
      n=2
      printf 'database_url = "host=%s user=%s dbname=%s"\nblob_store = "s3"\n' "$pg_host" "$pg_user" "$pg_db"
    fi
    # Generous per-user and per-client limits: every client here is 127.0.0.1.
    printf '[limits]\nmax_unfinished_packages_per_user = %d\nmax_open_uploads_per_user = %d\n' $((transfers * 4)) $((transfers * 4))
    printf 'max_reserved_bytes_per_user = %d\npublic_requests_per_minute = 1000000\nmax_requests_per_client = %d\n' \
      $((total_bytes * 4)) $((transfers * 10))
    printf '[licence]\nevaluation_seats = %d\n' $((senders + 10))
  } > "$cfg"
  if [ "$setup" = pg-s3 ]; then
    psql -q -h "$pg_host" -U "$pg_user" -d postgres -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null
    psql -q -h "$pg_host" -U "$pg_user" -d postgres -c "CREATE DATABASE $pg_db" >/dev/null
    pg_made=1
    mkdir -p "$run/s3/kluis"
    s3_port=$(free_port)
    "$s3s_fs" --host 127.0.0.1 --port "$s3_port" --access-key kluis --secret-key kluis-secret "$run/s3" \
      > "$run/s3s-fs.log" 2>&1 &
    s3_pid=$!
    printf '[s3]\nbucket = "kluis"\nregion = "us-east-1"\nendpoint = "http://127.0.0.1:%s"\n' "$s3_port" >> "$cfg"
    printf 'access_key_id = "kluis"\nsecret_access_key = "kluis-secret"\n' >> "$cfg"
  fi
  urls=()
  for i in $(seq "$n"); do
    data=$run/node$i
    mkdir -p "$data"; chmod 700 "$data"
    # The nodes share the first one's secret.key (made at its first start).
    [ "$i" -gt 1 ] && cp -p "$run/node1/secret.key" "$data/secret.key"
    port=$(free_port)
    RUST_LOG=info "$server_bin" --config "$cfg" --data "$data" --listen "127.0.0.1:$port" \
      --public-url "http://127.0.0.1:$port" 2> "$run/node$i.log" &
    node_pids+=($!)
    urls+=("http://127.0.0.1:$port")
    local started; started=$(date +%s)
    until curl -sf "${urls[-1]}/readyz" >/dev/null 2>&1; do
      kill -0 "${node_pids[-1]}" 2>/dev/null || { echo "node $i did not start: $(tail -3 "$run/node$i.log")" >&2; return 1; }
      [ $(($(date +%s) - started)) -lt 60 ] || { echo "node $i not ready after 60 s" >&2; return 1; }
      sleep 0.2
    done
  done
  tokens=()
  for i in $(seq 0 $((senders - 1))); do
    tokens+=("$("$server_bin" --config "$cfg" --data "$run/node1" token create "sender$i@example.org" 2>/dev/null)")
  done
}

# One upload: FILE NODE_URL TOKEN LINK_FILE. The link goes to LINK_FILE.
send_one() {
  KLUIS_SERVER=$2 KLUIS_TOKEN=$3 timeout "$(left)" "$kluis" send "$1" --verify none > "$4.tmp" 2> "$4.err" &&
    mv "$4.tmp" "$4"
}
# One download and its check: LINK NODE_URL OUT_DIR EXPECTED_FILE. The link
# is taken to NODE_URL (the package was uploaded to another node).
receive_one() {
  local link=$2/p/${1##*/p/}
  mkdir -p "$3"
  timeout "$(left)" "$kluis" receive "$link" -o "$3" > /dev/null 2> "$3.err" || return 1
  cmp -s "$3/$(basename "$4")" "$4" || { echo "bytes differ: $3/$(basename "$4")" >> "$3.err"; return 2; }
  rm -rf "$3"
}
# Runs "$@" in the background, at most $seed_concurrency at once (the
# servers are background jobs too: only these are counted and waited for).
batch=()
running() { local n=0 p; for p in "${batch[@]}"; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done; echo "$n"; }
limited() {
  while [ "$(running)" -ge "$seed_concurrency" ]; do sleep 0.1; done
  "$@" &
  batch+=($!)
}
wait_batch() { local p; for p in "${batch[@]}"; do wait "$p" || true; done; batch=(); }
check_one() { receive_one "$@" || echo "$?" > "$3.failed"; }
node_of() { echo "${urls[$(($1 % ${#urls[@]}))]}"; }
other_node() { echo "${urls[$((($1 + 1) % ${#urls[@]}))]}"; }

results=(); details=()
run_setup() {
  local setup=$1 run=$dir/run/$1 i f s e failed=0 mismatched=0 lines=() p
  deadline=$(($(date +%s) + timeout))
  start_setup "$setup" || return 1
  mkdir -p "$run/links" "$run/out" "$run/check"
  echo "[$setup] ${#urls[@]} node(s) ready; seeding $downloads packages to download" >&2

  # Before: the packages that will be downloaded, uploaded to alternate nodes.
  # A failed upload here is an error of the run, counted apart ("seed
  # errors"), and tried again (up to 3 times in all) so the load still runs.
  local round missing seed_errors=0
  for round in 1 2 3; do
    missing=0
    for i in $(seq 0 $((downloads - 1))); do
      [ -s "$run/links/seed-$i" ] && continue
      [ -f "$run/links/seed-$i.err" ] && { seed_errors=$((seed_errors + 1)); cp "$run/links/seed-$i.err" "$run/links/seed-$i.err$round"; }
      missing=$((missing + 1))
      limited send_one "$dir/inputs/seed-$i.bin" "$(node_of "$i")" "${tokens[$((i % senders))]}" "$run/links/seed-$i"
    done
    wait_batch
    [ "$missing" = 0 ] && break
  done
  for i in $(seq 0 $((downloads - 1))); do
    [ -s "$run/links/seed-$i" ] || {
      echo "[$setup] seeding failed 3 times: $(cat "$run/links/seed-$i.err")" >&2
      grep -h '"level":"ERROR"' "$run"/node*.log | head -3 | cut -c1-400 >&2
      return 1
    }
  done
  [ "$seed_errors" = 0 ] || echo "[$setup] seeding: $seed_errors uploads failed and were tried again" >&2

  # The load: every transfer at once.
  for p in "${node_pids[@]}"; do
    lines+=("$(wc -l < "$run/node$((${#lines[@]} + 1)).log")")
    echo 5 > "/proc/$p/clear_refs" # VmHWM from here
  done
  local idle=() ; for p in "${node_pids[@]}"; do idle+=("$(rss "$p" VmRSS)"); done
  echo "[$setup] $transfers transfers at once ($uploads up, $downloads down)" >&2
  : > "$run/results"
  local load=()
  s=$(now)
  for i in $(seq 0 $((transfers - 1))); do
    if [ $((i % 2)) = 0 ]; then
      local u=$((i / 2))
      (
        a=$(now); rc=0
        send_one "$dir/inputs/up-$u.bin" "$(node_of "$u")" "${tokens[$((u % senders))]}" "$run/links/up-$u" || rc=$?
        echo "up $u $(size_of up "$u") $a $(now) $rc" >> "$run/results"
      ) &
      load+=($!)
    else
      local d=$((i / 2))
      (
        a=$(now); rc=0
        receive_one "$(cat "$run/links/seed-$d")" "$(other_node "$d")" "$run/out/down-$d" "$dir/inputs/seed-$d.bin" || rc=$?
        echo "down $d $(size_of seed "$d") $a $(now) $rc" >> "$run/results"
      ) &
      load+=($!)
    fi
  done
  for p in "${load[@]}"; do wait "$p" || true; done
  e=$(now)
  local ends=() k
  for k in $(seq "${#urls[@]}"); do ends+=("$(wc -l < "$run/node$k.log")"); done
  local hwm=() rss_now=()
  for p in "${node_pids[@]}"; do hwm+=("$(rss "$p" VmHWM)"); rss_now+=("$(rss "$p" VmRSS)"); done
  local s3_hwm=-; [ -n "$s3_pid" ] && s3_hwm=$(rss "$s3_pid" VmHWM)
  local done_n; done_n=$(wc -l < "$run/results")
  failed=$(awk '$6 != 0 && $6 != 2 { n++ } END { print n + 0 }' "$run/results")
  mismatched=$(awk '$6 == 2 { n++ } END { print n + 0 }' "$run/results")
  failed=$((failed + transfers - done_n))

  # After: every package uploaded under load, received from the other node and compared.
  echo "[$setup] checking the $uploads packages uploaded under load" >&2
  local unchecked=0 bad=0
  for i in $(seq 0 $((uploads - 1))); do
    [ -s "$run/links/up-$i" ] || { unchecked=$((unchecked + 1)); continue; }
    limited check_one "$(cat "$run/links/up-$i")" "$(other_node "$i")" "$run/check/up-$i" "$dir/inputs/up-$i.bin"
  done
  wait_batch
  bad=$(find "$run/check" -name '*.failed' | wc -l)
  local checked=$((uploads - unchecked - bad))

  # The servers' access lines of the load phase.
  local logs=(); k=0
  for i in $(seq "${#urls[@]}"); do
    sed -n "$((lines[k] + 1)),$((ends[k]))p" "$run/node$i.log" > "$run/load-node$i.log"; logs+=("$run/load-node$i.log"); k=$((k + 1))
  done
  local stats; stats=$(python3 - "${logs[@]}" <<'EOF'
import json, re, sys
ids = re.compile(r"^(?:[0-9]+|[A-Za-z0-9_-]{16,})$")
def kind(method, path):
    parts = ["{id}" if ids.match(p) else p for p in path.split("/")]
    return method + " " + "/".join(parts)
def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] if v else 0
api, kinds, bad, statuses, failing = [], {}, 0, {}, {}
for name in sys.argv[1:]:
    for line in open(name):
        try:
            f = json.loads(line).get("fields", {})
        except ValueError:
            continue
        if f.get("message") != "request":
            continue
        k, ms, st = kind(f["method"], f["path"]), f["ms"], f["status"]
        kinds.setdefault(k, []).append(ms)
        statuses[st] = statuses.get(st, 0) + 1
        if st >= 500 or st == 429:
            bad += 1
            failing[k] = failing.get(k, 0) + 1
        bulk = (f["method"] == "PATCH" and "/uploads/" in f["path"]) or (f["method"] == "GET" and "/blobs/" in f["path"])
        if not bulk:
            api.append(ms)
print(pct(api, 0.5), pct(api, 0.99), len(api), bad, " ".join(f"{s}:{n}" for s, n in sorted(statuses.items())))
for k, v in sorted(kinds.items(), key=lambda kv: -len(kv[1])):
    print(f"  {k:<44} {len(v):6d} {failing.get(k, 0):6d} {pct(v, 0.5):7d} {pct(v, 0.99):7d} {max(v):7d}")
EOF
)
  local head; head=$(head -1 <<< "$stats")
  local p50 p99 n_api http_bad codes
  read -r p50 p99 n_api http_bad codes <<< "$head"
  local bytes wall
  bytes=$(awk '$6 == 0 { s += $3 } END { print s + 0 }' "$run/results") # of the transfers that succeeded
  wall=$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.1f", e - s }')
  local logged; logged=$(cat "$run"/node*.log | grep -c '"level":"ERROR"' || true)
  local warned; warned=$(cat "$run"/node*.log | grep -c '"level":"WARN"' || true)
  # Errors of the load: transfers that failed or brought other bytes, and
  # uploads made under load that failed their check. (A failed upload has
  # no link to check: counted once.) 5xx/429 answers and the seeding's
  # failures are columns of their own; all of them fail the run.
  local errors=$((failed + mismatched + bad))
  local label="2 nodes PG+S3"; [ "$setup" = sqlite-fs ] && label="1 node SQLite+fs"
  local mem="" idle_s="" j
  for j in "${!hwm[@]}"; do mem+="${mem:+ / }${hwm[j]}"; idle_s+="${idle_s:+ / }${idle[j]}"; done
  results+=("$(printf '%-18s %9s %6s %5s %5s %7s %7s %7s %7s %7s %15s %13s' "$label" "$((done_n - failed - mismatched))/$transfers" "$errors" "$http_bad" "$seed_errors" \
    "$(awk -v b="$bytes" 'BEGIN { printf "%.0f", b / 1e6 }')" "$wall" \
    "$(awk -v b="$bytes" -v s="$s" -v e="$e" 'BEGIN { printf "%.1f", b / 1e6 / (e - s) }')" "$p50" "$p99" "$mem" "$idle_s")")
  details+=("[$label] $n_api API requests; statuses $codes; client: $failed failed, $mismatched mismatched; after: $checked of $uploads uploads received and identical ($unchecked without a link, $bad failed); HTTP 5xx/429: $http_bad; lines logged at ERROR (whole run): $logged, at WARN: $warned; s3s-fs peak RSS $s3_hwm MiB; node RSS at the end $(IFS=/; echo "${rss_now[*]}") MiB"
    "$(printf '  %-44s %6s %6s %7s %7s %7s' "request kind (load phase, all nodes)" count 5xx "p50 ms" "p99 ms" "max ms")"
    "$(tail -n +2 <<< "$stats")")
  # Transfer times per kind and size, from the client.
  details+=("$(awk -v large=$((${large_mib%-*} << 20)) '{ k = $1 (($3 >= large) ? " large" : " small"); n[k]++; t[k] += $5 - $4; if ($5 - $4 > m[k]) m[k] = $5 - $4 }
    END { for (k in n) printf "  client %-12s %4d transfers, mean %6.1f s, max %6.1f s\n", k, n[k], t[k] / n[k], m[k] }' "$run/results" | sort)")
  grep -h -l . "$run"/links/*.err "$run"/out/*.err "$run"/check/*.err 2>/dev/null | head -3 | while read -r f; do
    echo "[$setup] $f: $(head -c 300 "$f")" >&2
  done
  stop_servers
  [ "$errors" = 0 ] && rm -rf "$run/s3" "$run"/node*/ "$run/out" "$run/check"
  echo "[$setup] done: $errors errors" >&2
  total_errors=$((total_errors + errors + http_bad + seed_errors))
}

total_errors=0
for setup in $setups; do
  run_setup "$setup" || { total_errors=$((total_errors + 1)); stop_jobs; stop_servers; echo "[$setup] aborted" >&2; }
done

echo
echo "load over loopback: $transfers concurrent transfers ($uploads kluis send, $downloads kluis receive), $(nproc) cores,"
echo "files $small_kib KiB (log-uniform), one in $large_every $large_mib MiB; $(awk -v b="$total_bytes" 'BEGIN { printf "%.0f", b / 1e6 }') MB in all"
echo "(MB: of the transfers that succeeded; errors: transfers failed or with other bytes, and uploads failing their check after; 5xx: answers 5xx or 429 during the load;"
echo " seed: uploads failed before the load (tried again); API: the servers' times of every request but tus PATCH and blob GET;"
echo " RSS: VmHWM of each node during the load, and idle before)"
printf '%-18s %9s %6s %5s %5s %7s %7s %7s %7s %7s %15s %13s\n' setup "ok/all" errors 5xx seed "MB" "wall s" "MB/s" "p50 ms" "p99 ms" "peak RSS MiB" "idle RSS MiB"
printf '%s\n' "${results[@]}"
echo
printf '%s\n' "${details[@]}"
[ "$total_errors" = 0 ] || { echo "FAILED: $total_errors (errors + 5xx + seed, all setups) (logs under $dir/run)" >&2; exit 1; }
