// Package integration holds the end-to-end tests of the whole bridge: the
// real binary or bridge.Bridge in-process, a real Kafka broker (started by
// kafka.sh through testenv) and real MQTT clients (paho v3.1.1, paho.golang
// v5, mosquitto_pub/mosquitto_sub, kcat). It has no non-test code; see
// README.md for how to run the tests and what each one proves.
package integration
