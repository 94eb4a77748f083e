#!/usr/bin/env bash
# A real single-node Apache Kafka (KRaft, no ZooKeeper, no Docker) for tests.
#
#   integration/kafka.sh start|stop|status|reset [--port N] [--data-dir DIR]
#                        [--security plaintext|sasl_ssl]
#
#   start   fetch the broker jars once (Maven), format storage on first start,
#           start the broker in the background and return once a real client
#           metadata request succeeds. A healthy broker already on the port is
#           reused. Prints the bootstrap address (127.0.0.1:PORT) on stdout.
#   stop    stop the broker this script started (pid file), keep the data dir.
#   status  print "running" (exit 0) or "stopped" (exit 1).
#   reset   stop, then wipe the data dir.
#
# Environment (flags win over environment):
#   KAFKA_PORT        client listener port, default 9092; controller = port+1
#   KAFKA_ADVERTISED_PORT  port in advertised.listeners, default KAFKA_PORT (fault
#                     tests put a TCP proxy there, so clients reach the broker
#                     only through it)
#   KAFKA_DATA_DIR    data dir, default integration/.kafka-data/<port>
#   KAFKA_HOME_DIR    jar cache, default ~/.cache/mqtt-kafka-bridge/kafka-<version>
#   KAFKA_HEAP        JVM heap, default 512m
#   KAFKA_START_TIMEOUT  seconds to wait for readiness, default 120
#   KAFKA_SECURITY    plaintext (default) or sasl_ssl, see "Secured mode"
#
# Secured mode (--security sasl_ssl), for the TLS and SASL tests. The
# plaintext listener stays (readiness, admin work, reading records back);
# beside it:
#   port+2  SSL       server certificate from a throwaway CA; a client
#                     certificate is requested (mutual TLS): its CN is the
#                     principal, without one the principal is ANONYMOUS
#   port+3  SASL_SSL  PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER
#                     (Kafka's unsecured JWTs: alg none, sub = principal;
#                     only expired or malformed tokens are refused)
#   ACLs on (StandardAuthorizer). Super users: admin and ANONYMOUS, the
#   principal of the plaintext listeners (controller, inter-broker, the
#   tests' own clients). Every other principal gets only what its test
#   grants it.
# The CA, the broker's PKCS12 keystore and a client certificate are made
# with openssl under DATA/tls on the first secured start (ca.pem,
# client.pem, client.key: CN=bridgemtls). Users, test-only, created at
# format time (SCRAM with kafka-storage format --add-scram):
#   PLAIN          bridgeplain / plain-secret
#   SCRAM-256/512  bridgescram / scram-secret
#   SCRAM-256/512  bridgeutf8  / pässwörd-Ωμέγα-密码 (non-ASCII, NFC)
#   SCRAM-256      bridgenbsp  / "nbsp<U+00A0>secret" (SASLprep maps the
#                  no-break space to a space; Kafka stores the raw UTF-8)
set -euo pipefail

KAFKA_VERSION=4.1.1 # keep in sync with integration/kafka/pom.xml

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

die() { echo "kafka.sh: $*" >&2; exit 1; }
note() { echo "kafka.sh: $*" >&2; }

cmd="${1:-}"
[[ -n "$cmd" ]] || die "usage: kafka.sh start|stop|status|reset [--port N] [--data-dir DIR]"
shift
port="${KAFKA_PORT:-9092}"
data="${KAFKA_DATA_DIR:-}"
security="${KAFKA_SECURITY:-plaintext}"
while [[ $# -gt 0 ]]; do
	case "$1" in
	--port) port="$2"; shift 2 ;;
	--port=*) port="${1#*=}"; shift ;;
	--data-dir) data="$2"; shift 2 ;;
	--data-dir=*) data="${1#*=}"; shift ;;
	--security) security="$2"; shift 2 ;;
	--security=*) security="${1#*=}"; shift ;;
	*) die "unknown argument: $1" ;;
	esac
