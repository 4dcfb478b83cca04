#!/usr/bin/env bash
# compare.sh: packets per second of a 64-byte UDP echo, measured in one run
# for the three server modes of udp-echo (asio single, asio batch,
# net.UDPConn) under the same load: each server pinned to CPU SERVER_CPU,
# the load generator to CPU LOAD_CPU, the modes taking turns RUNS times.
# It reports the median and the best run of each, and the server's CPU time
# per echo (user + system, from /proc, over the whole client run), which
# other processes on the machine disturb less than the rate. Run from
# anywhere:
#
#	examples/udp-echo/compare.sh
#	RUNS=5 DURATION=5s examples/udp-echo/compare.sh
set -eu
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
RUNS=${RUNS:-3}
DURATION=${DURATION:-3s}
ADDR=${ADDR:-127.0.0.1:7001}
MODES="single batch net"

cd "$(dirname "$0")/../.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go build -o "$dir/udp-echo" ./examples/udp-echo
hz=$(getconf CLK_TCK)

# cpu prints the user + system clock ticks process $1 has used.
cpu() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

echo "64-byte UDP echo on $ADDR: server on CPU $SERVER_CPU, load on CPU $LOAD_CPU, $RUNS runs of $DURATION each"
for run in $(seq "$RUNS"); do
	for mode in $MODES; do
		taskset -c "$SERVER_CPU" "$dir/udp-echo" -mode "$mode" -addr "$ADDR" 2>/dev/null &
		pid=$!
		line=$(taskset -c "$LOAD_CPU" "$dir/udp-echo" -client -addr "$ADDR" -label "$mode" -duration "$DURATION")
		ticks=$(cpu "$pid")
		kill "$pid"
		wait "$pid" || true
		all=$(echo "$line" | sed 's/.*; \([0-9]*\) echoes in all.*/\1/')
		us=$(awk -v t="$ticks" -v hz="$hz" -v n="$all" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
		echo "run $run: $line; server $us us CPU/echo"
		echo "$mode $(echo "$line" | awk '{print $2}') $us" >>"$dir/results"
	done
done

echo
printf '  %-8s %12s %12s %16s\n' mode "median pps" "best pps" "server us/echo"
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for mode in $MODES; do
	rates=$(awk -v m="$mode" '$1 == m { print $2 }' "$dir/results")
	med=$(echo "$rates" | median)
	best=$(echo "$rates" | sort -n | tail -1)
	us=$(awk -v m="$mode" '$1 == m { print $3 }' "$dir/results" | median)
	printf '  %-8s %12s %12s %16s\n' "$mode" "$med" "$best" "$us" | tee -a "$dir/table"
done
awk '{ med[$1] = $2; best[$1] = $3 } END {
	printf "  median: batch/single %.2fx  batch/net %.2fx  single/net %.2fx\n", med["batch"]/med["single"], med["batch"]/med["net"], med["single"]/med["net"]
	printf "  best:   batch/single %.2fx  batch/net %.2fx  single/net %.2fx\n", best["batch"]/best["single"], best["batch"]/best["net"], best["single"]/best["net"]
}' "$dir/table"
