package integration

// The bridge against the secured broker (kafka.sh --security sasl_ssl),
// through each mechanism: uplink, downlink, the spool's drainer and
// /readyz, each over its own connections with the bridge's TLS and SASL
// settings.

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/iotbridge/mqtt-kafka-bridge/bridge"
	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
)

// secureCase is one way of reaching the secured broker.
type secureCase struct {
	name      string
	principal string // "" for ANONYMOUS (TLS without a client certificate: a super user here)
	// setup points k at the broker and sets its TLS and SASL keys.
	setup func(t *testing.T, b testenv.SecureBroker, k *kafka.Config)
}

func withCA(b testenv.SecureBroker, k *kafka.Config) {
	k.TLS.Enabled = true
	k.TLS.CAFile = filepath.Join(b.TLSDir, "ca.pem")
}

func saslCase(name, mech, user, pass string) secureCase {
	return secureCase{name: name, principal: user, setup: func(t *testing.T, b testenv.SecureBroker, k *kafka.Config) {
		k.BootstrapServers = []string{b.SASLSSL}
		withCA(b, k)
		k.SASL.Mechanism, k.SASL.Username = mech, user
		// From a file, as production should: the test of rotation reuses it.
		k.SASL.PasswordFile = writeSecret(t, t.TempDir(), "password", pass+"\n")
	}}
}

var secureCases = []secureCase{
	{name: "TLS", setup: func(t *testing.T, b testenv.SecureBroker, k *kafka.Config) {
		k.BootstrapServers = []string{b.SSL}
		withCA(b, k)
	}},
	{name: "mTLS", principal: testenv.MTLSUser, setup: func(t *testing.T, b testenv.SecureBroker, k *kafka.Config) {
		k.BootstrapServers = []string{b.SSL}
		withCA(b, k)
		k.TLS.CertFile = filepath.Join(b.TLSDir, "client.pem")
		k.TLS.KeyFile = filepath.Join(b.TLSDir, "client.key")
	}},
	saslCase("PLAIN", kafka.SASLPlain, testenv.PlainUser, testenv.PlainPassword),
	saslCase("SCRAM-SHA-256", kafka.SASLScramSHA256, testenv.ScramUser, testenv.ScramPassword),
	saslCase("SCRAM-SHA-512", kafka.SASLScramSHA512, testenv.ScramUser, testenv.ScramPassword),
	{name: "OAUTHBEARER", principal: "bridgeoauth", setup: func(t *testing.T, b testenv.SecureBroker, k *kafka.Config) {
		k.BootstrapServers = []string{b.SASLSSL}
		withCA(b, k)
		k.SASL.Mechanism = kafka.SASLOAuthBearer
		k.SASL.OAuthBearer.TokenFile = writeSecret(t, t.TempDir(), "token", jwtFor("bridgeoauth", time.Now().Add(time.Hour)))
	}},
}

// secureWorld is one secured test's topics, group and bridge config.
type secureWorld struct {
	b           testenv.SecureBroker
	up, down    string
	group       string
	cfg         bridge.Config
	principal   string
	grantTopics bool
}

// newSecureWorld creates the test's topics (over the plaintext listener),
// grants c's principal its ACLs, and builds a bridge config through c
// with the spool on and three rules: direct uplink, spooled uplink (ack:
// spool, so every record goes through the drainer) and a downlink.
func newSecureWorld(t *testing.T, c secureCase) *secureWorld {
	t.Helper()
	b := testenv.SecureKafka(t)
	w := &secureWorld{b: b, up: uniq(t, "up"), down: uniq(t, "down"), principal: c.principal}
	testenv.CreateTopic(t, b.Plaintext, w.up, 3)
	testenv.CreateTopic(t, b.Plaintext, w.down, 1)
	w.cfg = testConfig(t, b.Plaintext)
	w.group = w.cfg.Kafka.Consumer.GroupID
	if c.principal != "" {
		grant(t, b, c.principal, []string{w.up}, []string{w.down}, w.group)
	}
	k := &w.cfg.Kafka
	c.setup(t, b, k)
	k.Spool.Enabled = true
	k.Spool.Dir = filepath.Join(t.TempDir(), "spool")
	w.cfg.Mapping.Uplink = []mapping.UplinkRule{
		{Name: "direct", MQTTTopic: "sec/{device}/direct", KafkaTopic: w.up, Key: "{device}"},
		{Name: "spooled", MQTTTopic: "sec/{device}/spooled", KafkaTopic: w.up, Key: "{device}", Ack: mapping.AckSpool},
	}
	w.cfg.Mapping.Downlink = []mapping.DownlinkRule{{Name: "cmd", KafkaTopics: []string{w.down}, MQTTTopic: "cmd/{key}", QoS: 1}}
	return w
}

