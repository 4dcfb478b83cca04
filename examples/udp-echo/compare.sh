#!/usr/bin/env bash
# compare.sh: packets per second of a 64-byte UDP echo, measured in one run
# for the three server modes of udp-echo (asio single, asio batch,
# net.UDPConn) under the same load: each server pinned to CPU SERVER_CPU,
# the load generator to CPU LOAD_CPU, the modes taking turns RUNS times; the
# median of each is reported. Run from anywhere:
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

echo "64-byte UDP echo on $ADDR: server on CPU $SERVER_CPU, load on CPU $LOAD_CPU, $RUNS runs of $DURATION each"
for run in $(seq "$RUNS"); do
	for mode in $MODES; do
		taskset -c "$SERVER_CPU" "$dir/udp-echo" -mode "$mode" -addr "$ADDR" 2>/dev/null &
		pid=$!
		line=$(taskset -c "$LOAD_CPU" "$dir/udp-echo" -client -addr "$ADDR" -label "$mode" -duration "$DURATION")
		kill "$pid"
		wait "$pid" || true
		echo "run $run: $line"
		echo "$mode $(echo "$line" | awk '{print $2}')" >>"$dir/results"
	done
done

echo
echo "median packets/s:"
for mode in $MODES; do
	med=$(awk -v m="$mode" '$1 == m {print $2}' "$dir/results" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
	printf '  %-8s %10s\n' "$mode" "$med"
	echo "$mode $med" >>"$dir/medians"
done
awk '{m[$1]=$2} END {
	printf "  batch/single %.2fx   batch/net %.2fx   single/net %.2fx\n", m["batch"]/m["single"], m["batch"]/m["net"], m["single"]/m["net"]
}' "$dir/medians"
