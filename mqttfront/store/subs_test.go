package store

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap/zaptest"
)

func sessionSubs(t *testing.T, s *Store, id string) []Subscription {
	t.Helper()
	sess := allSessions(t, s)[id]
	if sess == nil {
		t.Fatalf("session %q missing", id)
	}
	return sess.Subscriptions
}

// TestIncrementalSubscriptions: PutSubscriptions adds or replaces by filter
// (a replaced one keeps its place), DeleteSubscriptions removes, and
// PutSessionState leaves the subscriptions alone, across a reopen.
func TestIncrementalSubscriptions(t *testing.T) {
	s, path := openTest(t)
	long := "l/" + strings.Repeat("x", 2000)
	mustOK(t, "PutSession", s.PutSession(&Session{ClientID: "c", Version: 5, Subscriptions: []Subscription{
		{Filter: "a", QoS: 1}, {Filter: "b", QoS: 2},
	}}))
	mustOK(t, "PutSubscriptions", s.PutSubscriptions("c",
		Subscription{Filter: "z", QoS: 0},
		Subscription{Filter: "a", QoS: 2, NoLocal: true, ID: 9}, // replace, keeps first place
		Subscription{Filter: long, QoS: 1, RetainHandling: 2}))
	mustOK(t, "DeleteSubscriptions", s.DeleteSubscriptions("c", "b", "never-there"))
	mustOK(t, "PutSessionState", s.PutSessionState(&Session{ClientID: "c", Version: 5, Username: "u",
		Subscriptions: []Subscription{{Filter: "ignored"}}}))
	want := []Subscription{{Filter: "a", QoS: 2, NoLocal: true, ID: 9}, {Filter: "z"}, {Filter: long, QoS: 1, RetainHandling: 2}}
	s = reopen(t, s, path)
	if got := sessionSubs(t, s, "c"); !reflect.DeepEqual(got, want) {
		t.Errorf("subscriptions = %+v; want %+v", got, want)
	}
	if u := allSessions(t, s)["c"].Username; u != "u" {
		t.Errorf("Username = %q after PutSessionState; want u", u)
	}

	// A batch does the same atomically.
	var b Batch
	b.PutSubscriptions("c", Subscription{Filter: "n", QoS: 1})
	b.DeleteSubscriptions("c", "z", long)
	b.PutSessionState(&Session{ClientID: "c", Version: 4})
	mustOK(t, "Apply", s.Apply(&b))
	if got, want := sessionSubs(t, s, "c"), []Subscription{{Filter: "a", QoS: 2, NoLocal: true, ID: 9}, {Filter: "n", QoS: 1}}; !reflect.DeepEqual(got, want) {
		t.Errorf("subscriptions after batch = %+v; want %+v", got, want)
	}

	// Deleting the last one removes the session's bucket; DeleteSession
	// removes the rest.
	mustOK(t, "DeleteSubscriptions", s.DeleteSubscriptions("c", "a", "n"))
	if got := sessionSubs(t, s, "c"); got != nil {
		t.Errorf("subscriptions after deleting all = %+v; want none", got)
	}
	mustOK(t, "PutSubscriptions", s.PutSubscriptions("c", Subscription{Filter: "again"}))
	mustOK(t, "DeleteSession", s.DeleteSession("c"))
	_ = s.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketSubs).Cursor().First(); k != nil {
			t.Errorf("subscriptions/%q left after DeleteSession", k)
		}
		return nil
	})
	// PutSession replaces the whole set.
	mustOK(t, "PutSubscriptions", s.PutSubscriptions("d", Subscription{Filter: "stale"}))
	mustOK(t, "PutSession", s.PutSession(&Session{ClientID: "d", Subscriptions: []Subscription{{Filter: "fresh"}}}))
	if got := sessionSubs(t, s, "d"); !reflect.DeepEqual(got, []Subscription{{Filter: "fresh"}}) {
		t.Errorf("subscriptions after PutSession = %+v; want only fresh", got)
	}
}

func TestSubscriptionArgumentsRefused(t *testing.T) {
	s, _ := openTest(t)
	for name, err := range map[string]error{
		"PutSubscriptions empty client":    s.PutSubscriptions("", Subscription{Filter: "f"}),
		"PutSubscriptions empty filter":    s.PutSubscriptions("c", Subscription{Filter: ""}),
		"DeleteSubscriptions empty filter": s.DeleteSubscriptions("c", ""),
		"PutSession empty filter":          s.PutSession(&Session{ClientID: "c", Subscriptions: []Subscription{{}}}),
	} {
		if !errors.Is(err, ErrEmptyKey) {
			t.Errorf("%s = %v; want ErrEmptyKey", name, err)
		}
	}
	if err := s.PutSubscriptions("c", Subscription{Filter: "f", QoS: 3}); !errors.Is(err, ErrInvalid) {
		t.Errorf("PutSubscriptions qos 3 = %v; want ErrInvalid", err)
	}
	var b Batch
	b.PutSubscriptions("c", Subscription{Filter: "ok"})
	b.DeleteSubscriptions("c", "")
	if err := s.Apply(&b); !errors.Is(err, ErrEmptyKey) {
		t.Errorf("Apply with an empty filter = %v; want ErrEmptyKey", err)
	}
	if got := allSessions(t, s); len(got) != 0 {
		t.Errorf("sessions after refused writes = %+v; want none", got)
	}
}

