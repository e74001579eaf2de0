#!/usr/bin/env bash
# Benchmark: `kluis send` / `kluis receive` of one file over loopback against
# the same bytes uploaded raw with curl (tus PATCH) to the same server, and
# the server's peak memory during 20 concurrent 500 MiB uploads.
# `kluis receive` is also set against a raw download of the same blob with
# curl (the sender's own GET of the file's ciphertext, written to the same disk),
# and with that file flushed to disk (fsync) as kluis receive does.
# Usage: transfer.sh [SIZE_MIB] [CONCURRENT] [EACH_MIB]   (defaults 2048 20 500)
set -euo pipefail
size_mib=${1:-2048}
concurrent=${2:-20}
each_mib=${3:-500}
root=$(cd "$(dirname "$0")/../.." && pwd)
kluis=$root/target/release/kluis
server_bin=$root/target/release/kluis-server
dir=${BENCH_DIR:-$root/target/bench}/transfer
rm -rf "$dir/data" "$dir/out"
mkdir -p "$dir/out"
command -v curl >/dev/null || { echo "curl is needed (apt-get install curl)" >&2; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
# One sender makes all the concurrent uploads: room for that many unfinished packages.
printf '[limits]\nmax_unfinished_packages_per_user = %d\n' $((concurrent + 10)) > "$dir/kluis.toml"
RUST_LOG=warn "$server_bin" --config "$dir/kluis.toml" --data "$dir/data" --listen "127.0.0.1:$port" --public-url "$url" 2>"$dir/server.log" &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; wait $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sSf "$url/healthz" >/dev/null && break; sleep 0.1; done
token=$("$server_bin" --data "$dir/data" token create bench@example.org 2>/dev/null)

input=$dir/input-$size_mib.bin
[ -f "$input" ] && [ "$(stat -c %s "$input")" = $((size_mib * 1048576)) ] || head -c $((size_mib * 1048576)) /dev/urandom > "$input"
cat "$input" > /dev/null

now() { date +%s.%N; }
rate() { awk -v b="$1" -v s="$2" -v e="$3" 'BEGIN { printf "%.0f", b / 1e6 / (e - s) }'; }
bytes=$((size_mib * 1048576))

# Raw upload: a package with one blob of exactly this size, one tus PATCH from curl.
# Leaves the package's id in $dir/raw-id.
raw_upload() {
  local pkg id upload
  pkg=$(curl -sSf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "{\"recipients\":[],\"verify\":\"none\",\"blobs\":[{\"size\":$2}]}" "$url/api/v1/packages")
  id=$(echo "$pkg" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  upload=$(curl -sSf -D - -o /dev/null -X POST -H "Authorization: Bearer $token" -H 'Tus-Resumable: 1.0.0' \
    -H "Upload-Length: $2" -H "Upload-Metadata: package $(printf %s "$id" | base64 -w0),blob $(printf 0 | base64 -w0)" \
    "$url/api/v1/uploads" | tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
  curl -sSf -X PATCH -H "Authorization: Bearer $token" -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
    -H 'Content-Type: application/offset+octet-stream' -T "$1" "$upload" -o /dev/null
  echo "$id" > "$dir/raw-id"
}

# The raw upload's package is never finalized: delete it, or the sender's unfinished
# packages (max_unfinished_packages_per_user) fill up.
drop_raw() {
  curl -sSf -X DELETE -H "Authorization: Bearer $token" "$url/api/v1/packages/$(cat "$dir/raw-id")" -o /dev/null
}

runs=${BENCH_RUNS:-3}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo
echo "transfer over loopback: $size_mib MiB, $(nproc) cores, median of $runs runs (interleaved)"
raws=(); sends=(); receives=(); downloads=(); synced=()
for _ in $(seq "$runs"); do
  s=$(now); raw_upload "$input" "$bytes"; e=$(now); raws+=("$(rate "$bytes" "$s" "$e")"); drop_raw
  s=$(now); link=$(KLUIS_SERVER=$url KLUIS_TOKEN=$token "$kluis" send "$input" --to bench@example.org --verify none); e=$(now); sends+=("$(rate "$bytes" "$s" "$e")")
  s=$(now); "$kluis" receive "$link" -o "$dir/out" >/dev/null; e=$(now); receives+=("$(rate "$bytes" "$s" "$e")")
  cmp -s "$dir/out/$(basename "$input")" "$input" || { echo "received file differs" >&2; exit 1; }
  rm -rf "$dir/out"; mkdir -p "$dir/out"
  package=${link##*/p/}; package=${package%%#*}
  s=$(now); curl -sSf -H "Authorization: Bearer $token" "$url/api/v1/packages/$package/blobs/1" -o "$dir/out/raw.bin"; e=$(now)
  downloads+=("$(rate "$bytes" "$s" "$e")")
  # The same, flushed to disk as kluis receive does before a file gets its name.
  rm -f "$dir/out/raw.bin"
  s=$(now); curl -sSf -H "Authorization: Bearer $token" "$url/api/v1/packages/$package/blobs/1" -o "$dir/out/raw.bin"; sync "$dir/out/raw.bin"; e=$(now)
  synced+=("$(rate "$bytes" "$s" "$e")")
  rm -rf "$dir/out"
done
raw=$(printf '%s\n' "${raws[@]}" | median); send=$(printf '%s\n' "${sends[@]}" | median); receive=$(printf '%s\n' "${receives[@]}" | median)
download=$(printf '%s\n' "${downloads[@]}" | median)
flushed=$(printf '%s\n' "${synced[@]}" | median)
printf '%-28s %8s MB/s   (runs: %s)\n' "raw upload (curl, tus PATCH)" "$raw" "${raws[*]}"
printf '%-28s %8s MB/s   %.2f x raw upload (runs: %s)\n' "kluis send" "$send" "$(awk -v a="$send" -v b="$raw" 'BEGIN { print a / b }')" "${sends[*]}"
printf '%-28s %8s MB/s   (runs: %s)\n' "raw download (curl, to disk)" "$download" "${downloads[*]}"
printf '%-28s %8s MB/s   (runs: %s)\n' "raw download + fsync" "$flushed" "${synced[*]}"
printf '%-28s %8s MB/s   %.2f x raw download, %.2f x with fsync (runs: %s)\n' "kluis receive" "$receive" \
  "$(awk -v a="$receive" -v b="$download" 'BEGIN { print a / b }')" "$(awk -v a="$receive" -v b="$flushed" 'BEGIN { print a / b }')" "${receives[*]}"

# Peak server memory (VmHWM) during concurrent uploads.
each=$dir/each-$each_mib.bin
[ -f "$each" ] && [ "$(stat -c %s "$each")" = $((each_mib * 1048576)) ] || head -c $((each_mib * 1048576)) /dev/urandom > "$each"
rss_before=$(awk '/VmRSS/ { print $2 }' /proc/$server_pid/status)
s=$(now)
pids=()
for i in $(seq "$concurrent"); do
  (dir=$dir/concurrent-$i; mkdir -p "$dir"; raw_upload "$each" $((each_mib * 1048576))) & pids+=($!)
done
peak=0
while kill -0 "${pids[@]}" 2>/dev/null; do
  rss=$(awk '/VmRSS/ { print $2 }' /proc/$server_pid/status); [ "$rss" -gt "$peak" ] && peak=$rss
  sleep 0.05
  if [ "$(awk -v s="$s" -v n="$(now)" 'BEGIN { print (n - s > 600) }')" = 1 ]; then echo "timed out" >&2; kill "${pids[@]}"; exit 1; fi
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
[ "$failed" = 0 ] || { echo "$failed of $concurrent uploads failed; server log: $dir/server.log" >&2; exit 1; }
e=$(now)
hwm=$(awk '/VmHWM/ { print $2 }' /proc/$server_pid/status)
printf '%-28s %8s MiB peak RSS (sampled %s MiB; %s MiB idle); %d x %d MiB in %.1f s\n' \
  "server, $concurrent uploads" "$((hwm / 1024))" "$((peak / 1024))" "$((rss_before / 1024))" "$concurrent" "$each_mib" \
  "$(awk -v s="$s" -v e="$e" 'BEGIN { print e - s }')"
rm -rf "$dir/data"
