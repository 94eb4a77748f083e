package mqttfront

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// TestPersistenceAcrossRestart: a Server restarted on the same DataDir
// keeps the session (Session Present), its queued messages, retained
// messages and inbound QoS 2 ids awaiting PUBREL.
func TestPersistenceAcrossRestart(t *testing.T) {
	for _, v := range []packets.Version{packets.V311, packets.V5} {
		t.Run(versionName(v), func(t *testing.T) {
			dir := t.TempDir()
			sink := &fakeSink{}
			ts := runServer(t, testConfig(dir), sink)

			s := mqttwire.Dial(t, ts.addr, v)
			s.Connect("keeper", mqttwire.Persistent(3600))
			s.Subscribe(1, "p/#", 1)
			// Leave an inbound QoS 2 flow awaiting PUBREL.
			s.Send(mqttwire.Publish("in/q2", "once", 2, 42))
			s.Expect(packets.PUBREC)
			s.Send(&packets.Packet{Type: packets.DISCONNECT})
			s.ExpectClosed(5 * time.Second)

			p := mqttwire.Dial(t, ts.addr, packets.V311)
			p.Connect("pub")
			p.Send(mqttwire.Publish("p/1", "one", 1, 1), mqttwire.Publish("p/2", "two", 2, 2))
			p.Expect(packets.PUBACK)
			p.Expect(packets.PUBREC)
			p.Send(&packets.Packet{Type: packets.PUBREL, PacketID: 2})
			p.Expect(packets.PUBCOMP)
			r := mqttwire.Publish("r/x", "kept", 1, 3)
			r.Retain = true
			p.Send(r)
			p.Expect(packets.PUBACK)
			ts.stop()

			ts2 := runServer(t, testConfig(dir), sink)
			s2 := mqttwire.Dial(t, ts2.addr, v)
			if ack := s2.Connect("keeper", mqttwire.Persistent(3600)); !ack.SessionPresent {
				t.Fatalf("Session Present = false after restart")
			}
			for i, want := range []string{"one", "two"} {
				m := s2.Expect(packets.PUBLISH)
				if string(m.Payload) != want {
					t.Fatalf("queued message %d = %q; want %q", i, m.Payload, want)
				}
				if m.QoS == 1 {
					s2.Send(&packets.Packet{Type: packets.PUBACK, PacketID: m.PacketID})
				} else {
					s2.Send(&packets.Packet{Type: packets.PUBREC, PacketID: m.PacketID})
					s2.Expect(packets.PUBREL)
					s2.Send(&packets.Packet{Type: packets.PUBCOMP, PacketID: m.PacketID})
				}
			}
			// The QoS 2 id is still known: a resend is re-acked, not resubmitted.
			before := sink.Len()
			d := mqttwire.Publish("in/q2", "once", 2, 42)
			d.Dup = true
			s2.Send(d)
			s2.Expect(packets.PUBREC)
			s2.Send(&packets.Packet{Type: packets.PUBREL, PacketID: 42})
			if c := s2.Expect(packets.PUBCOMP); c.ReasonCode != 0 {
				t.Errorf("PUBCOMP %v; want success for a persisted id", c.ReasonCode)
			}
			if sink.Len() != before {
				t.Errorf("duplicate QoS 2 publish reached the sink after restart")
			}
			// Retained survived.
			s2.Subscribe(2, "r/#", 0)
			if m := s2.Expect(packets.PUBLISH); string(m.Payload) != "kept" || !m.Retain {
				t.Errorf("retained %q retain=%v; want kept, retain", m.Payload, m.Retain)
			}
		})
	}
}

// TestInflightRedelivery: unacked QoS 1 is resent with DUP and a PUBREL
// pending is resent on reconnect [MQTT-4.4.0-1].
func TestInflightRedelivery(t *testing.T) {
	ts := runServer(t, testConfig(""), nil)
	s := mqttwire.Dial(t, ts.addr, packets.V5)
	s.Connect("rd", mqttwire.Persistent(600))
	s.Subscribe(1, "rd/#", 2)
	p := mqttwire.Dial(t, ts.addr, packets.V5)
	p.Connect("pub")
	p.Send(mqttwire.Publish("rd/1", "a", 1, 1), mqttwire.Publish("rd/2", "b", 2, 2))
	p.Expect(packets.PUBACK)
	p.Expect(packets.PUBREC)
	m1 := s.Expect(packets.PUBLISH)
	m2 := s.Expect(packets.PUBLISH)
	s.Send(&packets.Packet{Type: packets.PUBREC, PacketID: m2.PacketID})
	s.Expect(packets.PUBREL)
	s.Close()

	s2 := mqttwire.Dial(t, ts.addr, packets.V5)
	if ack := s2.Connect("rd", mqttwire.Persistent(600)); !ack.SessionPresent {
		t.Fatal("session not present")
	}
	r1 := s2.Expect(packets.PUBLISH)
	if !r1.Dup || r1.PacketID != m1.PacketID {
		t.Errorf("resent PUBLISH dup=%v id=%d; want DUP with id %d", r1.Dup, r1.PacketID, m1.PacketID)
	}
	if r2 := s2.Expect(packets.PUBREL); r2.PacketID != m2.PacketID {
		t.Errorf("resent PUBREL id %d; want %d", r2.PacketID, m2.PacketID)
	}
}

// TestCrashKeepsOnlineInflight: a copy of the store taken while the server
// runs (as after a crash) holds an unacked delivery to an online persistent
// session; a server started on the copy redelivers it with DUP.
func TestCrashKeepsOnlineInflight(t *testing.T) {
	dir := t.TempDir()
	ts := runServer(t, testConfig(dir), nil)
	s := mqttwire.Dial(t, ts.addr, packets.V5)
	s.Connect("crash", mqttwire.Persistent(3600))
	s.Subscribe(1, "c/#", 1)
	var err error
	ts.Publish(&Message{Topic: "c/x", Payload: []byte("cmd"), QoS: 1}, func(e error) { err = e })
	if err != nil {
		t.Fatal(err)
	}
	first := s.Expect(packets.PUBLISH) // not acked

	crashDir := t.TempDir()
	b, rerr := os.ReadFile(filepath.Join(dir, "mqtt.db"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	if err := os.WriteFile(filepath.Join(crashDir, "mqtt.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	ts2 := runServer(t, testConfig(crashDir), nil)
	s2 := mqttwire.Dial(t, ts2.addr, packets.V5)
	if ack := s2.Connect("crash", mqttwire.Persistent(3600)); !ack.SessionPresent {
		t.Fatal("session not present after crash")
	}
	p := s2.Expect(packets.PUBLISH)
	if string(p.Payload) != "cmd" || !p.Dup || p.PacketID != first.PacketID {
		t.Errorf("redelivered %q dup=%v id=%d; want cmd with DUP and id %d", p.Payload, p.Dup, p.PacketID, first.PacketID)
	}
}

// TestDataDirPermissions: the store holds queued payloads and sessions;
// the directories created for it are 0700 and mqtt.db is 0600.
func TestDataDirPermissions(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "var")
	dir := filepath.Join(parent, "mqtt")
	ts := runServer(t, testConfig(dir), nil)
	ts.stop()
	for _, d := range []string{parent, dir} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("directory %s: mode %v, %v; want 0700", d, fi.Mode().Perm(), err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "mqtt.db")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mqtt.db: mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
}
