#!/usr/bin/env bash
# The benchmark scenarios S1-S6 of issue 6 against a real Kafka
# (integration/kafka.sh), the built bridge binary, a bare sarama producer
# (mqttbench kafka-produce: the Kafka limit) and Mosquitto (broker-only
# reference); and the comparisons C1-C3 of issue 14 against the
# do-it-yourself route (Mosquitto + mqttbench forward: a paho subscriber that
# produces with sarama and acks Mosquitto after Kafka); and the cluster
# scenarios K1-K3 of issue 12 (replicas of the built bridge with
# cluster.enabled, sessiongen for K3's sessions; no Mosquitto needed).
# Results: one JSON per run and a summary.md under $OUT.
#
#   integration/bench/run.sh [S1 S2 S3 S4 S5 S6 C1 C2 C3 K1 K2 K3]   (default: S1-S6)
#
# Environment: OUT (default integration/bench/out/<timestamp>), RUNS (1),
# S1_CONNS (1000), S1_SECS (20), S2_RATES ("50 100 250 500 1000 1500 2000 3000 4000 5000",
# per connection), S3_SECS (10), S4_CONNS (10000), S5_OUTAGE (30),
# S6_SECS (20), MOSQUITTO (mosquitto), SOURCE_IPS (127.0.0.1-127.0.0.8),
# BENCH_BRIDGE_BASE (shipped: the repository's config.yaml with the bench mapping,
# spool on; defaults: the built-in defaults, spool off), C1_RATES (per
# connection, "250 500 750 1000 1250 1500 2000 2500 3000 4000"), C3_SECS (10),
# C3_SYSTEMS ("bridge bridge-nospool diy", in this order),
# C1_SYSTEMS and C2_SYSTEMS ("bridge diy"), C2_STAGGER (1: C2's devices not in
# step, mqttbench pub --stagger; default: all 1,000 start at once), FWD_LINGER (5ms),
# BENCH_BRIDGE_BIN (a prebuilt bridge binary to measure instead),
# BENCH_BRIDGE_SETS (KEY=VALUE settings for every bridge start, space separated,
# e.g. "kafka.producer.producers=1"). Cluster: K1_RATES ("1000 10000" msg/s
# in total), K1_CONNS (100), K1_SUBS (50), K1_SECS (20), K1_DRAIN_MAX (60),
# K1_SUB_REPLICA (2), K1_SUB_FLAGS; K2_MODES ("off on on3"), K2_RATES
# (S2_RATES), K2_STOP_MS (200); K3_SESSIONS (100000), K3_DELTA
# (K3_SESSIONS/10), K3_SETS. Each is described above its scenario.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
OUT="${OUT:-$here/out/$(date -u +%Y%m%dT%H%M%SZ)}"
RUNS="${RUNS:-1}"
SOURCE_IPS="${SOURCE_IPS:-127.0.0.1-127.0.0.8}"
MOSQUITTO="${MOSQUITTO:-mosquitto}"
scenarios=("$@")
[[ ${#scenarios[@]} -gt 0 ]] || scenarios=(S1 S2 S3 S4 S5 S6)

MQTT_PORT=21883 ADMIN_PORT=28080 MOSQ_PORT=21884 OWN_KAFKA_PORT=29092
mkdir -p "$OUT/bin" "$OUT/work"
bin="$OUT/bin" work="$OUT/work"
summary="$OUT/summary.md"
note() { echo "bench: $*" >&2; }
row() { echo "$*" | tee -a "$summary"; }

# K1-K3 alone do not need Mosquitto.
if [[ " ${scenarios[*]} " =~ \ [SC][0-9]\  ]]; then
	command -v "$MOSQUITTO" >/dev/null || { note "no $MOSQUITTO broker: apt-get install -y mosquitto (S1-S4, S6 and C1-C3 need it)"; exit 1; }
fi
(cd "$repo" && go build -o "$bin/mqttbench" ./cmd/mqttbench && go build -o "$bin/sessiongen" ./integration/bench/sessiongen && CGO_ENABLED=0 go build -trimpath -o "$bin/bridge" ./cmd/mqtt-kafka-bridge)
# BENCH_BRIDGE_BIN: measure another build of the bridge (e.g. a "before" commit).
[[ -z "${BENCH_BRIDGE_BIN:-}" ]] || cp "$BENCH_BRIDGE_BIN" "$bin/bridge"
BOOTSTRAP="$("$repo/integration/kafka.sh" start)"
CLK_TCK="$(getconf CLK_TCK)"
runid="$(date +%s)"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

{
	echo "# bench run $(date -u +%FT%TZ)"
	echo "nproc $(nproc); $(lscpu | grep 'Model name' | sed 's/  */ /g'); mem $(free -h | awk '/Mem:/{print $2}'); $(go version); mosquitto $($MOSQUITTO -h 2>&1 | head -1 | awk '{print $3}'); load $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$summary"

bench() { "$bin/mqttbench" "$@"; }
j() { jq -r "$2" "$1"; } # j file expr
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
hwm_kb() { awk '/VmHWM/{print $2}' "/proc/$1/status"; }
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }

# bridge_start TOPIC BOOTSTRAP [KEY=VALUE...]: the built binary with a bench
# mapping (bench/{device} -> TOPIC, key {device}); ports, data and Kafka by
# --set. BENCH_BRIDGE_BASE=shipped (the default) starts from the repository's
# config.yaml (spool on, fsync always, acks=all, lz4, linger 5 ms);
# BENCH_BRIDGE_BASE=defaults from the built-in defaults (spool off).
BRIDGE_PID=""
BENCH_BRIDGE_BASE="${BENCH_BRIDGE_BASE:-shipped}"
# bridge_launch DIR TOPIC BOOTSTRAP MQTT_PORT ADMIN_PORT [KEY=VALUE...]:
# writes DIR/config.yaml and starts the binary in the background with its
# output in DIR/bridge.log; its pid is LAUNCH_PID (not a subshell's: the
# callers signal it and read its CPU).
LAUNCH_PID=""
bridge_launch() {
	local dir="$1" topic="$2" bs="$3" mport="$4" aport="$5"
	shift 5
	local sets=()
	# shellcheck disable=SC2086 # BENCH_BRIDGE_SETS is a space-separated list
	for kv in ${BENCH_BRIDGE_SETS:-} "$@"; do sets+=(--set "$kv"); done
	mkdir -p "$dir"
	python3 - "$repo/config.yaml" "$topic" "$BENCH_BRIDGE_BASE" >"$dir/config.yaml" <<'PY2'
import sys, yaml
shipped, topic, base = sys.argv[1:4]
c = yaml.safe_load(open(shipped)) if base == "shipped" else {}
c.pop("cluster", None)
c["log"] = {"level": "warn", "format": "console"}
m = c.setdefault("mqtt", {})
m.setdefault("listeners", {})["tcp"] = {"enabled": True}
m["listeners"]["ws"] = {"enabled": False}
m.setdefault("auth", {})["allow_anonymous"] = True
c["mapping"] = {"uplink": [{"name": "bench", "mqtt_topic": "bench/{device}", "kafka_topic": topic, "key": "{device}"}],
                "downlink": [], "unmatched": {"action": "drop"}, "dead_letter_topic": ""}
yaml.safe_dump(c, sys.stdout, sort_keys=False)
PY2
	GODEBUG=gctrace=1 "$bin/bridge" --config "$dir/config.yaml" \
		--set "mqtt.listeners.tcp.address=127.0.0.1:$mport" \
		--set "admin.address=127.0.0.1:$aport" \
		--set "mqtt.data_dir=$dir/mqtt" --set "kafka.spool.dir=$dir/spool" \
		--set "kafka.bootstrap_servers=$bs" --set "kafka.client_id=bench-$runid" \
		--set "kafka.consumer.group_id=bench-$runid" "${sets[@]}" \
		>>"$dir/bridge.log" 2>&1 &
	LAUNCH_PID=$!
}
# wait_ready PID ADMIN_PORT LOG [TENTHS]: until /readyz is 200 (TENTHS x 0.1 s, default 600).
wait_ready() {
	local pid="$1" aport="$2" log="$3"
	for _ in $(seq 1 "${4:-600}"); do
		[[ "$(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:$aport/readyz")" == 200 ]] && return 0
		kill -0 "$pid" 2>/dev/null || { tail -20 "$log" >&2; return 1; }
		sleep 0.1
	done
	note "bridge $pid not ready"; return 1
}
# bridge_start TOPIC BOOTSTRAP [KEY=VALUE...]: the built binary with a bench
# mapping (bench/{device} -> TOPIC, key {device}); ports, data and Kafka by
# --set. BENCH_BRIDGE_BASE=shipped (the default) starts from the repository's
# config.yaml (spool on, fsync always, acks=all, lz4, linger 5 ms);
# BENCH_BRIDGE_BASE=defaults from the built-in defaults (spool off).
bridge_start() {
	local topic="$1" bs="$2" dir="$work/bridge-$1"
	shift 2
	bridge_launch "$dir" "$topic" "$bs" "$MQTT_PORT" "$ADMIN_PORT" "$@"
	BRIDGE_PID=$LAUNCH_PID
	wait_ready "$BRIDGE_PID" "$ADMIN_PORT" "$dir/bridge.log"
}
bridge_stop() {
	[[ -n "$BRIDGE_PID" ]] || return 0
	kill -TERM "$BRIDGE_PID" 2>/dev/null || true
	wait "$BRIDGE_PID" 2>/dev/null || true
	BRIDGE_PID=""
}
# gc_p99 LOG: p99 and max of the stop-the-world pauses in a gctrace log (ms).
gc_p99() {
	python3 - "$1" <<'PY'
import re, sys
p = []
for l in open(sys.argv[1], errors="replace"):
    m = re.search(r"gc \d+ @[\d.]+s \d+%: ([\d.]+)\+[\d.]+\+([\d.]+) ms clock", l)
    if m: p += [float(m.group(1)), float(m.group(2))]
p.sort()
print("n/a" if not p else "%.3f ms (max %.3f ms, %d pauses)" % (p[min(len(p)-1, int(0.99*len(p)))], p[-1], len(p)))
PY
}
MOSQ_PID=""
mosq_start() {
	printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 0\nmax_queued_messages 0\nlog_dest none\n' "$MOSQ_PORT" >"$work/mosquitto.conf"
	"$MOSQUITTO" -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
	MOSQ_PID=$!
	for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$MOSQ_PORT") 2>/dev/null && return 0; sleep 0.1; done
	note "mosquitto not listening"; return 1
}
mosq_stop() { [[ -z "$MOSQ_PID" ]] || { kill "$MOSQ_PID"; wait "$MOSQ_PID" 2>/dev/null || true; MOSQ_PID=""; }; }
# diy_start TOPIC BOOTSTRAP: the do-it-yourself route, Mosquitto plus the
# forwarder (mqttbench forward: paho subscriber on bench/#, sarama with
# acks=all, lz4, FWD_LINGER linger, 5 requests in flight, not idempotent;
# Mosquitto is acked after Kafka).
FWD_PID=""
diy_start() {
	local topic="$1" bs="$2"
	mosq_start
	# The binary itself, not the bench function: $! must be the forwarder's
	# pid (for its CPU and for the SIGTERM), not a subshell's.
	"$bin/mqttbench" forward --addr "127.0.0.1:$MOSQ_PORT" --filter 'bench/#' --client-id "fwd-$runid" \
		--kafka-bootstrap "$bs" --kafka-topic "$topic" --kafka-partitions 6 --linger "${FWD_LINGER:-5ms}" \
		--json "$OUT/fwd-$topic.json" >"$OUT/fwd-$topic.txt" 2>"$OUT/fwd-$topic.progress" &
	FWD_PID=$!
	for _ in $(seq 1 300); do
		grep -q "forwarded/s" "$OUT/fwd-$topic.progress" 2>/dev/null && return 0
		kill -0 "$FWD_PID" 2>/dev/null || { cat "$OUT/fwd-$topic.progress" >&2; return 1; }
		sleep 0.1
	done
	note "forwarder not ready"; return 1
}
diy_stop() {
	[[ -z "$FWD_PID" ]] || { kill -TERM "$FWD_PID" 2>/dev/null || true; wait "$FWD_PID" 2>/dev/null || true; FWD_PID=""; }
	mosq_stop
}
diy_ticks() { echo $(($(cpu_ticks "$MOSQ_PID") + $(cpu_ticks "$FWD_PID"))); }
trap 'bridge_stop; diy_stop; rep_stop_all' EXIT # rep_stop_all: K1-K3's replicas, below

# pub_bridge NAME TOPIC BOOTSTRAP ARGS...: mqttbench pub against the bridge, read back from Kafka.
pub_bridge() {
	local name="$1" topic="$2" bs="$3"; shift 3
	bench pub --addr "127.0.0.1:$MQTT_PORT" --topic 'bench/d%d' --client-prefix "$name-" --source-ips "$SOURCE_IPS" \
		--kafka-bootstrap "$bs" --kafka-topic "$topic" --kafka-partitions 6 --json "$OUT/$name.json" "$@" \
		>"$OUT/$name.txt" 2>"$OUT/$name.progress"
}
# pub_diy NAME TOPIC BOOTSTRAP ARGS...: mqttbench pub against Mosquitto, read back from Kafka.
pub_diy() {
	local name="$1" topic="$2" bs="$3"; shift 3
	bench pub --addr "127.0.0.1:$MOSQ_PORT" --topic 'bench/d%d' --client-prefix "$name-" --source-ips "$SOURCE_IPS" \
		--kafka-bootstrap "$bs" --kafka-topic "$topic" --kafka-partitions 6 --json "$OUT/$name.json" "$@" \
		>"$OUT/$name.txt" 2>"$OUT/$name.progress"
}
pub_mosq() {
	local name="$1"; shift
	bench pub --addr "127.0.0.1:$MOSQ_PORT" --topic 'bench/d%d' --client-prefix "$name-" --source-ips "$SOURCE_IPS" \
		--json "$OUT/$name.json" "$@" >"$OUT/$name.txt" 2>"$OUT/$name.progress"
}
produce_ref() { # NAME RECORDS SIZE KEYS [mqttbench kafka-produce flags...]
	local name="$1" records="$2" size="$3" keys="$4"; shift 4
	# shellcheck disable=SC2086 # K1_SUB_FLAGS is a list of flags
	bench kafka-produce --kafka-bootstrap "$BOOTSTRAP" --kafka-topic "bench.$name.$runid" --kafka-partitions 6 \
		--records "$records" --size "$size" --keys "$keys" --json "$OUT/$name.json" "$@" >"$OUT/$name.txt" 2>"$OUT/$name.progress"
}

S1() {
	local r="$1" conns="${S1_CONNS:-1000}" secs="${S1_SECS:-20}" topic="bench.s1.$runid.$1"
	bridge_start "$topic" "$BOOTSTRAP"
	local t0; t0=$(cpu_ticks "$BRIDGE_PID")
	pub_bridge "s1-bridge-$r" "$topic" "$BOOTSTRAP" --conns "$conns" --rate 10 --qos 1 --size 256 --inflight 32 \
		--duration "${secs}s" --warmup 5s --connect-rate 500
	local t1; t1=$(cpu_ticks "$BRIDGE_PID"); bridge_stop
	local f="$OUT/s1-bridge-$r.json" n; n=$(j "$f" .kafka.landed)
	row "| S1 bridge run $r | ${conns}x10/s QoS1 256B ${secs}s | CPU $(python3 -c "print('%.3f' % (($t1-$t0)/$CLK_TCK/$n*10000))") s/10k msgs; PUBACK p99 $(j "$f" .client.puback_latency.p99_ms) ms; e2e p99 $(j "$f" .kafka.publish_to_kafka_latency.p99_ms) ms; acked/s $(j "$f" .client.acked_per_sec | cut -d. -f1); lost $(j "$f" .kafka.accounting.lost); dups $(j "$f" .kafka.accounting.duplicates); disorder $(j "$f" .kafka.accounting.order_violations) |"
	mosq_start; t0=$(cpu_ticks "$MOSQ_PID")
	pub_mosq "s1-mosq-$r" --conns "$conns" --rate 10 --qos 1 --size 256 --inflight 32 --duration "${secs}s" --warmup 5s --connect-rate 500
	t1=$(cpu_ticks "$MOSQ_PID"); mosq_stop
	f="$OUT/s1-mosq-$r.json"; n=$(j "$f" .client.acked_total)
	row "| S1 mosquitto run $r | same, no Kafka | CPU $(python3 -c "print('%.3f' % (($t1-$t0)/$CLK_TCK/$n*10000))") s/10k msgs; PUBACK p99 $(j "$f" .client.puback_latency.p99_ms) ms |"
	produce_ref "s1-sarama-$r" "$(j "$OUT/s1-bridge-$r.json" .kafka.landed)" 256 "$conns"
	f="$OUT/s1-sarama-$r.json"
	row "| S1 sarama run $r | same records, acks=all lz4 | $(j "$f" .kafka_produce.acked_per_sec | cut -d. -f1) records/s; ack p99 $(j "$f" .kafka_produce.ack_latency.p99_ms) ms |"
}

S2() {
	local r="$1" best=0 bestrate=0 topic="bench.s2.$runid.$1"
	bridge_start "$topic" "$BOOTSTRAP"
	for rate in ${S2_RATES:-50 100 250 500 1000 1500 2000 3000 4000 5000}; do
		pub_bridge "s2-bridge-$r-$rate" "$topic" "$BOOTSTRAP" --conns 20 --inflight 32 --qos 1 --size 128 --rate "$rate" --duration 8s --warmup 2s
		local f="$OUT/s2-bridge-$r-$rate.json" p99 lost acked
		p99=$(j "$f" .client.puback_latency.p99_ms); lost=$(j "$f" .kafka.accounting.lost); acked=$(j "$f" .client.acked_per_sec | cut -d. -f1)
		row "| S2 bridge run $r step | 20x${rate}/s QoS1 128B 8s | acked/s $acked; landed/s $(j "$f" .kafka.landed_per_sec | cut -d. -f1); PUBACK p99 $p99 ms; e2e p99 $(j "$f" .kafka.publish_to_kafka_latency.p99_ms) ms; lost $lost |"
		if [[ -n "$p99" && "$p99" != null ]] && python3 -c "import sys; sys.exit(0 if $p99 <= 50 and $lost == 0 else 1)"; then
			[[ "$acked" -gt "$best" ]] && best=$acked bestrate=$rate
		else
			break
		fi
	done
	row "| S2 bridge run $r | highest lossless rate with PUBACK p99 <= 50 ms | $best msgs/s (20x${bestrate}/s) |"
	if [[ "$best" -gt 0 ]]; then
		# Half of the measured maximum, per connection: the best step may be
		# saturated (acked below what was offered), so not half of its rate.
		local half=$((best / 20 / 2)); [[ $half -gt 0 ]] || half=1
		pub_bridge "s2-half-$r" "$topic" "$BOOTSTRAP" --conns 20 --inflight 32 --qos 1 --size 128 --rate "$half" --duration 8s --warmup 2s
		local f="$OUT/s2-half-$r.json"
		row "| S2 bridge run $r half | 20x${half}/s | e2e p99 $(j "$f" .kafka.publish_to_kafka_latency.p99_ms) ms; PUBACK p99 $(j "$f" .client.puback_latency.p99_ms) ms |"
		# The same best step from MQTT 5 clients.
		pub_bridge "s2-v5-$r" "$topic" "$BOOTSTRAP" --mqtt-version 5 --conns 20 --inflight 32 --qos 1 --size 128 --rate "$bestrate" --duration 8s --warmup 2s
		f="$OUT/s2-v5-$r.json"
		row "| S2 bridge run $r v5 | 20x${bestrate}/s MQTT 5 | acked/s $(j "$f" .client.acked_per_sec | cut -d. -f1); PUBACK p99 $(j "$f" .client.puback_latency.p99_ms) ms; e2e p99 $(j "$f" .kafka.publish_to_kafka_latency.p99_ms) ms; lost $(j "$f" .kafka.accounting.lost); errors $(j "$f" '.client.errors | add // 0') |"
	fi
	bridge_stop
	mosq_start
	pub_mosq "s2-mosq-$r" --conns 20 --inflight 32 --qos 1 --size 128 --duration 8s --warmup 2s
	mosq_stop
	row "| S2 mosquitto run $r | 20 conns unlimited, 32 inflight | acked/s $(j "$OUT/s2-mosq-$r.json" .client.acked_per_sec | cut -d. -f1); PUBACK p99 $(j "$OUT/s2-mosq-$r.json" .client.puback_latency.p99_ms) ms |"
	produce_ref "s2-sarama-$r" "$((best * 8 > 20000 ? best * 8 : 20000))" 128 20
	row "| S2 sarama run $r | $((best * 8 > 20000 ? best * 8 : 20000)) records 128B, acks=all lz4 | $(j "$OUT/s2-sarama-$r.json" .kafka_produce.acked_per_sec | cut -d. -f1) records/s |"
	# The same producer held to the devices' window (20 conns x 32 in flight).
	produce_ref "s2-sarama640-$r" "$((best * 8 > 20000 ? best * 8 : 20000))" 128 20 --inflight 640
	row "| S2 sarama run $r window | same, at most 640 records unacked | $(j "$OUT/s2-sarama640-$r.json" .kafka_produce.acked_per_sec | cut -d. -f1) records/s; ack p99 $(j "$OUT/s2-sarama640-$r.json" .kafka_produce.ack_latency.p99_ms) ms |"
}

S3() {
	local r="$1" secs="${S3_SECS:-10}" topic="bench.s3.$runid.$1"
	bridge_start "$topic" "$BOOTSTRAP"
	pub_bridge "s3-bridge-$r" "$topic" "$BOOTSTRAP" --conns 10 --qos 0 --size 128 --inflight 32 --duration "${secs}s" --warmup 2s --drain-idle 10s
	bridge_stop
	local f="$OUT/s3-bridge-$r.json"
	row "| S3 bridge run $r | 10 conns QoS0 128B unlimited ${secs}s | sent/s $(j "$f" .client.sent_per_sec | cut -d. -f1); landed/s $(j "$f" .kafka.landed_per_sec | cut -d. -f1); loss $(j "$f" .kafka.loss_percent)% ; e2e p99 $(j "$f" .kafka.publish_to_kafka_latency.p99_ms) ms |"
	mosq_start
	pub_mosq "s3-mosq-$r" --conns 10 --qos 0 --size 128 --inflight 32 --duration "${secs}s" --warmup 2s
	mosq_stop
	row "| S3 mosquitto run $r | same, no Kafka | sent/s $(j "$OUT/s3-mosq-$r.json" .client.sent_per_sec | cut -d. -f1) |"
	local n; n=$(j "$f" .kafka.landed)
	produce_ref "s3-sarama-$r" "$n" 128 10
	row "| S3 sarama run $r | $n records 128B | $(j "$OUT/s3-sarama-$r.json" .kafka_produce.acked_per_sec | cut -d. -f1) records/s |"
}

S4() {
	local r="$1" n="${S4_CONNS:-10000}" topic="bench.s4.$runid.$1"
	bridge_start "$topic" "$BOOTSTRAP"
	bench conn --addr "127.0.0.1:$MQTT_PORT" --conns "$n" --persistent-fraction 0.5 --keepalive 60s --hold 5s \
		--pid "$BRIDGE_PID" --reconnect --reconnect-within 5s --client-prefix "s4-$runid-$r-" --source-ips "$SOURCE_IPS" \
		--json "$OUT/s4-bridge-$r.json" >"$OUT/s4-bridge-$r.txt" 2>"$OUT/s4-bridge-$r.progress"
	bridge_stop
	local f="$OUT/s4-bridge-$r.json"
	row "| S4 bridge run $r | $n idle, half persistent, reconnect within 5s | $(j "$f" .conn.bytes_per_conn | cut -d. -f1) B/conn; connect $(j "$f" .conn.connect_per_sec | cut -d. -f1)/s; reconnected $(j "$f" .conn.reconnected) in $(j "$f" .conn.recovery_seconds) s; errors $(j "$f" '.conn.errors|tostring') |"
	mosq_start
	bench conn --addr "127.0.0.1:$MOSQ_PORT" --conns "$n" --persistent-fraction 0.5 --keepalive 60s --hold 5s \
		--pid "$MOSQ_PID" --client-prefix "s4m-$runid-$r-" --source-ips "$SOURCE_IPS" \
		--json "$OUT/s4-mosq-$r.json" >"$OUT/s4-mosq-$r.txt" 2>"$OUT/s4-mosq-$r.progress"
	mosq_stop
	f="$OUT/s4-mosq-$r.json"
	row "| S4 mosquitto run $r | $n idle, half persistent | $(j "$f" .conn.bytes_per_conn | cut -d. -f1) B/conn; connect $(j "$f" .conn.connect_per_sec | cut -d. -f1)/s |"
}

S5() {
	local r="$1" outage="${S5_OUTAGE:-30}" conns="${S1_CONNS:-1000}" topic="bench.s5.$runid.$1"
	local kdir="$work/kafka-s5" bs
	bs="$(KAFKA_DATA_DIR="$kdir" "$repo/integration/kafka.sh" start --port "$OWN_KAFKA_PORT")"
	# The spool is off by default (config.yaml turns it on): this scenario is about it.
	bridge_start "$topic" "$bs" kafka.spool.enabled=true
	local metrics="$OUT/s5-metrics-$r.tsv"
	( while kill -0 "$BRIDGE_PID" 2>/dev/null; do
		m=$(curl -s "127.0.0.1:$ADMIN_PORT/metrics" || true)
		printf '%s\t%s\t%s\t%s\n' "$(date +%s.%N)" \
			"$(echo "$m" | awk '/^mqtt_bridge_spool_records /{print $2}')" \
			"$(echo "$m" | awk '/^mqtt_bridge_spool_bytes /{print $2}')" \
			"$(echo "$m" | awk '/^mqtt_bridge_spool_drained_total /{print $2}')"
		sleep 1
	done ) >"$metrics" &
	local sampler=$!
	pub_bridge "s5-bridge-$r" "$topic" "$bs" --conns "$conns" --rate 10 --qos 1 --size 256 --inflight 32 \
		--duration "$((outage + 40))s" --warmup 5s --connect-rate 500 --drain-idle 120s --ack-timeout 180s &
	local pub=$!
	sleep 15
	local t_stop; t_stop=$(date +%s.%N)
	KAFKA_DATA_DIR="$kdir" "$repo/integration/kafka.sh" stop --port "$OWN_KAFKA_PORT" >/dev/null
	sleep "$outage"
	KAFKA_DATA_DIR="$kdir" "$repo/integration/kafka.sh" start --port "$OWN_KAFKA_PORT" >/dev/null
	local t_back; t_back=$(date +%s.%N)
	wait "$pub" || true
	bridge_stop; wait "$sampler" 2>/dev/null || true
	KAFKA_DATA_DIR="$kdir" "$repo/integration/kafka.sh" stop --port "$OWN_KAFKA_PORT" >/dev/null || true
	local f="$OUT/s5-bridge-$r.json"
	local spool; spool=$(python3 - "$metrics" "$t_back" "$OUT/s5-bridge-$r.progress" "$t_stop" <<'PY'
import sys
rows = [l.split("\t") for l in open(sys.argv[1]) if l.strip()]
rows = [(float(t), float(r or 0), float(b or 0), float(d or 0)) for t, r, b, d in rows]
back = float(sys.argv[2])
peak_r = max((r for _, r, _, _ in rows), default=0)
peak_b = max((b for _, _, b, _ in rows), default=0)
after = [x for x in rows if x[0] >= back]
empty = next((x for x in after if x[1] == 0), None)
drain = "n/a"
if after and empty and empty[0] > after[0][0]:
    drain = "%.0f records/s (%.1f s to empty)" % ((empty[3] - after[0][3]) / (empty[0] - after[0][0]), empty[0] - after[0][0])
print("spool peak %d records / %.1f MB; drain %s" % (peak_r, peak_b / 1e6, drain))
PY
)
	row "| S5 bridge run $r | ${conns}x10/s QoS1 256B, Kafka stopped ${outage}s (+restart time) | $spool; PUBACK p99 over the run $(j "$f" .client.puback_latency.p99_ms) ms (per-second p99s in s5-bridge-$r.progress); max PUBACK $(j "$f" .client.puback_latency.max_ms) ms; acked $(j "$f" .client.acked_total); lost $(j "$f" .kafka.accounting.lost); dups $(j "$f" .kafka.accounting.duplicates); errors $(j "$f" '.client.errors|tostring') |"
}

S6() {
	local r="$1" secs="${S6_SECS:-20}" topic="bench.s6.$runid.$1"
	bridge_start "$topic" "$BOOTSTRAP"
	pub_bridge "s6-bridge-$r" "$topic" "$BOOTSTRAP" --conns 100 --rate 100 --qos 1 --size 4096 --inflight 32 --duration "${secs}s" --warmup 3s
	local hwm; hwm=$(hwm_kb "$BRIDGE_PID")
	bridge_stop
	local f="$OUT/s6-bridge-$r.json"
	row "| S6 bridge run $r | 100x100/s QoS1 4KiB ${secs}s | $(python3 -c "print('%.1f' % (float('$(j "$f" .kafka.landed_per_sec)' or 0)*4096/1e6))") MB/s landed; peak RSS $((hwm / 1024)) MB; GC pause p99 $(gc_p99 "$work/bridge-$topic/bridge.log"); PUBACK p99 $(j "$f" .client.puback_latency.p99_ms) ms; e2e p99 $(j "$f" .kafka.publish_to_kafka_latency.p99_ms) ms; lost $(j "$f" .kafka.accounting.lost) |"
	mosq_start
	pub_mosq "s6-mosq-$r" --conns 100 --rate 100 --qos 1 --size 4096 --inflight 32 --duration "${secs}s" --warmup 3s
	local mh; mh=$(hwm_kb "$MOSQ_PID"); mosq_stop
	row "| S6 mosquitto run $r | same, no Kafka | $(python3 -c "print('%.1f' % ($(j "$OUT/s6-mosq-$r.json" .client.acked_per_sec)*4096/1e6))") MB/s acked; peak RSS $((mh / 1024)) MB; PUBACK p99 $(j "$OUT/s6-mosq-$r.json" .client.puback_latency.p99_ms) ms |"
	produce_ref "s6-sarama-$r" "$(j "$f" .kafka.landed)" 4096 100
	row "| S6 sarama run $r | same records | $(j "$OUT/s6-sarama-$r.json" .kafka_produce.mb_per_sec) MB/s |"
}

# cpu10k TICKS RECORDS: CPU seconds per 10k records.
cpu10k() { python3 -c "import sys; t, n = float(sys.argv[1]), float(sys.argv[2] or 0); print('%.3f' % (t / $CLK_TCK / n * 10000) if n else 'n/a')" "$1" "$2"; }
# e2e_line FILE: the Kafka-side figures of a pub run.
e2e_line() {
	echo "sent/s $(j "$1" .client.sent_per_sec | cut -d. -f1); landed/s $(j "$1" .kafka.landed_per_sec | cut -d. -f1); e2e p50 $(j "$1" .kafka.publish_to_kafka_latency.p50_ms) ms, p99 $(j "$1" .kafka.publish_to_kafka_latency.p99_ms) ms; lost $(j "$1" .kafka.accounting.lost); dups $(j "$1" .kafka.accounting.duplicates); disorder $(j "$1" .kafka.accounting.order_violations)"
}

# C1: QoS 1, 20 publishers x 32 in flight, 128 B: a rate sweep per system;
# the bounded rate is the highest step whose publish -> Kafka p99 is <= 50 ms
# with no growing backlog (landed >= 95 % of sent in the window) and no loss.
# CPU per 10k at that step: the bridge process; Mosquitto + forwarder.
C1() {
	local r="$1" sys
	for sys in ${C1_SYSTEMS:-bridge diy}; do
		local topic="bench.c1.$runid.$r.$sys" best=0 bestrate=0 bestcpu=n/a
		if [[ $sys == bridge ]]; then bridge_start "$topic" "$BOOTSTRAP" || return 1; else diy_start "$topic" "$BOOTSTRAP" || return 1; fi
		for rate in ${C1_RATES:-250 500 750 1000 1250 1500 2000 2500 3000 4000}; do
			local name="c1-$sys-$r-$rate" t0 t1
			if [[ $sys == bridge ]]; then t0=$(cpu_ticks "$BRIDGE_PID"); else t0=$(diy_ticks); fi
			"pub_$sys" "$name" "$topic" "$BOOTSTRAP" --conns 20 --inflight 32 --qos 1 --size 128 --rate "$rate" --duration 8s --warmup 2s --drain-idle 5s
			if [[ $sys == bridge ]]; then t1=$(cpu_ticks "$BRIDGE_PID"); else t1=$(diy_ticks); fi
			local f="$OUT/$name.json" cpu
			cpu=$(cpu10k $((t1 - t0)) "$(j "$f" .kafka.landed)")
			row "| C1 $sys run $r step | 20x${rate}/s QoS1 128B 8s | $(e2e_line "$f"); CPU $cpu s/10k |"
			if python3 - "$f" <<'PY'
import json, sys
k = json.load(open(sys.argv[1]))
c, ka = k["client"], k["kafka"]
p99 = ka["publish_to_kafka_latency"]["p99_ms"]
ok = p99 is not None and p99 <= 50 and ka["accounting"]["lost"] == 0 and ka["landed_per_sec"] >= 0.95 * c["sent_per_sec"]
sys.exit(0 if ok else 1)
PY
			then
				local landed; landed=$(j "$f" .kafka.landed_per_sec | cut -d. -f1)
				[[ "$landed" -gt "$best" ]] && best=$landed bestrate=$rate bestcpu=$cpu
			else
				break
			fi
		done
		if [[ $sys == bridge ]]; then bridge_stop; else diy_stop; fi
		row "| C1 $sys run $r | bounded rate (e2e p99 <= 50 ms, landed >= 95 % of sent) | $best/s (20x${bestrate}/s); CPU $bestcpu s/10k |"
	done
}

# C2: 1,000 devices x 10 msg/s, QoS 1, 256 B, 20 s: publish -> Kafka p99 and CPU.
C2() {
	local r="$1" conns="${S1_CONNS:-1000}" secs="${S1_SECS:-20}" sys
	for sys in ${C2_SYSTEMS:-bridge diy}; do
		local topic="bench.c2.$runid.$r.$sys" name="c2-$sys-$r" t0 t1
		if [[ $sys == bridge ]]; then bridge_start "$topic" "$BOOTSTRAP" || return 1; t0=$(cpu_ticks "$BRIDGE_PID"); else diy_start "$topic" "$BOOTSTRAP" || return 1; t0=$(diy_ticks); fi
		# shellcheck disable=SC2046 # C2_STAGGER=1: devices not in step (mqttbench --stagger)
		"pub_$sys" "$name" "$topic" "$BOOTSTRAP" --conns "$conns" --rate 10 --qos 1 --size 256 --inflight 32 \
			--duration "${secs}s" --warmup 5s --connect-rate 500 $([[ -n "${C2_STAGGER:-}" ]] && echo --stagger)
		if [[ $sys == bridge ]]; then t1=$(cpu_ticks "$BRIDGE_PID"); bridge_stop; else t1=$(diy_ticks); diy_stop; fi
		local f="$OUT/$name.json"
		row "| C2 $sys run $r | ${conns}x10/s QoS1 256B ${secs}s | $(e2e_line "$f"); CPU $(cpu10k $((t1 - t0)) "$(j "$f" .kafka.landed)") s/10k |"
	done
}

# C3: the QoS 0 firehose, 10 publishers, 128 B, unlimited: the bridge as
# configured by BENCH_BRIDGE_BASE, the bridge with the spool off, and the DIY route.
# Spooled records are read from the bridge's /metrics before it stops.
C3() {
	local r="$1" secs="${C3_SECS:-10}" sys
	for sys in ${C3_SYSTEMS:-bridge bridge-nospool diy}; do
		local topic="bench.c3.$runid.$r.$sys" name="c3-$sys-$r" t0 t1 spilled=""
		case $sys in
		bridge) bridge_start "$topic" "$BOOTSTRAP" || return 1; t0=$(cpu_ticks "$BRIDGE_PID") ;;
		bridge-nospool) bridge_start "$topic" "$BOOTSTRAP" kafka.spool.enabled=false || return 1; t0=$(cpu_ticks "$BRIDGE_PID") ;;
		diy) diy_start "$topic" "$BOOTSTRAP" || return 1; t0=$(diy_ticks) ;;
		esac
		local target=bridge; [[ $sys == diy ]] && target=diy
		"pub_$target" "$name" "$topic" "$BOOTSTRAP" --conns 10 --qos 0 --size 128 --inflight 32 --duration "${secs}s" --warmup 2s --drain-idle 10s
		if [[ $sys == diy ]]; then t1=$(diy_ticks); diy_stop; else
			t1=$(cpu_ticks "$BRIDGE_PID")
			spilled="; spooled $(curl -s "127.0.0.1:$ADMIN_PORT/metrics" | awk '/^mqtt_bridge_spool_spilled_total /{print $2}'); window-full waits $(curl -s "127.0.0.1:$ADMIN_PORT/metrics" | awk '/^mqtt_bridge_produce_window_full_total /{print $2}')"
			bridge_stop
		fi
		local f="$OUT/$name.json"
		row "| C3 $sys run $r | 10 conns QoS0 128B unlimited ${secs}s | $(e2e_line "$f"); loss $(j "$f" .kafka.loss_percent)%; CPU $(cpu10k $((t1 - t0)) "$(j "$f" .kafka.landed)") s/10k$spilled |"
	done
}

# --- Cluster scenarios (issue 12): K1 cross-replica latency, K2 uplink
# rate with clustering off vs on, K3 catch-up. Replicas are bridge
# processes with cluster.enabled and the shipped cluster defaults (16
# partitions, heartbeat 2 s, ...), one bench mapping each, on this run's
# Kafka; replica n (1-3) listens on MQTT 21900+n and admin 28100+n.
declare -A REP_PID=()
rep_mqtt() { echo $((21900 + $1)); }
rep_admin() { echo $((28100 + $1)); }
# rep_launch N DIR TOPIC PREFIX [KEY=VALUE...]: replica id rN of the
# cluster whose topics start with PREFIX (cluster.topic_prefix, one per
# scenario run), started in the background; its pid is REP_PID[N].
rep_launch() {
	local n="$1" dir="$2" topic="$3" prefix="$4"
	shift 4
	bridge_launch "$dir" "$topic" "$BOOTSTRAP" "$(rep_mqtt "$n")" "$(rep_admin "$n")" \
		cluster.enabled=true "cluster.replica_id=r$n" "cluster.topic_prefix=$prefix" "$@"
	REP_PID[$n]=$LAUNCH_PID
}
rep_stop() { # N...
	local n
	for n in "$@"; do [[ -z "${REP_PID[$n]:-}" ]] || kill -TERM "${REP_PID[$n]}" 2>/dev/null || true; done
	for n in "$@"; do [[ -z "${REP_PID[$n]:-}" ]] || wait "${REP_PID[$n]}" 2>/dev/null || true; REP_PID[$n]=""; done
}
rep_stop_all() { rep_stop 1 2 3; }
# metric PORT NAME: the sum of a metric's samples at an admin port (0 if none).
metric() { curl -s "127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%d\n", s }'; }
# jms FILE EXPR: a latency in ms, 2 decimals.
jms() { jq -r "$2 | if . == null then \"n/a\" else . * 100 | round / 100 end" "$1"; }
# drops PORT: the front end's drops by reason at an admin port, "reason=n ..." (none: "none").
drops() { curl -s "127.0.0.1:$1/metrics" | awk -F'[{}"= ]+' '/^mqtt_bridge_mqtt_drops_total\{/ && $NF > 0 { printf "%s%s=%d", sep, $3, $NF; sep = " " } END { if (!sep) printf "none" }'; }
# ready_time PID PORT LOG T0 [TENTHS]: seconds from T0 (date +%s.%N) to /readyz 200, polled every 50 ms.
ready_time() {
	local pid="$1" aport="$2" log="$3" t0="$4"
	for _ in $(seq 1 "${5:-6000}"); do
		if [[ "$(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:$aport/readyz")" == 200 ]]; then
			python3 -c "import sys, time; print('%.2f' % (time.time() - float(sys.argv[1])))" "$t0"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || { tail -20 "$log" >&2; return 1; }
		sleep 0.05
	done
	note "replica $pid not ready"; return 1
}
# joined_catch_up LOG: the catch_up of the last "cluster: joined" line.
joined_catch_up() {
	grep 'cluster: joined' "$1" | tail -1 | grep -o 'catch_up[": ]*[0-9.]*[a-zµ]*s' | sed 's/catch_up[": ]*//' |
		python3 -c "import sys; v = sys.stdin.read().strip(); u = 1e-3 if v.endswith('ms') else 1e-6 if v.endswith(('µs', 'us')) else 1; print('%.2f s' % (float(v.rstrip('mµus')) * u) if v else 'n/a')"
}

# K1: per rate of K1_RATES ("1000 10000" msg/s in total), a fresh
# cluster of 3 replicas (its own topic prefix): K1_CONNS (100) publishers
# at r1 (QoS 1, 128 B, each at rate/K1_CONNS msg/s, staggered), K1_SUBS
# (50) persistent QoS 1 subscribers at r2, subscriber i taking the topics
# bench/d<n> of publishers n = i, i+50, ...; r3 runs idle. K1_SECS (20)
# measured after a 3 s warm-up: publish -> deliver latency at r2, PUBACK
# latency at r1 (it waits for the Kafka uplink record and r2's inbox copy),
# undelivered (acked at r1, not delivered at r2 within K1_DRAIN_MAX, 60 s,
# after the publishers stop), duplicates, order, r2's drops, copies per
# routed publish at r1 and CPU per replica. For comparisons:
# K1_SUB_REPLICA=1 puts the subscribers at r1 (no copy), K1_SUB_FLAGS adds
# mqttbench flags (e.g. --sub-persistent=false: clean sessions).
K1() {
	local r="$1" secs="${K1_SECS:-20}" conns="${K1_CONNS:-100}" subs="${K1_SUBS:-50}" at="${K1_SUB_REPLICA:-2}" drain="${K1_DRAIN_MAX:-60}" n rate
	for rate in ${K1_RATES:-1000 10000}; do
		local name="k1-$r-$rate" prefix="bench.k1.$runid.$r.$rate." topic="bench.k1.$runid.$r.$rate" per t0=() t1=() c0 p0 c1 p1
		bench kafka-produce --kafka-bootstrap "$BOOTSTRAP" --kafka-topic "$topic" --kafka-partitions 6 --records 1 --quiet >/dev/null # the uplink topic, 6 partitions
		for n in 1 2 3; do rep_launch "$n" "$work/$name-r$n" "$topic" "$prefix"; done
		for n in 1 2 3; do wait_ready "${REP_PID[$n]}" "$(rep_admin "$n")" "$work/$name-r$n/bridge.log" || { rep_stop_all; return 1; }; done
		per=$(python3 -c "import sys; print('%g' % (float(sys.argv[1]) / float(sys.argv[2])))" "$rate" "$conns")
		for n in 1 2 3; do t0[n]=$(cpu_ticks "${REP_PID[$n]}"); done
		c0=$(metric "$(rep_admin 1)" mqtt_bridge_cluster_copies_total); p0=$(metric "$(rep_admin 1)" mqtt_bridge_cluster_routed_publishes_total)
		# shellcheck disable=SC2086 # K1_SUB_FLAGS is a list of flags
		bench pub --addr "127.0.0.1:$(rep_mqtt 1)" --topic 'bench/d%d' --client-prefix "k1-$runid-$r-$rate-" --source-ips "$SOURCE_IPS" \
			--conns "$conns" --rate "$per" --stagger --qos 1 --size 128 --inflight 32 --duration "${secs}s" --warmup 3s \
			--drain-idle 10s --drain-max "${drain}s" \
			--sub-addr "127.0.0.1:$(rep_mqtt "$at")" --sub-conns "$subs" --sub-qos 1 ${K1_SUB_FLAGS:-} \
			--json "$OUT/$name.json" >"$OUT/$name.txt" 2>"$OUT/$name.progress" || true
		for n in 1 2 3; do t1[n]=$(cpu_ticks "${REP_PID[$n]}"); done
		c1=$(metric "$(rep_admin 1)" mqtt_bridge_cluster_copies_total); p1=$(metric "$(rep_admin 1)" mqtt_bridge_cluster_routed_publishes_total)
		local f="$OUT/$name.json" dr
		dr=$(drops "$(rep_admin "$at")")
		rep_stop_all
		[[ -s "$f" ]] || { row "| K1 run $r | ${rate} msg/s | FAILED (see $OUT/$name.txt) |"; continue; }
		local d; d=$(j "$f" .deliver.delivered)
		row "| K1 run $r | ${rate} msg/s: ${conns} pubs at r1 x ${per}/s QoS1 128B -> ${subs} $(j "$f" 'if .deliver.persistent then "persistent" else "clean" end') QoS1 subs at r$at, ${secs}s | delivered/s $(j "$f" .deliver.delivered_per_sec | cut -d. -f1); publish->deliver p50 $(jms "$f" .deliver.publish_to_deliver_latency.p50_ms) ms, p99 $(jms "$f" .deliver.publish_to_deliver_latency.p99_ms) ms, max $(jms "$f" .deliver.publish_to_deliver_latency.max_ms) ms; PUBACK p50 $(jms "$f" .client.puback_latency.p50_ms) ms, p99 $(jms "$f" .client.puback_latency.p99_ms) ms; acked/s $(j "$f" .client.acked_per_sec | cut -d. -f1); acked $(j "$f" .client.acked_total); undelivered after ${drain}s $(j "$f" .deliver.accounting.lost); dups $(j "$f" .deliver.accounting.duplicates); disorder $(j "$f" .deliver.accounting.order_violations); errors $(j "$f" '.client.errors|tostring'); drops at r$at: $dr; copies/routed publish $(python3 -c "import sys; c, p = map(int, sys.argv[1:]); print('%.2f' % (c / p) if p else 'n/a')" $((c1 - c0)) $((p1 - p0))); CPU s/10k r1 $(cpu10k $((t1[1] - t0[1])) "$d"), r2 $(cpu10k $((t1[2] - t0[2])) "$d"), r3 $(cpu10k $((t1[3] - t0[3])) "$d") |"
	done
}

# k2_sweep NAME TOPIC PID: S2's steps against the bridge at MQTT_PORT
# (20 conns x K2_RATES per connection, QoS 1, 128 B, 8 s each, read back
# from Kafka), every step of the list (a fixed-rate comparison between the
# modes) until one loses a message or has PUBACK p99 > K2_STOP_MS (200).
# Sets K2_BEST (acked/s) and K2_BESTRATE: the highest step with PUBACK
# p99 <= 50 ms and nothing lost, S2's criterion.
k2_sweep() {
	local name="$1" topic="$2" pid="$3" rate
	K2_BEST=0 K2_BESTRATE=0
	for rate in ${K2_RATES:-${S2_RATES:-50 100 250 500 1000 1500 2000 3000 4000 5000}}; do
		local t0 t1 f="$OUT/$name-$rate.json" p99 lost acked
		t0=$(cpu_ticks "$pid")
		pub_bridge "$name-$rate" "$topic" "$BOOTSTRAP" --conns 20 --inflight 32 --qos 1 --size 128 --rate "$rate" --duration 8s --warmup 2s
		t1=$(cpu_ticks "$pid")
		p99=$(jms "$f" .client.puback_latency.p99_ms); lost=$(j "$f" .kafka.accounting.lost); acked=$(j "$f" .client.acked_per_sec | cut -d. -f1)
		row "| K2 $name step | 20x${rate}/s QoS1 128B 8s | acked/s $acked; landed/s $(j "$f" .kafka.landed_per_sec | cut -d. -f1); PUBACK p50 $(jms "$f" .client.puback_latency.p50_ms) ms, p99 $p99 ms; e2e p99 $(jms "$f" .kafka.publish_to_kafka_latency.p99_ms) ms; lost $lost; CPU $(cpu10k $((t1 - t0)) "$(j "$f" .kafka.landed)") s/10k |"
		[[ -n "$p99" && "$p99" != n/a && "$lost" == 0 ]] || break
		if python3 -c "import sys; sys.exit(0 if $p99 <= 50 else 1)"; then
			[[ "$acked" -gt "$K2_BEST" ]] && K2_BEST=$acked K2_BESTRATE=$rate
		fi
		python3 -c "import sys; sys.exit(0 if $p99 <= ${K2_STOP_MS:-200} else 1)" || break
	done
}

# K2: the S2 uplink sweep on one bridge per K2_MODES ("off on on3"): off =
# cluster.enabled false (no subscribers); on = cluster.enabled true, a
# single replica; on3 = the same bridge as r1 of 3 replicas, r2 and r3
# idle (their heartbeats, table readers and inbox on the same 2 cores).
# Then the ratio of each mode's best rate to off's (goal >= 0.8).
K2() {
	local r="$1" mode best_off=""
	for mode in ${K2_MODES:-off on on3}; do
		local topic="bench.k2.$runid.$r.$mode" prefix="bench.k2.$runid.$r.$mode."
		case $mode in
		off) bridge_start "$topic" "$BOOTSTRAP" || return 1 ;;
		on) bridge_start "$topic" "$BOOTSTRAP" cluster.enabled=true cluster.replica_id=r1 "cluster.topic_prefix=$prefix" || return 1 ;;
		on3)
			rep_launch 2 "$work/k2-$r-r2" "$topic" "$prefix"
			rep_launch 3 "$work/k2-$r-r3" "$topic" "$prefix"
			bridge_start "$topic" "$BOOTSTRAP" cluster.enabled=true cluster.replica_id=r1 "cluster.topic_prefix=$prefix" || return 1
			wait_ready "${REP_PID[2]}" "$(rep_admin 2)" "$work/k2-$r-r2/bridge.log" || return 1
			wait_ready "${REP_PID[3]}" "$(rep_admin 3)" "$work/k2-$r-r3/bridge.log" || return 1
			;;
		*) note "K2: unknown mode $mode (off, on, on3)"; return 1 ;;
		esac
		k2_sweep "k2-$r-$mode" "$topic" "$BRIDGE_PID"
		bridge_stop; rep_stop 2 3
		row "| K2 run $r $mode | highest lossless rate with PUBACK p99 <= 50 ms | $K2_BEST msgs/s (20x${K2_BESTRATE}/s) |"
		if [[ $mode == off ]]; then best_off=$K2_BEST; elif [[ -n "$best_off" && "$best_off" -gt 0 ]]; then
			row "| K2 run $r $mode/off | uplink rate with clustering on / off (goal >= 0.8) | $(python3 -c "import sys; print('%.2f' % (int(sys.argv[1]) / int(sys.argv[2])))" "$K2_BEST" "$best_off") |"
		fi
	done
}