done
[[ "$port" =~ ^[0-9]+$ ]] || die "--port: not a number: $port"
case "$security" in
plaintext | sasl_ssl) ;;
*) die "--security: want plaintext or sasl_ssl, not $security" ;;
esac
cport=$((port + 1))
sslport=$((port + 2))
saslport=$((port + 3))
advport="${KAFKA_ADVERTISED_PORT:-$port}"
[[ "$advport" =~ ^[0-9]+$ ]] || die "KAFKA_ADVERTISED_PORT: not a number: $advport"
data="${data:-$repo/integration/.kafka-data/$port}"
home="${KAFKA_HOME_DIR:-$HOME/.cache/mqtt-kafka-bridge/kafka-$KAFKA_VERSION}"
heap="${KAFKA_HEAP:-512m}"
timeout="${KAFKA_START_TIMEOUT:-120}"
bootstrap="127.0.0.1:$port"
pidfile="$data/kafka.pid"
logfile="$data/kafka.log"

# fetch_jars puts the broker's full classpath in $home/libs, once.
fetch_jars() {
	[[ -f "$home/libs/.complete" ]] && return 0
	command -v mvn >/dev/null || die "mvn not found: install Maven (apt-get install maven) and Java 17+"
	command -v java >/dev/null || die "java not found: install Java 17+"
	note "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $home/libs (once)"
	rm -rf "$home/libs.tmp"
	mkdir -p "$home"
	if ! (cd "$here/kafka" && mvn -q -B dependency:copy-dependencies \
		-DoutputDirectory="$home/libs.tmp" >"$home/mvn.log" 2>&1); then
		tail -n 40 "$home/mvn.log" >&2
		die "mvn dependency:copy-dependencies failed (full log: $home/mvn.log)"
	fi
	rm -rf "$home/libs"
	mv "$home/libs.tmp" "$home/libs"
	touch "$home/libs/.complete"
}

# build_ping compiles the readiness probe (a sarama metadata request).
build_ping() {
	pingbin="$home/bin/kafkaping"
	mkdir -p "$home/bin"
	# Several kafka.sh may start at once (go test runs the packages that
	# start private brokers in parallel): each builds into its own temporary
	# file and renames it into place, which is atomic.
	local tmp="$pingbin.tmp.$$" log="$home/ping-build.$$.log"
	if ! (cd "$repo" && go build -o "$tmp" ./integration/testenv/cmd/kafkaping) 2>"$log"; then
		rm -f "$tmp"
		if command -v kcat >/dev/null; then
			note "cannot build kafkaping (see $log); probing with kcat -L"
			pingbin=""
			return 0
		fi
		cat "$log" >&2
		die "cannot build integration/testenv/cmd/kafkaping"
	fi
	rm -f "$log"
	mv -f "$tmp" "$pingbin"
}

ping() {
	if [[ -n "${pingbin:-}" ]]; then
		"$pingbin" -timeout 2s "$bootstrap" 2>/dev/null
	else
		kcat -L -b "$bootstrap" -m 2 >/dev/null 2>&1
	fi
}

# ourpid prints the pid from the pid file if that process is alive and is a
# Kafka broker (guards against pid reuse).
ourpid() {
	[[ -f "$pidfile" ]] || return 1
	local pid
	pid="$(cat "$pidfile")"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
	echo "$pid"
}

# Test-only secrets of the secured mode (see the header).
storepass=test-store-secret
tlsdir="$data/tls"

