#!/usr/bin/env bash
# Installs what `make test` needs on a Debian or Ubuntu machine, or says
# what is missing. `make deps` runs it alone; `make test` and `.ci/run`
# (through make test) run it first, so CI and developers install the same.
#
#   integration/deps.sh          install what is missing; exit 1 if anything
#                                is still missing afterwards
#   integration/deps.sh --test   the same, except that outside CI (CI!=true)
#                                a missing optional tool only warns: the tests
#                                that use it skip, and make test lists them
#
# Required (no Kafka without them; go is needed to run make at all):
#   go, java 17+ (openjdk-17-jre-headless), mvn (maven): integration/kafka.sh
#   fetches the broker jars with Maven and runs Kafka on Java 17+;
#   openssl (openssl, on Debian by default): the certificates of the
#   secured test broker (kafka.sh --security sasl_ssl).
# Optional locally, required under CI=true (their tests skip locally, fail in CI):
#   mosquitto_pub, mosquitto_sub (mosquitto-clients), kcat (kcat),
#   chromium and chromedriver (chromium, chromium-driver),
#   prometheus and promtool (prometheus): integration/alerts_test.go,
#   deploy/alerts_cluster_test.go;
#   haproxy (haproxy): integration/cluster_haproxy_test.go runs the compose
#   cluster profile's deploy/haproxy/haproxy.cfg with it.
#
# It installs only as root with apt-get (apt-get update once, then
# apt-get install); otherwise it prints the apt-get command to run.
set -euo pipefail

mode=all
case "${1:-}" in
"") ;;
--test) mode=test ;;
*) echo "deps.sh: unknown argument: $1 (want nothing or --test)" >&2; exit 2 ;;
esac

# java_ok: a java of major version 17 or later is on PATH.
java_ok() {
	command -v java >/dev/null || return 1
	local v
	v="$(java -version 2>&1 | sed -n 's/.*version "\([0-9][0-9]*\).*/\1/p' | head -n 1)"
	[[ -n "$v" && "$v" -ge 17 ]]
}

have() { command -v "$1" >/dev/null; }

# have_haproxy: Debian installs it in /usr/sbin, which a non-root PATH may
# lack; the test looks there too.
have_haproxy() { have haproxy || [[ -x /usr/sbin/haproxy ]]; }

# check fills required_missing and optional_missing with "what (package)".
check() {
	required_missing=()
	optional_missing=()
	have go || required_missing+=("go (install Go from go.dev; see go.mod for the version)")
	java_ok || required_missing+=("java 17+ (openjdk-17-jre-headless)")
	have mvn || required_missing+=("mvn (maven)")
	have openssl || required_missing+=("openssl (openssl)")
	have mosquitto_pub || optional_missing+=("mosquitto_pub (mosquitto-clients)")
	have mosquitto_sub || optional_missing+=("mosquitto_sub (mosquitto-clients)")
	have kcat || optional_missing+=("kcat (kcat)")
	have chromium || have chromium-browser || optional_missing+=("chromium (chromium)")
	have chromedriver || optional_missing+=("chromedriver (chromium-driver)")
	have prometheus || optional_missing+=("prometheus (prometheus)")
	have promtool || optional_missing+=("promtool (prometheus)")
	have_haproxy || optional_missing+=("haproxy (haproxy)")
}

# packages prints the apt packages for what check found missing.
packages() {
	local pkgs=()
	java_ok || pkgs+=(openjdk-17-jre-headless)
	have mvn || pkgs+=(maven)
	have openssl || pkgs+=(openssl)
	{ have mosquitto_pub && have mosquitto_sub; } || pkgs+=(mosquitto-clients)
	have kcat || pkgs+=(kcat)
	have chromium || have chromium-browser || pkgs+=(chromium)
	have chromedriver || pkgs+=(chromium-driver)
	{ have prometheus && have promtool; } || pkgs+=(prometheus)
	have_haproxy || pkgs+=(haproxy)
	echo "${pkgs[*]}"
}

check
if [[ ${#required_missing[@]} -eq 0 && ${#optional_missing[@]} -eq 0 ]]; then
	echo "deps: all test tools present"
	exit 0
fi

pkgs="$(packages)"
if [[ -n "$pkgs" && "$(id -u)" -eq 0 ]] && have apt-get; then
	echo "deps: installing $pkgs"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086 # a list of package names
	apt-get install -y -qq $pkgs
	check
fi

if [[ ${#required_missing[@]} -gt 0 || ${#optional_missing[@]} -gt 0 ]]; then
	echo "deps: missing:" >&2
	for m in "${required_missing[@]}" "${optional_missing[@]}"; do
		echo "  - $m" >&2
	done
	if [[ -n "$(packages)" ]]; then
		echo "deps: as root on Debian/Ubuntu, \`make deps\` installs them (apt-get install $(packages))" >&2
	fi
fi
if [[ ${#required_missing[@]} -gt 0 ]]; then
	exit 1
fi
if [[ ${#optional_missing[@]} -gt 0 ]]; then
	if [[ "$mode" == test && "${CI:-}" != true ]]; then
		echo "deps: going on without them: the tests that use them skip (listed at the end of make test)" >&2
		exit 0
	fi
	exit 1
fi
echo "deps: all test tools present"
