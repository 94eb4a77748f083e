package mapping

import (
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/v2"
)

// fixtureFile is testdata/fixtures.yaml: a config plus the cases it must pass.
type fixtureFile struct {
	Mapping Config `koanf:"mapping"`
	Uplink  []struct {
		Topic      string `koanf:"topic"`
		ClientID   string `koanf:"client_id"`
		Outcome    string `koanf:"outcome"`
		Rule       string `koanf:"rule"`
		KafkaTopic string `koanf:"kafka_topic"`
		Key        string `koanf:"key"`
		Ack        Ack    `koanf:"ack"`
		Reason     Reason `koanf:"reason"`
	} `koanf:"uplink"`
	Downlink []struct {
		KafkaTopic string `koanf:"kafka_topic"`
		Key        string `koanf:"key"`
		MQTTTopic  string `koanf:"mqtt_topic"`
		Error      Reason `koanf:"error"`
	} `koanf:"downlink"`
}

func loadFixtures(t *testing.T) fixtureFile {
	t.Helper()
	raw, err := os.ReadFile("testdata/fixtures.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := yaml.Parser().Unmarshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(m, ""), nil); err != nil {
		t.Fatal(err)
	}
	var f fixtureFile
	if err := k.UnmarshalWithConf("", &f, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFixtures(t *testing.T) {
	f := loadFixtures(t)
	r := mustCompile(t, f.Mapping)
	for _, c := range f.Uplink {
		t.Run("uplink "+c.Topic, func(t *testing.T) {
			rec, out := r.Uplink(&Publish{Topic: c.Topic, ClientID: c.ClientID, Payload: []byte("x")})
			if out.String() != c.Outcome || rec.Rule != c.Rule || rec.Topic != c.KafkaTopic ||
				string(rec.Key) != c.Key || rec.Ack != c.Ack || rec.Reason != c.Reason {
				t.Errorf("Uplink(%q) = %v rule=%q topic=%q key=%q ack=%q reason=%q;\nwant %s rule=%q topic=%q key=%q ack=%q reason=%q",
					c.Topic, out, rec.Rule, rec.Topic, rec.Key, rec.Ack, rec.Reason,
					c.Outcome, c.Rule, c.KafkaTopic, c.Key, c.Ack, c.Reason)
			}
		})
	}
	for _, c := range f.Downlink {
		t.Run("downlink "+c.KafkaTopic+" "+c.Key, func(t *testing.T) {
			m, err := r.Downlink(&KafkaRecord{Topic: c.KafkaTopic, Key: []byte(c.Key)})
			var de *DownlinkError
			switch {
			case c.Error != "":
				if !errors.As(err, &de) || de.Reason != c.Error {
					t.Errorf("Downlink(%q, key %q) error = %v; want %s", c.KafkaTopic, c.Key, err, c.Error)
				}
			case err != nil || m.Topic != c.MQTTTopic:
				t.Errorf("Downlink(%q, key %q) = %q, %v; want %q", c.KafkaTopic, c.Key, m.Topic, err, c.MQTTTopic)
			}
		})
	}
}

// TestConcurrentUse runs the fixtures from many goroutines at once; with
// -race it proves the compiled rules are read-only.
func TestConcurrentUse(t *testing.T) {
	f := loadFixtures(t)
	r := mustCompile(t, f.Mapping)
	want := make([]Record, len(f.Uplink))
	for i, c := range f.Uplink {
		want[i], _ = r.Uplink(&Publish{Topic: c.Topic, ClientID: c.ClientID})
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				for i, c := range f.Uplink {
					rec, _ := r.Uplink(&Publish{Topic: c.Topic, ClientID: c.ClientID})
					if rec.Topic != want[i].Topic || string(rec.Key) != string(want[i].Key) {
						t.Errorf("concurrent Uplink(%q) = %q %q; want %q %q", c.Topic, rec.Topic, rec.Key, want[i].Topic, want[i].Key)
						return
					}
				}
				_, _ = r.Downlink(&KafkaRecord{Topic: "iot.commands", Key: []byte("d1")})
			}
		})
	}
	wg.Wait()
}
