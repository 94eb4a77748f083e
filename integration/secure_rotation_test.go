package integration

import (
	"os"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
)

// TestSecureWrongPasswordThenRotated starts the bridge (spool on) with a
// wrong SCRAM password in its password_file. The failure is logged with
// kind authentication, /readyz says kafka_connected false, and a QoS 1
// publish is acked once spooled (the delivery table's "Kafka down"
// column). Then the file is rewritten with the right password, without a
// signal or restart: the next connection reads it, the spool drains into
// Kafka, and the downlink consumer joins its group and delivers a command.
func TestSecureWrongPasswordThenRotated(t *testing.T) {
	c := saslCase("SCRAM-SHA-256", kafka.SASLScramSHA256, testenv.ScramUser, "wrong-password")
	w := newSecureWorld(t, c)
	core, logs := observer.New(zap.InfoLevel)
	log := zap.New(zapcore.NewTee(core, zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).Core()))
	tb := startBridgeLog(t, w.cfg, log)

	waitFor(t, kafkaWait, "an authentication failure in the log", func() bool {
		for _, e := range logs.All() {
			if e.ContextMap()["kind"] == kafka.KindAuthentication {
				return true
			}
		}
		return false
	})
	if r := readyz(tb.admin); r.KafkaConnected || r.Code != 200 {
		t.Errorf("/readyz with a wrong password = %+v; want 200 (the spool takes records), kafka_connected false", r)
	}
	for _, e := range logs.All() {
		for _, f := range e.Context {
			if strings.Contains(f.String, "wrong-password") || strings.Contains(e.Message, "wrong-password") {
				t.Errorf("the password is in the log: %q %v", e.Message, e.Context)
			}
		}
	}
	var got inbox
	dev := dialV3(t, tb.addr, uniq(t, "dev"), true, got.v3())
	waitToken(t, dev.Subscribe("cmd/dev1", 1, nil), "subscribe")
	waitToken(t, dev.Publish("sec/dev1/direct", 1, false, "while-refused"), "publish while Kafka refuses the password")

	if err := os.WriteFile(w.cfg.Kafka.SASL.PasswordFile, []byte(testenv.ScramPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	consumeUntil(t, w.b.Plaintext, w.up, kafkaWait, func(ms []*sarama.ConsumerMessage) bool {
		for _, m := range ms {
			if string(m.Value) == "while-refused" {
				return true
			}
		}
		return false
	})
	waitFor(t, kafkaWait, "/readyz kafka_connected after the rotation", func() bool { return readyz(tb.admin).KafkaConnected })
	p := syncProducer(t, w.b.Plaintext)
	if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: w.down, Key: sarama.StringEncoder("dev1"), Value: sarama.StringEncoder("after-rotation")}); err != nil {
		t.Fatal(err)
	}
	got.waitAll(t, []string{"after-rotation"}, "the device")
	dev.Disconnect(100)
	tb.stop()
}
