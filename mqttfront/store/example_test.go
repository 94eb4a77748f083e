package store_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/store"
)

func Example() {
	dir, _ := os.MkdirTemp("", "store-example")
	defer os.RemoveAll(dir)
	s, err := store.Open(filepath.Join(dir, "mqtt.db"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	// A persistent session goes offline: store it with its queue atomically.
	var b store.Batch
	b.PutSession(&store.Session{
		ClientID:       "sensor-1",
		Version:        5,
		ExpiryInterval: 3600,
		DisconnectedAt: time.Now(),
		Subscriptions:  []store.Subscription{{Filter: "cmd/sensor-1/#", QoS: 1}},
	})
	b.PutMessage("sensor-1", 1, &store.Message{Topic: "cmd/sensor-1/reboot", QoS: 1, State: store.StatePublished, PacketID: 7})
	b.PutMessage("sensor-1", 2, &store.Message{Topic: "cmd/sensor-1/led", Payload: []byte("on"), QoS: 1})
	if err := s.Apply(&b); err != nil {
		fmt.Println(err)
		return
	}

	// After a restart: restore sessions, then each one's messages in order.
	_ = s.Sessions(func(sess *store.Session) error {
		fmt.Println("session", sess.ClientID, "subscriptions", len(sess.Subscriptions))
		return s.Messages(sess.ClientID, func(seq uint64, m *store.Message) error {
			fmt.Println(" ", seq, m.Topic, "state", m.State)
			return nil
		})
	})
	// Output:
	// session sensor-1 subscriptions 1
	//   1 cmd/sensor-1/reboot state 1
	//   2 cmd/sensor-1/led state 0
}