// roundTrip proves uplink (direct and through the spool's drainer),
// downlink and /readyz through the bridge tb.
func (w *secureWorld) roundTrip(t *testing.T, tb *testBridge, tag string) {
	t.Helper()
	waitFor(t, kafkaWait, "/readyz kafka_connected", func() bool { return readyz(tb.admin).KafkaConnected })
	var got inbox
	dev := dialV3(t, tb.addr, uniq(t, "dev"), true, got.v3())
	waitToken(t, dev.Subscribe("cmd/dev1", 1, nil), "subscribe")
	direct, spooled := "direct-"+tag, "spooled-"+tag
	waitToken(t, dev.Publish("sec/dev1/direct", 1, false, direct), "publish direct")
	waitToken(t, dev.Publish("sec/dev1/spooled", 1, false, spooled), "publish spooled")
	consumeUntil(t, w.b.Plaintext, w.up, kafkaWait, func(ms []*sarama.ConsumerMessage) bool {
		seen := map[string]bool{}
		for _, m := range ms {
			seen[string(m.Value)] = true
		}
		return seen[direct] && seen[spooled]
	})
	waitFor(t, kafkaWait, "mqtt_bridge_spool_drained_total >= 1", func() bool {
		n, ok := metric(t, tb.admin, "mqtt_bridge_spool_drained_total")
		return ok && n >= 1
	})
	cmd := "cmd-" + tag
	p := syncProducer(t, w.b.Plaintext)
	if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: w.down, Key: sarama.StringEncoder("dev1"), Value: sarama.StringEncoder(cmd)}); err != nil {
		t.Fatalf("produce the command: %v", err)
	}
	got.waitAll(t, []string{cmd}, "the device")
	if r := readyz(tb.admin); r.Code != 200 || !r.Ready || !r.KafkaConnected {
		t.Errorf("/readyz = %+v; want 200, ready, kafka_connected", r)
	}
	dev.Disconnect(100)
}

// TestSecureMechanisms runs the bridge in-process through each mechanism:
// a publish on a direct rule and one on an ack: spool rule (so the
// spool's drainer, which probes Kafka with its own client, sends it) both
// reach Kafka; a command produced to the downlink topic reaches the
// device; /readyz says ready and kafka_connected. Each principal has only
// the ACLs the bridge needs.
func TestSecureMechanisms(t *testing.T) {
	for _, c := range secureCases {
		t.Run(c.name, func(t *testing.T) {
			w := newSecureWorld(t, c)
			tb := startBridge(t, w.cfg)
			w.roundTrip(t, tb, c.name)
			tb.stop()
		})
	}
}

// TestSecureSCRAMNonASCII authenticates with non-ASCII SCRAM passwords
// against the real broker: one in NFC form (SASLprep leaves it alone) with
// both hashes, and one with a no-break space (SASLprep would turn it into
// a space). Kafka hashes the raw UTF-8, so both must work as typed; the
// last case shows that a SASLprep'ed client is refused for the second.
func TestSecureSCRAMNonASCII(t *testing.T) {
	b := testenv.SecureKafka(t)
	connect := func(mech, user, pass string) error {
		k := kafka.DefaultConfig()
		k.BootstrapServers = []string{b.SASLSSL}
		withCA(b, &k)
		k.SASL.Mechanism, k.SASL.Username, k.SASL.Password = mech, user, pass
		sc, err := k.SaramaConfig()
		if err != nil {
			return err
		}
		sc.Metadata.Retry.Max = 0
		c, err := sarama.NewClient(k.BootstrapServers, sc)
		if err != nil {
			return err
		}
		return c.Close()
	}
	for _, tc := range []struct{ mech, user, pass string }{
		{kafka.SASLScramSHA256, testenv.UTF8User, testenv.UTF8Password},
		{kafka.SASLScramSHA512, testenv.UTF8User, testenv.UTF8Password},
		{kafka.SASLScramSHA256, testenv.NBSPUser, testenv.NBSPPassword},
	} {
		if err := connect(tc.mech, tc.user, tc.pass); err != nil {
			t.Errorf("%s as %s: %v; want connected", tc.mech, tc.user, err)
		}
	}
	// What SASLprep would send: the no-break space mapped to a space.
	err := connect(kafka.SASLScramSHA256, testenv.NBSPUser, "nbsp secret")
	if kafka.ErrorKind(err) != kafka.KindAuthentication {
		t.Errorf("the SASLprep'ed password: %v (kind %q); want kind %q", err, kafka.ErrorKind(err), kafka.KindAuthentication)
	}
}

// TestSecureOAuthBearerRejectsBadTokens: Kafka's unsecured validator
// refuses an expired token and a malformed one, and the error is of kind
// authentication.
func TestSecureOAuthBearerRejectsBadTokens(t *testing.T) {
	b := testenv.SecureKafka(t)
	for name, tok := range map[string]string{
		"expired":   jwtFor("bridgeoauth", time.Now().Add(-time.Hour)),
		"malformed": "not-a-jwt",
		"no sub":    unsecuredJWT(map[string]any{"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}),
	} {
		t.Run(name, func(t *testing.T) {
			k := kafka.DefaultConfig()
			k.BootstrapServers = []string{b.SASLSSL}
			withCA(b, &k)
			k.SASL.Mechanism = kafka.SASLOAuthBearer
			k.SASL.OAuthBearer.TokenFile = writeSecret(t, t.TempDir(), "token", tok)
			err := dialErr(t, k)
			if kafka.ErrorKind(err) != kafka.KindAuthentication {
				t.Errorf("token %s: %v (kind %q); want kind %q", name, err, kafka.ErrorKind(err), kafka.KindAuthentication)
			}
		})
	}
}

// dialErr builds a sarama client from k's connection settings and returns
// the error of its first metadata request (nil when it worked).
func dialErr(t testing.TB, k kafka.Config) error {
	t.Helper()
	sc, err := k.SaramaConfig()
	if err != nil {
		t.Fatalf("SaramaConfig: %v", err)
	}
	sc.Metadata.Retry.Max = 0
	sc.Net.DialTimeout = 10 * time.Second
	c, err := sarama.NewClient(k.BootstrapServers, sc)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.RefreshMetadata()
}
