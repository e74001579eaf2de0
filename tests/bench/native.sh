#!/usr/bin/env bash
# Benchmark: `kluis age` against Go `age` (Debian) encrypting and decrypting
# the same file on the same machine, in one run. Prints MB/s and the ratio.
# Usage: native.sh [SIZE_MIB]   (default 1024; run by `cargo xtask bench`)
set -euo pipefail
size_mib=${1:-1024}
runs=${BENCH_RUNS:-5}
root=$(cd "$(dirname "$0")/../.." && pwd)
kluis=$root/target/release/kluis
dir=${BENCH_DIR:-$root/target/bench}
mkdir -p "$dir"
command -v age >/dev/null || { echo "age is not installed (apt-get install age)" >&2; exit 1; }

input=$dir/input-$size_mib.bin
if [ ! -f "$input" ] || [ "$(stat -c %s "$input")" != $((size_mib * 1048576)) ]; then
  head -c $((size_mib * 1048576)) /dev/urandom > "$input"
fi
rm -f "$dir/key.txt"; age-keygen -o "$dir/key.txt" 2>/dev/null
recipient=$(age-keygen -y "$dir/key.txt")
cat "$input" > /dev/null   # warm the page cache

# Prints the best and the median wall time of $runs runs of a command, in seconds.
time_runs() {
  local out=$1; shift
  local times=()
  for _ in $(seq "$runs"); do
    rm -f "$out"
    local start end
    start=$(date +%s.%N)
    "$@"
    end=$(date +%s.%N)
    times+=("$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{ t[NR] = $1 } END { printf "%.3f %.3f\n", t[1], t[int((NR + 1) / 2)] }'
}

echo
echo "native: $size_mib MiB, $runs runs each, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
read -r k_enc_best k_enc_med < <(time_runs "$dir/k.age" "$kluis" age encrypt -r "$recipient" -o "$dir/k.age" "$input")
read -r a_enc_best a_enc_med < <(time_runs "$dir/a.age" age -r "$recipient" -o "$dir/a.age" "$input")
read -r k_dec_best k_dec_med < <(time_runs "$dir/k.out" "$kluis" age decrypt -i "$dir/key.txt" -o "$dir/k.out" "$dir/a.age")
read -r a_dec_best a_dec_med < <(time_runs "$dir/a.out" age -d -i "$dir/key.txt" -o "$dir/a.out" "$dir/a.age")
cmp -s "$dir/k.out" "$input" && cmp -s "$dir/a.out" "$input" || { echo "decrypted output differs from the input" >&2; exit 1; }

mbs() { awk -v m="$size_mib" -v t="$1" 'BEGIN { printf "%.0f", m * 1.048576 / t }'; }
ratio() { awk -v k="$1" -v a="$2" 'BEGIN { printf "%.2f", a / k }'; }
printf '%-10s %22s %22s %14s\n' "" "kluis age MB/s" "Go age MB/s" "ratio"
printf '%-10s %22s %22s %14s\n' "" "(median / best)" "(median / best)" "(median/best)"
printf '%-10s %12s / %-7s %12s / %-7s %6s / %-6s\n' encrypt "$(mbs "$k_enc_med")" "$(mbs "$k_enc_best")" "$(mbs "$a_enc_med")" "$(mbs "$a_enc_best")" "$(ratio "$k_enc_med" "$a_enc_med")" "$(ratio "$k_enc_best" "$a_enc_best")"
printf '%-10s %12s / %-7s %12s / %-7s %6s / %-6s\n' decrypt "$(mbs "$k_dec_med")" "$(mbs "$k_dec_best")" "$(mbs "$a_dec_med")" "$(mbs "$a_dec_best")" "$(ratio "$k_dec_med" "$a_dec_med")" "$(ratio "$k_dec_best" "$a_dec_best")"
rm -f "$dir"/k.age "$dir"/a.age "$dir"/k.out "$dir"/a.out