// TestCorruptSubscription: a bad subscription record stops the walk with
// an error naming it, or with SkipCorrupt is left out alone.
func TestCorruptSubscription(t *testing.T) {
	s, path := openTest(t)
	mustOK(t, "PutSession", s.PutSession(&Session{ClientID: "c", Subscriptions: []Subscription{{Filter: "good"}, {Filter: "bad"}}}))
	mustOK(t, "corrupt", s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSubs).Bucket([]byte("c")).Put([]byte("bad"), []byte{subscriptionFormatV1, 2, 3, 'b', 'a', 'd', 7, 0, 0, 0})
	}))
	err := s.Sessions(func(*Session) error { return nil })
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Record != "subscription" || !strings.Contains(ce.Key, "bad") {
		t.Fatalf("Sessions = %v; want a CorruptError naming subscription bad", err)
	}
	mustOK(t, "Close", s.Close())
	s, err = OpenOptions(path, zaptest.NewLogger(t), Options{NoSync: true, SkipCorrupt: true})
	mustOK(t, "reopen", err)
	t.Cleanup(func() { _ = s.Close() })
	if got := sessionSubs(t, s, "c"); !reflect.DeepEqual(got, []Subscription{{Filter: "good"}}) {
		t.Errorf("subscriptions with SkipCorrupt = %+v; want only good", got)
	}
	if n := s.Stats().CorruptSkipped; n != 1 {
		t.Errorf("CorruptSkipped = %d; want 1", n)
	}
}

// pageBytes returns the bytes of pages bbolt has allocated (and so
// written) in committed write transactions so far.
func pageBytes(s *Store) int64 {
	st := s.db.Stats()
	return st.TxStats.GetPageAlloc()
}

// TestSubscribeWritesConstant: adding or removing one subscription of a
// session with 10,000 writes about the same few pages as with 10, while
// replacing the whole session (what the broker did per SUBSCRIBE before
// store format 2) writes all of them.
func TestSubscribeWritesConstant(t *testing.T) {
	cost := func(n int) (sub, unsub, full int64) {
		s, _ := openTest(t)
		sess := &Session{ClientID: "c", ExpiryInterval: 60}
		for i := range n {
			sess.Subscriptions = append(sess.Subscriptions, Subscription{Filter: fmt.Sprintf("fleet/site-%05d/device/+/telemetry/#", i), QoS: 1})
		}
		mustOK(t, "PutSession", s.PutSession(sess))
		p0 := pageBytes(s)
		mustOK(t, "PutSubscriptions", s.PutSubscriptions("c", Subscription{Filter: "one/more", QoS: 1}))
		p1 := pageBytes(s)
		mustOK(t, "DeleteSubscriptions", s.DeleteSubscriptions("c", "fleet/site-00007/device/+/telemetry/#"))
		p2 := pageBytes(s)
		mustOK(t, "PutSession", s.PutSession(sess))
		return p1 - p0, p2 - p1, pageBytes(s) - p2
	}
	sub10, unsub10, _ := cost(10)
	sub, unsub, full := cost(10000)
	t.Logf("10 subscriptions: +1 writes %d B, -1 %d B; 10,000: +1 %d B, -1 %d B, whole session %d B", sub10, unsub10, sub, unsub, full)
	if sub > 4*sub10+16<<10 || unsub > 4*unsub10+16<<10 {
		t.Errorf("with 10,000 subscriptions one more writes %d B and one less %d B; want about what 10 cost (%d, %d B)", sub, unsub, sub10, unsub10)
	}
	if full < 300<<10 {
		t.Errorf("rewriting 10,000 subscriptions wrote %d B; want >= 300 KiB (the test measures the wrong thing)", full)
	}
}

func FuzzDecodeSubscription(f *testing.F) {
	for _, sub := range []Subscription{{Filter: "a/#", QoS: 1}, {Filter: "$share/g/x", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2, ID: 268435455}} {
		f.Add(appendSubscription(nil, 7, appendSubscriptionBody(nil, &sub)))
	}
	f.Add([]byte{subscriptionFormatV1, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, sub, err := decodeSubscription(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeSubscription error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		seq2, again, err := decodeSubscription(appendSubscription(nil, seq, appendSubscriptionBody(nil, &sub)))
		if err != nil || seq2 != seq || !reflect.DeepEqual(again, sub) {
			t.Fatalf("re-encoded subscription does not round trip: %d %+v, %v; want %d %+v", seq2, again, err, seq, sub)
		}
		if got, ok := subscriptionSeq(b); !ok || got != seq {
			t.Fatalf("subscriptionSeq = %d, %v; want %d", got, ok, seq)
		}
	})
}
