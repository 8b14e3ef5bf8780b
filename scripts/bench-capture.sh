#!/usr/bin/env bash
# bench-capture.sh: how fast lifeline captures a simulated tenant, measured on the
# capturing process alone (the tenant is served by another process).
#
#   scripts/bench-capture.sh [N ...]        default N: 10000 100000 1000000
#
# For each tenant size N it builds lifeline (and the snapshots test binary), starts
# 'lifeline sim serve --users N --throttle off' as a separate process, and captures it
# twice into a new file, each under /usr/bin/time -v:
#
#   cli      'lifeline capture --graph-url URL --out FILE', exactly as an operator runs
#            it. The client paces itself to Microsoft Graph's published budget for a
#            large tenant (8,000 resource units per 10 s, 1 Conditional Access request
#            per second), so this is the rate a real tenant would allow, not lifeline's.
#   unpaced  the same capture (snapshots.Capture) from the snapshots test binary
#            (BenchmarkCaptureExternal), whose client is given an unlimited budget: the
#            rate of lifeline itself against an unthrottled tenant.
#
# It prints one line per run: objects/s (directory objects; links are extra work),
# wall seconds, peak RSS of the capturing process, CPU seconds of the capturing process
# and of the sim during the capture, and the file size. The sim's CPU matters: on a
# small machine both processes share the cores. A million users need about 10 GiB for
# the sim and several minutes.
set -euo pipefail

cd "$(dirname "$0")/.."
sizes=("$@")
if [ ${#sizes[@]} -eq 0 ]; then
	sizes=(10000 100000 1000000)
fi
if [ ! -x /usr/bin/time ]; then
	echo "bench-capture.sh needs GNU time at /usr/bin/time" >&2
	exit 1
fi

work=$(mktemp -d)
sim_pid=""
cleanup() {
	if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

echo "building lifeline and the snapshots test binary..." >&2
go build -o "$work/lifeline" ./cmd/lifeline
go test -c -o "$work/snapshots.test" ./snapshots

# cpu_ticks PID: user+system clock ticks a process has used.
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# field NAME FILE: a value from /usr/bin/time -v's report.
field() { grep -F "$1" "$2" | head -1 | awk -F': ' '{print $2}'; }

# seconds H:MM:SS.ss or M:SS.ss -> seconds
seconds() { awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }' <<<"$1"; }

printf '%-9s %-8s %12s %9s %10s %9s %9s %9s\n' users run "objects/s" "wall-s" "rss-MiB" "cpu-s" "sim-cpu-s" "file-MB"
for n in "${sizes[@]}"; do
	"$work/lifeline" sim serve --users "$n" --throttle off --addr 127.0.0.1:0 >"$work/sim.out" 2>"$work/sim.err" &
	sim_pid=$!
	for _ in $(seq 1 600); do
		if grep -q graph_url "$work/sim.out" 2>/dev/null; then break; fi
		if ! kill -0 "$sim_pid" 2>/dev/null; then echo "the sim did not start:" >&2; cat "$work/sim.err" >&2; exit 1; fi
		sleep 0.5
	done
	url=$(sed -n 's/.*"graph_url":"\([^"]*\)".*/\1/p' "$work/sim.out" | head -1)
	if [ -z "$url" ]; then echo "the sim printed no graph_url" >&2; exit 1; fi

	for run in cli unpaced; do
		db="$work/capture-$n-$run.db"
		rm -f "$db" "$db-wal" "$db-shm"
		before=$(cpu_ticks "$sim_pid")
		if [ "$run" = cli ]; then
			/usr/bin/time -v -o "$work/time.txt" "$work/lifeline" capture --graph-url "$url" --out "$db" >"$work/out.txt" 2>"$work/err.txt" ||
				{ cat "$work/err.txt" >&2; exit 1; }
			# "  N objects in D (R objects/s, K requests)"
			rate=$(sed -n 's/.* objects in .* (\([0-9.]*\) objects\/s.*/\1/p' "$work/out.txt")
		else
			LIFELINE_BENCH_DB="$db" LIFELINE_BENCH_GRAPH_URL="$url" /usr/bin/time -v -o "$work/time.txt" \
				"$work/snapshots.test" -test.run '^$' -test.bench '^BenchmarkCaptureExternal$' -test.benchtime 1x >"$work/out.txt" 2>"$work/err.txt" ||
				{ cat "$work/out.txt" "$work/err.txt" >&2; exit 1; }
			rate=$(awk '/BenchmarkCaptureExternal/ { for (i = 1; i < NF; i++) if ($(i+1) == "objects/s") print $i }' "$work/out.txt")
		fi
		after=$(cpu_ticks "$sim_pid")
		wall=$(seconds "$(field 'Elapsed (wall clock)' "$work/time.txt")")
		rss=$(field 'Maximum resident set size' "$work/time.txt")
		cpu=$(awk -v u="$(field 'User time' "$work/time.txt")" -v s="$(field 'System time' "$work/time.txt")" 'BEGIN { printf "%.1f", u + s }')
		size=$(stat -c %s "$db")
		printf '%-9s %-8s %12.0f %9s %10.0f %9s %9.1f %9.1f\n' "$n" "$run" "$rate" "$wall" "$((rss / 1024))" "$cpu" \
			"$(awk -v t=$((after - before)) -v hz="$hz" 'BEGIN { print t / hz }')" "$(awk -v b="$size" 'BEGIN { print b / 1e6 }')"
	done
	kill "$sim_pid"
	wait "$sim_pid" 2>/dev/null || true
	sim_pid=""
done