# K3: catch-up with K3_SESSIONS (100000) persistent sessions in the
# sessions log, written by sessiongen (a claim and an offline state
# each, one QoS 1 subscription, owner "sessiongen": a replica not
# running) while no replica runs. One replica, log level info (for the
# "cluster: joined" line). Times from the process start to /readyz 200:
# cold (cluster.db deleted: the whole log read), warm (cluster.db kept, no
# delta), and warm after K3_DELTA (K3_SESSIONS/10) more sessions were
# written while it was down. The start includes the replica id check, 2
# heartbeat intervals (4 s with the shipped 2 s heartbeat); the log's
# catch_up is from the check's start to ready. K3_SETS adds replica
# settings, e.g. "cluster.heartbeat_interval=500ms" (a 1 s id check) to see
# the catch-up below the shipped 4 s floor.
K3() {
	local r="$1" n="${K3_SESSIONS:-100000}" prefix="bench.k3.$runid.$r." topic="bench.k3.$runid.$r" dir="$work/k3-$r-r1"
	local delta="${K3_DELTA:-$((${K3_SESSIONS:-100000} / 10))}" t0 secs
	local sets=(log.level=info)
	# shellcheck disable=SC2206 # K3_SETS is a space-separated list of KEY=VALUE
	sets+=(${K3_SETS:-})
	# First start: creates the cluster's topics (and an empty cache).
	rep_launch 1 "$dir" "$topic" "$prefix" "${sets[@]}"
	wait_ready "${REP_PID[1]}" "$(rep_admin 1)" "$dir/bridge.log" || return 1
	rep_stop 1
	"$bin/sessiongen" --kafka-bootstrap "$BOOTSTRAP" --topic "${prefix}sessions" --sessions "$n" --client-prefix "k3-$runid-" \
		--json "$OUT/k3-gen-$r.json" >"$OUT/k3-gen-$r.txt" 2>&1 || { cat "$OUT/k3-gen-$r.txt" >&2; return 1; }
	row "| K3 run $r gen | $n sessions, $(j "$OUT/k3-gen-$r.json" .records) records into ${prefix}sessions ($(j "$OUT/k3-gen-$r.json" .partitions) partitions) | $(j "$OUT/k3-gen-$r.json" .seconds | cut -c1-5) s ($(j "$OUT/k3-gen-$r.json" .records_per_sec | cut -d. -f1) records/s) |"
	k3_start() { # LABEL WHAT
		t0=$(date +%s.%N)
		rep_launch 1 "$dir" "$topic" "$prefix" "${sets[@]}"
		secs=$(ready_time "${REP_PID[1]}" "$(rep_admin 1)" "$dir/bridge.log" "$t0") || { row "| K3 run $r $1 | $2 | FAILED (see $dir/bridge.log) |"; rep_stop 1; return 1; }
		local seen rss
		seen=$(curl -s "127.0.0.1:$(rep_admin 1)/metrics" | awk '/^mqtt_bridge_cluster_replica_sessions\{replica="sessiongen"/ { s += $2 } END { printf "%d\n", s }')
		rss=$(( $(rss_kb "${REP_PID[1]}") / 1024 ))
		row "| K3 run $r $1 | $2 | ready $secs s after the process start (log catch_up $(joined_catch_up "$dir/bridge.log")); sessions of sessiongen seen $seen; RSS $rss MB |"
		rep_stop 1
	}
	rm -f "$dir/mqtt/cluster.db"
	k3_start cold "$n sessions, cluster.db deleted" || return 1
	k3_start warm "$n sessions, cluster.db kept, no delta" || return 1
	"$bin/sessiongen" --kafka-bootstrap "$BOOTSTRAP" --topic "${prefix}sessions" --sessions "$delta" --first "$n" --client-prefix "k3-$runid-" \
		>>"$OUT/k3-gen-$r.txt" 2>&1 || { cat "$OUT/k3-gen-$r.txt" >&2; return 1; }
	k3_start warm-delta "$n sessions + $delta written while down, cluster.db kept" || return 1
}

for s in "${scenarios[@]}"; do
	for r in $(seq 1 "$RUNS"); do
		note "$s run $r"
		"$s" "$r" || row "| $s run $r | FAILED (see $OUT) | |"
	done
done
note "results in $OUT"