# gen_certs makes, once per data dir, a throwaway CA, the broker's
# certificate (SAN IP:127.0.0.1 only: a client that dials "localhost" sees
# a hostname mismatch) in a PKCS12 keystore, and a client certificate for
# mutual TLS (CN=bridgemtls), all with openssl.
gen_certs() {
	[[ -f "$tlsdir/.complete" ]] && return 0
	command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"
	rm -rf "$tlsdir"
	mkdir -p "$tlsdir"
	(
		cd "$tlsdir"
		umask 077
		openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -keyout ca.key -out ca.pem \
			-subj "/CN=mqtt-kafka-bridge test CA" \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
		openssl req -newkey rsa:2048 -nodes -sha256 -keyout broker.key -out broker.csr -subj "/CN=kafka-test-broker"
		printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >broker.ext
		openssl x509 -req -sha256 -days 825 -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
			-extfile broker.ext -out broker.pem
		openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem -name broker \
			-out broker.p12 -passout "pass:$storepass"
		openssl req -newkey rsa:2048 -nodes -sha256 -keyout client.key -out client.csr -subj "/CN=bridgemtls"
		printf 'extendedKeyUsage=clientAuth\n' >client.ext
		openssl x509 -req -sha256 -days 825 -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
			-extfile client.ext -out client.pem
		rm -f ./*.csr ./*.ext
		chmod 644 ca.pem client.pem
	) >"$data/openssl.log" 2>&1 || { cat "$data/openssl.log" >&2; die "making the test certificates failed"; }
	touch "$tlsdir/.complete"
}

write_config() {
	mkdir -p "$data/logs"
	local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
	local advertised="PLAINTEXT://127.0.0.1:$advport"
	local protomap="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
	if [[ "$security" == sasl_ssl ]]; then
		listeners+=",SSL://127.0.0.1:$sslport,SASL_SSL://127.0.0.1:$saslport"
		advertised+=",SSL://127.0.0.1:$sslport,SASL_SSL://127.0.0.1:$saslport"
		protomap+=",SSL:SSL,SASL_SSL:SASL_SSL"
	fi
	cat >"$data/server.properties" <<-EOF
		# Generated by integration/kafka.sh; rewritten on every start.
		process.roles=broker,controller
		node.id=1
		controller.quorum.voters=1@127.0.0.1:$cport
		listeners=$listeners
		advertised.listeners=$advertised
		controller.listener.names=CONTROLLER
		listener.security.protocol.map=$protomap
		inter.broker.listener.name=PLAINTEXT
		log.dirs=$data/logs
		num.partitions=3
		auto.create.topics.enable=true
		default.replication.factor=1
		min.insync.replicas=1
		offsets.topic.replication.factor=1
		offsets.topic.num.partitions=1
		transaction.state.log.replication.factor=1
		transaction.state.log.min.isr=1
		share.coordinator.state.topic.replication.factor=1
		share.coordinator.state.topic.min.isr=1
		group.initial.rebalance.delay.ms=0
		log.flush.interval.messages=9223372036854775807
	EOF
	if [[ "$security" == sasl_ssl ]]; then
		cat >>"$data/server.properties" <<-EOF
			# Secured mode (--security sasl_ssl): see integration/kafka.sh.
			ssl.keystore.type=PKCS12
			ssl.keystore.location=$tlsdir/broker.p12
			ssl.keystore.password=$storepass
			ssl.key.password=$storepass
			ssl.truststore.type=PEM
			ssl.truststore.location=$tlsdir/ca.pem
			listener.name.ssl.ssl.client.auth=requested
			listener.name.ssl.ssl.principal.mapping.rules=RULE:^CN=([^,]+).*\$/\$1/,DEFAULT
			sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER
			listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_bridgeplain="plain-secret";
			listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
			listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
			listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="admin";
			authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
			super.users=User:admin;User:ANONYMOUS
		EOF
	fi
	cat >"$data/log4j2.xml" <<-'EOF'
		<?xml version="1.0" encoding="UTF-8"?>
		<!-- Generated by integration/kafka.sh: WARN and above, plus start/stop lines. -->
		<Configuration status="WARN">
		  <Appenders>
		    <Console name="stdout" target="SYSTEM_OUT">
		      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
		    </Console>
		  </Appenders>
		  <Loggers>
		    <Logger name="kafka.server.KafkaRaftServer" level="INFO"/>
		    <Root level="WARN"><AppenderRef ref="stdout"/></Root>
		  </Loggers>
		</Configuration>
	EOF
}

java_cmd() {
	java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -Djava.awt.headless=true \
		-Dlog4j2.configurationFile="$data/log4j2.xml" -Dkafka.logs.dir="$data" \
		-cp "$home/libs/*" "$@"
}

do_start() {
	mkdir -p "$data" "$home"
	exec 9>"$data/.lock"
	flock -w 300 9 || die "timed out waiting for the lock on $data"

	build_ping
	if ping; then
		if pid="$(ourpid)"; then
			note "reusing running broker pid $pid on $bootstrap"
		else
			note "reusing a healthy broker already answering on $bootstrap (not started by this script)"
		fi
		echo "$bootstrap"
		return 0
	fi
	if pid="$(ourpid)"; then
		note "broker pid $pid is running but not answering; restarting it"
		stop_pid "$pid"
	fi

	(
		exec 8>"$(dirname "$home")/.fetch-$KAFKA_VERSION.lock"
		flock -w 900 8 || die "timed out waiting for the jar fetch lock"
		fetch_jars
	)
	[[ "$security" == sasl_ssl ]] && gen_certs
	write_config
	if [[ ! -f "$data/logs/meta.properties" ]]; then
		local id
		id="$(java_cmd kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
		[[ -n "$id" ]] || die "kafka.tools.StorageTool random-uuid printed nothing"
		local scram=()
		if [[ "$security" == sasl_ssl ]]; then
			local m
			for m in SCRAM-SHA-256 SCRAM-SHA-512; do
				scram+=(--add-scram "$m=[name=bridgescram,password=scram-secret]")
				scram+=(--add-scram "$m=[name=bridgeutf8,password=pässwörd-Ωμέγα-密码]")
			done
			scram+=(--add-scram "SCRAM-SHA-256=[name=bridgenbsp,password=nbsp"$'\xc2\xa0'"secret]")
		fi
		# C.UTF-8: Java 17 decodes the arguments (the non-ASCII passwords)
		# with the locale's charset.
		LC_ALL=C.UTF-8 java_cmd kafka.tools.StorageTool format -t "$id" -c "$data/server.properties" "${scram[@]}" \
			>"$data/format.log" 2>&1 || { cat "$data/format.log" >&2; die "formatting $data/logs failed"; }
	fi

	: >"$logfile"
	setsid nohup bash -c 'exec "$@"' kafka-broker \
		java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -Djava.awt.headless=true \
		-Dlog4j2.configurationFile="$data/log4j2.xml" -Dkafka.logs.dir="$data" \
		-cp "$home/libs/*" kafka.Kafka "$data/server.properties" \
		>>"$logfile" 2>&1 </dev/null 9>&- &
	local pid=$!
	echo "$pid" >"$pidfile"

	local deadline=$((SECONDS + timeout))
	while ! ping; do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 40 "$logfile" >&2
			rm -f "$pidfile"
			die "broker exited during start-up (log: $logfile)"
		fi
		if ((SECONDS >= deadline)); then
			tail -n 40 "$logfile" >&2
			stop_pid "$pid"
			die "broker not ready on $bootstrap after ${timeout}s (log: $logfile)"
		fi
		sleep 0.5
	done
	note "broker pid $pid ready on $bootstrap (data: $data)"
	echo "$bootstrap"
}

stop_pid() {
	local pid="$1" i
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 300; i++)); do # 30 s for a controlled shutdown
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		note "broker pid $pid ignored SIGTERM for 30s; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	fi
	rm -f "$pidfile"
}

do_stop() {
	local pid
	if pid="$(ourpid)"; then
		stop_pid "$pid"
		note "stopped broker pid $pid on $bootstrap"
	else
		rm -f "$pidfile"
		note "no broker started by this script is running for $data"
	fi
}

case "$cmd" in
start) do_start ;;
stop) do_stop ;;
status)
	if pid="$(ourpid)"; then
		echo "running pid $pid on $bootstrap (data: $data)"
		exit 0
	fi
	echo "stopped"
	exit 1
	;;
reset)
	do_stop
	case "$data" in
	"" | / | "$HOME" | "$repo") die "refusing to wipe $data" ;;
	esac
	rm -rf "$data"
	note "wiped $data"
	;;
*) die "unknown command: $cmd (want start|stop|status|reset)" ;;
esac
