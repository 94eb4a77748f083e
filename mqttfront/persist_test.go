package mqttfront

import (
	"os"
	"path/filepath"
	"testing"
	"time"

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

			s := dial(t, ts.addr, v)
			s.connect("keeper", persistent(3600))
			s.subscribe(1, "p/#", 1)
			// Leave an inbound QoS 2 flow awaiting PUBREL.
			s.send(pub("in/q2", "once", 2, 42))
			s.expect(packets.PUBREC)
			s.send(&packets.Packet{Type: packets.DISCONNECT})
			s.expectClosed(5 * time.Second)

			p := dial(t, ts.addr, packets.V311)
			p.connect("pub")
			p.send(pub("p/1", "one", 1, 1), pub("p/2", "two", 2, 2))
			p.expect(packets.PUBACK)
			p.expect(packets.PUBREC)
			p.send(&packets.Packet{Type: packets.PUBREL, PacketID: 2})
			p.expect(packets.PUBCOMP)
			r := pub("r/x", "kept", 1, 3)
			r.Retain = true
			p.send(r)
			p.expect(packets.PUBACK)
			ts.stop()

			ts2 := runServer(t, testConfig(dir), sink)
			s2 := dial(t, ts2.addr, v)
			if ack := s2.connect("keeper", persistent(3600)); !ack.SessionPresent {
				t.Fatalf("Session Present = false after restart")
			}
			for i, want := range []string{"one", "two"} {
				m := s2.expect(packets.PUBLISH)
				if string(m.Payload) != want {
					t.Fatalf("queued message %d = %q; want %q", i, m.Payload, want)
				}
				if m.QoS == 1 {
					s2.send(&packets.Packet{Type: packets.PUBACK, PacketID: m.PacketID})
				} else {
					s2.send(&packets.Packet{Type: packets.PUBREC, PacketID: m.PacketID})
					s2.expect(packets.PUBREL)
					s2.send(&packets.Packet{Type: packets.PUBCOMP, PacketID: m.PacketID})
				}
			}
			// The QoS 2 id is still known: a resend is re-acked, not resubmitted.
			before := sink.Len()
			d := pub("in/q2", "once", 2, 42)
			d.Dup = true
			s2.send(d)
			s2.expect(packets.PUBREC)
			s2.send(&packets.Packet{Type: packets.PUBREL, PacketID: 42})
			if c := s2.expect(packets.PUBCOMP); c.ReasonCode != 0 {
				t.Errorf("PUBCOMP %v; want success for a persisted id", c.ReasonCode)
			}
			if sink.Len() != before {
				t.Errorf("duplicate QoS 2 publish reached the sink after restart")
			}
			// Retained survived.
			s2.subscribe(2, "r/#", 0)
			if m := s2.expect(packets.PUBLISH); string(m.Payload) != "kept" || !m.Retain {
				t.Errorf("retained %q retain=%v; want kept, retain", m.Payload, m.Retain)
			}
		})
	}
}

// TestInflightRedelivery: unacked QoS 1 is resent with DUP and a PUBREL
// pending is resent on reconnect [MQTT-4.4.0-1].
func TestInflightRedelivery(t *testing.T) {
	ts := runServer(t, testConfig(""), nil)
	s := dial(t, ts.addr, packets.V5)
	s.connect("rd", persistent(600))
	s.subscribe(1, "rd/#", 2)
	p := dial(t, ts.addr, packets.V5)
	p.connect("pub")
	p.send(pub("rd/1", "a", 1, 1), pub("rd/2", "b", 2, 2))
	p.expect(packets.PUBACK)
	p.expect(packets.PUBREC)
	m1 := s.expect(packets.PUBLISH)
	m2 := s.expect(packets.PUBLISH)
	s.send(&packets.Packet{Type: packets.PUBREC, PacketID: m2.PacketID})
	s.expect(packets.PUBREL)
	_ = s.nc.Close()

	s2 := dial(t, ts.addr, packets.V5)
	if ack := s2.connect("rd", persistent(600)); !ack.SessionPresent {
		t.Fatal("session not present")
	}
	r1 := s2.expect(packets.PUBLISH)
	if !r1.Dup || r1.PacketID != m1.PacketID {
		t.Errorf("resent PUBLISH dup=%v id=%d; want DUP with id %d", r1.Dup, r1.PacketID, m1.PacketID)
	}
	if r2 := s2.expect(packets.PUBREL); r2.PacketID != m2.PacketID {
		t.Errorf("resent PUBREL id %d; want %d", r2.PacketID, m2.PacketID)
	}
}

// TestCrashKeepsOnlineInflight: a copy of the store taken while the server
// runs (as after a crash) holds an unacked delivery to an online persistent
// session; a server started on the copy redelivers it with DUP.
func TestCrashKeepsOnlineInflight(t *testing.T) {
	dir := t.TempDir()
	ts := runServer(t, testConfig(dir), nil)
	s := dial(t, ts.addr, packets.V5)
	s.connect("crash", persistent(3600))
	s.subscribe(1, "c/#", 1)
	var err error
	ts.Publish(&Message{Topic: "c/x", Payload: []byte("cmd"), QoS: 1}, func(e error) { err = e })
	if err != nil {
		t.Fatal(err)
	}
	first := s.expect(packets.PUBLISH) // not acked

	crashDir := t.TempDir()
	b, rerr := os.ReadFile(filepath.Join(dir, "mqtt.db"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	if err := os.WriteFile(filepath.Join(crashDir, "mqtt.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	ts2 := runServer(t, testConfig(crashDir), nil)
	s2 := dial(t, ts2.addr, packets.V5)
	if ack := s2.connect("crash", persistent(3600)); !ack.SessionPresent {
		t.Fatal("session not present after crash")
	}
	p := s2.expect(packets.PUBLISH)
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
