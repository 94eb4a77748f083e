package store

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap/zaptest"
)

// copyFixture copies a testdata store file into a temp dir (Open migrates
// it in place).
func copyFixture(t *testing.T, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "mqtt.db")
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

func fileVersion(t *testing.T, s *Store) uint64 {
	t.Helper()
	var v uint64
	_ = s.db.View(func(tx *bolt.Tx) error {
		v, _ = binary.Uvarint(tx.Bucket([]byte("meta")).Get([]byte("version")))
		return nil
	})
	return v
}

// TestMigrateFormat1: a store written by the release before incremental
// subscriptions (testdata/format1.db) opens, is migrated to format 2 (each
// subscription under its own key) and reads back everything it held, in
// the subscription order it was written; a second open finds nothing to do.
func TestMigrateFormat1(t *testing.T) {
	path := copyFixture(t, v1FixturePath)
	s, err := Open(path, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("Open(format 1 file): %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	check := func(s *Store, when string) {
		t.Helper()
		if v := fileVersion(t, s); v != 2 {
			t.Fatalf("%s: format version %d; want 2", when, v)
		}
		sessions, msgs, retained := v1Fixture()
		got := allSessions(t, s)
		if len(got) != len(sessions) {
			t.Errorf("%s: %d sessions; want %d", when, len(got), len(sessions))
		}
		for _, want := range sessions {
			if !reflect.DeepEqual(got[want.ClientID], want) {
				t.Errorf("%s: session %.20q = %+v; want %+v", when, want.ClientID, got[want.ClientID], want)
			}
		}
		for id, want := range msgs {
			if got := allMessages(t, s, id); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: messages of %q = %+v; want %+v", when, id, got, want)
			}
		}
		gotR := allRetained(t, s)
		for _, want := range retained {
			if !reflect.DeepEqual(gotR[want.Topic], want) {
				t.Errorf("%s: retained %.20q = %+v; want %+v", when, want.Topic, gotR[want.Topic], want)
			}
		}
		if st := s.Stats(); st.Sessions != 4 || st.Messages != 3 || st.Retained != 2 {
			t.Errorf("%s: Stats = %+v; want 4 sessions, 3 messages, 2 retained", when, st)
		}
		// Each subscription is its own key under subscriptions/<client id>.
		_ = s.db.View(func(tx *bolt.Tx) error {
			subs := tx.Bucket([]byte("subscriptions"))
			if subs == nil {
				t.Errorf("%s: no subscriptions bucket", when)
				return nil
			}
			if b := subs.Bucket([]byte("many")); b == nil || b.Stats().KeyN != 300 {
				t.Errorf("%s: subscriptions/many missing or not 300 keys", when)
			}
			if v := tx.Bucket([]byte("sessions")).Get([]byte("many")); len(v) == 0 || v[0] != 2 {
				t.Errorf("%s: session record of many has format %x; want 2", when, v[:1])
			}
			return nil
		})
	}
	check(s, "after migration")
	s = reopen(t, s, path)
	check(s, "after reopen")
}
