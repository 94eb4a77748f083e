#!/usr/bin/env bash
# Proof that the Kafka tests are isolated from what the broker already holds
# (issue 16): a developer's `make run` or benchmark can leave millions of
# records in the shipped topics, and a test that read one of them from the
# beginning once grew to 23 GB and was OOM-killed.
#
#   integration/isolation_check.sh [--records N] [--limit-mb M] [--keep] [-- TEST FLAGS]
#
# 1. starts make test's own broker (make test-kafka-start: port
#    TEST_KAFKA_PORT, default 19092, data dir wiped), unless KAFKA_BOOTSTRAP
#    names a broker to use instead;
# 2. writes N records (default 2,000,000, 512-byte values, 1,000 keys) to
#    iot.telemetry and N/10 to iot.commands with the project's load tool
#    (mqttbench kafka-produce);
# 3. builds the test binaries of the packages that use the shared broker
#    (./integration/, ./kafka/, ./integration/testenv/) with -race and runs
#    each against that broker, sampling /proc every 200 ms: the binary's
#    peak RSS (VmHWM) and the largest of its child processes; a binary whose
#    RSS passes --limit-mb (default 2048) is killed and counted as a failure;
# 4. prints one line per binary and exits 0 only if every binary passed
#    under the limit.
#
# TEST FLAGS go to every binary, e.g. -- -test.run 'TestREADMEDemo'.
# The broker is stopped at the end unless --keep (or KAFKA_BOOTSTRAP) is given.
set -euo pipefail
cd "$(dirname "$0")/.."

records=2000000
limit_mb=2048
keep=false
while [[ $# -gt 0 ]]; do
	case "$1" in
	--records) records="$2"; shift 2 ;;
	--limit-mb) limit_mb="$2"; shift 2 ;;
	--keep) keep=true; shift ;;
	--) shift; break ;;
	*) echo "isolation_check: unknown argument $1" >&2; exit 2 ;;
	esac
done
test_flags=("$@")

out="$(mktemp -d /tmp/isolation-check.XXXXXX)"
echo "isolation_check: work dir $out"

if [[ -z "${KAFKA_BOOTSTRAP:-}" ]]; then
	KAFKA_BOOTSTRAP="$(make --no-print-directory -s test-kafka-start)"
	if [[ "$keep" != true ]]; then
		trap 'make --no-print-directory -s test-kafka-stop >/dev/null 2>&1 || true' EXIT
	fi
fi
export KAFKA_BOOTSTRAP
echo "isolation_check: broker $KAFKA_BOOTSTRAP"

go build -o "$out/mqttbench" ./cmd/mqttbench
load() { # topic records
	echo "isolation_check: writing $2 records to $1"
	"$out/mqttbench" kafka-produce --quiet --kafka-bootstrap "$KAFKA_BOOTSTRAP" \
		--kafka-topic "$1" --kafka-partitions 3 --records "$2" --size 512 --keys 1000 |
		tail -n 3
}
load iot.telemetry "$records"
load iot.commands "$((records / 10))"

pkgs=(./integration/ ./kafka/ ./integration/testenv/)
for p in "${pkgs[@]}"; do
	go test -c -race -o "$out/$(basename "$p").test" "$p"
done

# peak_kib PID: VmHWM of PID in KiB (0 if gone).
peak_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# descendants PID: every process below PID.
descendants() {
	local kids k
	kids="$(pgrep -P "$1" || true)"
	for k in $kids; do
		echo "$k"
		descendants "$k"
	done
}

failed=0
summary=()
for p in "${pkgs[@]}"; do
	name="$(basename "$p").test"
	log="$out/$name.log"
	start=$SECONDS
	(cd "$p" && exec "$out/$name" -test.count=1 -test.timeout=40m "${test_flags[@]}") >"$log" 2>&1 &
	pid=$!
	peak=0 child_peak=0 killed=false
	while kill -0 "$pid" 2>/dev/null; do
		v="$(peak_kib "$pid")"; [[ -n "$v" && "$v" -gt "$peak" ]] && peak=$v
		for c in $(descendants "$pid"); do
			v="$(peak_kib "$c")"; [[ -n "$v" && "$v" -gt "$child_peak" ]] && child_peak=$v
		done
		if [[ "$(rss_kib "$pid")" -gt $((limit_mb * 1024)) ]]; then
			echo "isolation_check: $name passed ${limit_mb} MiB RSS; killing it" >&2
			killed=true
			kill -KILL "$pid" 2>/dev/null || true
		fi
		sleep 0.2
	done
	rc=0
	wait "$pid" || rc=$?
	tail -n 5 "$log" | sed "s/^/  $name: /"
	line="$name: peak RSS $((peak / 1024)) MiB (limit $limit_mb MiB), largest child $((child_peak / 1024)) MiB, exit $rc, $((SECONDS - start)) s"
	if [[ $rc -ne 0 || "$killed" == true || $peak -gt $((limit_mb * 1024)) ]]; then
		failed=1
		line="FAIL $line"
		grep -E '^(--- FAIL|FAIL|panic:)' "$log" | head -n 20 | sed "s/^/  $name: /" || true
	else
		line="ok   $line"
	fi
	summary+=("$line")
done

echo "isolation_check: $records records in iot.telemetry, $((records / 10)) in iot.commands on $KAFKA_BOOTSTRAP"
printf '%s\n' "${summary[@]}"
echo "isolation_check: logs in $out"
exit $failed
