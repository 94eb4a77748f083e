package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
)

func TestMain(m *testing.M) {
	// bbolt's Batch runs commits on time.AfterFunc goroutines.
	goleak.VerifyTestMain(m)
}

// openTest opens a fresh store in a temp dir. NoSync keeps the suite fast;
// TestDurableDefaults covers the fsync path.
func openTest(t *testing.T) (*Store, string) {
	t.Helper()
	return openTestOptions(t, Options{NoSync: true})
}

func openTestOptions(t *testing.T, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nested", "dir", "state.db")
	s, err := OpenOptions(path, zaptest.NewLogger(t), opts)
	if err != nil {
		t.Fatalf("OpenOptions(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func reopen(t *testing.T, s *Store, path string) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s2, err := Open(path, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("reopen %s: %v", path, err)
	}
	t.Cleanup(func() { _ = s2.Close() })
	return s2
}

func allSessions(t *testing.T, s *Store) map[string]*Session {
	t.Helper()
	got := map[string]*Session{}
	if err := s.Sessions(func(sess *Session) error {
		got[sess.ClientID] = sess
		return nil
	}); err != nil {
		t.Fatalf("Sessions: %v", err)
	}
	return got
}

type seqMsg struct {
	Seq uint64
	M   *Message
}

func allMessages(t *testing.T, s *Store, clientID string) []seqMsg {
	t.Helper()
	var got []seqMsg
	if err := s.Messages(clientID, func(seq uint64, m *Message) error {
		got = append(got, seqMsg{seq, m})
		return nil
	}); err != nil {
		t.Fatalf("Messages(%q): %v", clientID, err)
	}
	return got
}

func allRetained(t *testing.T, s *Store) map[string]*Message {
	t.Helper()
	got := map[string]*Message{}
	if err := s.Retained(func(m *Message) error {
		got[m.Topic] = m
		return nil
	}); err != nil {
		t.Fatalf("Retained: %v", err)
	}
	return got
}

func mustOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func TestRoundTripAcrossReopen(t *testing.T) {
	s, path := openTest(t)
	sess := fullSession()
	minimal := &Session{ClientID: "minimal", Version: 3}
	mustOK(t, "PutSession", s.PutSession(sess))
	mustOK(t, "PutSession", s.PutSession(minimal))
	mustOK(t, "PutMessage", s.PutMessage(sess.ClientID, 1, fullMessage()))
	mustOK(t, "PutMessage", s.PutMessage(sess.ClientID, 2, &Message{Topic: "q"}))
	mustOK(t, "PutRetained", s.PutRetained(fullMessage()))

	s = reopen(t, s, path)
	if got, want := allSessions(t, s), map[string]*Session{sess.ClientID: sess, minimal.ClientID: minimal}; !reflect.DeepEqual(got, want) {
		t.Errorf("Sessions after reopen = %+v; want %+v", got, want)
	}
	wantMsgs := []seqMsg{{1, fullMessage()}, {2, &Message{Topic: "q"}}}
	if got := allMessages(t, s, sess.ClientID); !reflect.DeepEqual(got, wantMsgs) {
		t.Errorf("Messages after reopen = %+v; want %+v", got, wantMsgs)
	}
	if got, want := allRetained(t, s), map[string]*Message{fullMessage().Topic: fullMessage()}; !reflect.DeepEqual(got, want) {
		t.Errorf("Retained after reopen = %+v; want %+v", got, want)
	}
	if got, want := s.Stats(), (Stats{Sessions: 2, Messages: 2, Retained: 1}); got.Sessions != want.Sessions ||
		got.Messages != want.Messages || got.Retained != want.Retained || got.FileBytes <= 0 {
		t.Errorf("Stats after reopen = %+v; want counts %+v and FileBytes > 0", got, want)
	}
}

func TestReplace(t *testing.T) {
	s, _ := openTest(t)
	mustOK(t, "PutSession", s.PutSession(&Session{ClientID: "c", Version: 4, Username: "old"}))
	mustOK(t, "PutSession", s.PutSession(&Session{ClientID: "c", Version: 5, Username: "new"}))
	mustOK(t, "PutMessage", s.PutMessage("c", 5, &Message{Topic: "t", State: StateQueued}))
	mustOK(t, "PutMessage", s.PutMessage("c", 5, &Message{Topic: "t", State: StatePublished, PacketID: 3}))
	mustOK(t, "PutRetained", s.PutRetained(&Message{Topic: "r", Payload: []byte("1")}))
	mustOK(t, "PutRetained", s.PutRetained(&Message{Topic: "r", Payload: []byte("2")}))

	if got := allSessions(t, s); len(got) != 1 || got["c"].Username != "new" || got["c"].Version != 5 {
		t.Errorf("Sessions after replace = %+v; want one session c with Username new", got)
	}
	if got := allMessages(t, s, "c"); len(got) != 1 || got[0].M.State != StatePublished || got[0].M.PacketID != 3 {
		t.Errorf("Messages after replace = %+v; want one message in state 1 with packet id 3", got)
	}
	if got := allRetained(t, s); len(got) != 1 || string(got["r"].Payload) != "2" {
		t.Errorf("Retained after replace = %+v; want r = 2", got)
	}
	if st := s.Stats(); st.Sessions != 1 || st.Messages != 1 || st.Retained != 1 {
		t.Errorf("Stats after replace = %+v; want 1/1/1", st)
	}
}

func TestDeletes(t *testing.T) {
	s, path := openTest(t)
	for _, id := range []string{"a", "b"} {
		mustOK(t, "PutSession", s.PutSession(&Session{ClientID: id}))
		for seq := uint64(1); seq <= 3; seq++ {
			mustOK(t, "PutMessage", s.PutMessage(id, seq, &Message{Topic: id}))
		}
	}
	mustOK(t, "PutRetained", s.PutRetained(&Message{Topic: "r"}))

	mustOK(t, "DeleteMessage", s.DeleteMessage("b", 2))
	mustOK(t, "DeleteMessage missing", s.DeleteMessage("b", 99))
	mustOK(t, "DeleteMessage unknown client", s.DeleteMessage("zzz", 1))
	mustOK(t, "DeleteSession", s.DeleteSession("a"))
	mustOK(t, "DeleteSession missing", s.DeleteSession("a"))
	mustOK(t, "DeleteRetained", s.DeleteRetained("r"))
	mustOK(t, "DeleteRetained missing", s.DeleteRetained("r"))

	s = reopen(t, s, path)
	if got := allSessions(t, s); len(got) != 1 || got["b"] == nil {
		t.Errorf("Sessions = %v; want only b", got)
	}
	if got := allMessages(t, s, "a"); len(got) != 0 {
		t.Errorf("Messages(a) after DeleteSession = %+v; want none (cascade)", got)
	}
	if got := allMessages(t, s, "b"); len(got) != 2 || got[0].Seq != 1 || got[1].Seq != 3 {
		t.Errorf("Messages(b) = %+v; want seqs 1, 3", got)
	}
	if got := allRetained(t, s); len(got) != 0 {
		t.Errorf("Retained = %v; want none", got)
	}
	if st := s.Stats(); st.Sessions != 1 || st.Messages != 2 || st.Retained != 0 {
		t.Errorf("Stats = %+v; want 1 session, 2 messages, 0 retained", st)
	}
	// The cascade must also have removed a's nested bucket.
	_ = s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMessages).Bucket([]byte("a")) != nil {
			t.Error("messages/a bucket still exists after DeleteSession")
		}
		return nil
	})
}

// Seqs are big-endian keys, so iteration follows numeric order, across more
// records than one iteration chunk.
func TestMessagesInSeqOrder(t *testing.T) {
	s, _ := openTest(t)
	seqs := []uint64{1 << 40, 256, 1, 255, 65536, 2, 0}
	for i := range 2 * iterChunk {
		seqs = append(seqs, uint64(1000+i))
	}
	for _, seq := range seqs {
		mustOK(t, "PutMessage", s.PutMessage("c", seq, &Message{Topic: fmt.Sprint(seq)}))
	}
	mustOK(t, "PutMessage other", s.PutMessage("c2", 3, &Message{Topic: "other"}))
	got := allMessages(t, s, "c")
	if len(got) != len(seqs) {
		t.Fatalf("Messages returned %d records; want %d", len(got), len(seqs))
	}
	for i, sm := range got {
		if i > 0 && sm.Seq <= got[i-1].Seq {
			t.Fatalf("Messages out of order at %d: %d after %d", i, sm.Seq, got[i-1].Seq)
		}
		if sm.M.Topic != fmt.Sprint(sm.Seq) {
			t.Fatalf("message %d has topic %q; want %q", sm.Seq, sm.M.Topic, fmt.Sprint(sm.Seq))
		}
	}
}

// The iteration callback runs outside a transaction, so it may write.
func TestCallbackMayWrite(t *testing.T) {
	s, _ := openTest(t)
	for seq := range uint64(600) {
		mustOK(t, "PutMessage", s.PutMessage("c", seq, &Message{Topic: "t"}))
	}
	n := 0
	mustOK(t, "Messages", s.Messages("c", func(seq uint64, _ *Message) error {
		n++
		return s.DeleteMessage("c", seq)
	}))
	if n != 600 {
		t.Errorf("callback ran %d times; want 600", n)
	}
	if got := allMessages(t, s, "c"); len(got) != 0 {
		t.Errorf("%d messages left after deleting all in the callback", len(got))
	}
	if st := s.Stats(); st.Messages != 0 {
		t.Errorf("Stats().Messages = %d; want 0", st.Messages)
	}
}

func TestCallbackErrorStops(t *testing.T) {
	s, _ := openTest(t)
	for i := range 3 {
		mustOK(t, "PutSession", s.PutSession(&Session{ClientID: fmt.Sprint(i)}))
	}
	stop := errors.New("stop")
	n := 0
	err := s.Sessions(func(*Session) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("Sessions with failing callback = %v after %d calls; want stop after 1", err, n)
	}
}

func TestConcurrentWriters(t *testing.T) {
	modes := []struct {
		name string
		opts Options
	}{
		{"group commit", Options{NoSync: true}},
		{"bbolt batch", Options{NoSync: true, MaxBatchDelay: time.Millisecond}},
		{"batch size 3", Options{NoSync: true, MaxBatchSize: 3}},
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) { testConcurrentWriters(t, mode.opts) })
	}
}

func testConcurrentWriters(t *testing.T, opts Options) {
	s, path := openTestOptions(t, opts)
	const writers, perWriter = 32, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			id := fmt.Sprintf("client-%d", w)
			if err := s.PutSession(&Session{ClientID: id, Version: 5}); err != nil {
				errs <- err
				return
			}
			for seq := range uint64(perWriter) {
				if err := s.PutMessage(id, seq, &Message{Topic: id, Payload: []byte{byte(seq)}}); err != nil {
					errs <- err
					return
				}
				if seq%2 == 1 {
					if err := s.DeleteMessage(id, seq); err != nil {
						errs <- err
						return
					}
				}
			}
			if err := s.PutRetained(&Message{Topic: id}); err != nil {
				errs <- err
			}
			if w%4 == 0 {
				if err := s.DeleteSession(id); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent write: %v", err)
	}
	s = reopen(t, s, path)
	wantSessions := writers - writers/4
	if got := allSessions(t, s); len(got) != wantSessions {
		t.Errorf("%d sessions; want %d", len(got), wantSessions)
	}
	total := 0
	for w := range writers {
		id := fmt.Sprintf("client-%d", w)
		msgs := allMessages(t, s, id)
		want := perWriter / 2
		if w%4 == 0 {
			want = 0
		}
		if len(msgs) != want {
			t.Errorf("Messages(%s) = %d records; want %d", id, len(msgs), want)
		}
		total += len(msgs)
	}
	st := s.Stats()
	if st.Sessions != int64(wantSessions) || st.Messages != int64(total) || st.Retained != writers {
		t.Errorf("Stats = %+v; want %d sessions, %d messages, %d retained", st, wantSessions, total, writers)
	}
}

func TestCorruptRecordNamesKey(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(tx *bolt.Tx) error
		iterate func(s *Store) error
		wantIn  string
	}{
		{
			name:    "session",
			corrupt: func(tx *bolt.Tx) error { return tx.Bucket(bucketSessions).Put([]byte("bad-client"), []byte{1, 0}) },
			iterate: func(s *Store) error { return s.Sessions(func(*Session) error { return nil }) },
			wantIn:  `"bad-client"`,
		},
		{
			name: "message",
			corrupt: func(tx *bolt.Tx) error {
				q, err := tx.Bucket(bucketMessages).CreateBucketIfNotExists([]byte("c"))
				if err != nil {
					return err
				}
				return q.Put(binary.BigEndian.AppendUint64(nil, 77), []byte{9, 9, 9})
			},
			iterate: func(s *Store) error { return s.Messages("c", func(uint64, *Message) error { return nil }) },
			wantIn:  `messages of "c": message 77`,
		},
		{
			name:    "retained",
			corrupt: func(tx *bolt.Tx) error { return tx.Bucket(bucketRetained).Put([]byte("a/b"), []byte{1}) },
			iterate: func(s *Store) error { return s.Retained(func(*Message) error { return nil }) },
			wantIn:  `"a/b"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t)
			mustOK(t, "corrupt", s.db.Update(tt.corrupt))
			err := tt.iterate(s)
			var ce *CorruptError
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.Record != tt.name || !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("iterate over corrupt %s = %v; want a *CorruptError for %s naming %s", tt.name, err, tt.name, tt.wantIn)
			}
		})
	}
}

func TestSkipCorrupt(t *testing.T) {
	s, _ := openTestOptions(t, Options{NoSync: true, SkipCorrupt: true})
	mustOK(t, "PutSession", s.PutSession(&Session{ClientID: "a"}))
	mustOK(t, "PutSession", s.PutSession(&Session{ClientID: "c"}))
	mustOK(t, "PutMessage", s.PutMessage("a", 1, &Message{Topic: "1"}))
	mustOK(t, "PutMessage", s.PutMessage("a", 3, &Message{Topic: "3"}))
	mustOK(t, "corrupt", s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketSessions).Put([]byte("b"), []byte{1, 2, 3}); err != nil {
			return err
		}
		return tx.Bucket(bucketMessages).Bucket([]byte("a")).Put(seqKey(2), []byte{0})
	}))
	if got := allSessions(t, s); len(got) != 2 || got["a"] == nil || got["c"] == nil {
		t.Errorf("Sessions with SkipCorrupt = %v; want a and c", got)
	}
	if got := allMessages(t, s, "a"); len(got) != 2 || got[0].Seq != 1 || got[1].Seq != 3 {
		t.Errorf("Messages with SkipCorrupt = %+v; want seqs 1 and 3", got)
	}
	if st := s.Stats(); st.CorruptSkipped != 2 {
		t.Errorf("Stats().CorruptSkipped = %d; want 2", st.CorruptSkipped)
	}
}

// A write the decoder would refuse is refused up front, so one bad call
// cannot poison the iteration at the next start.
func TestInvalidRecordsRefused(t *testing.T) {
	s, _ := openTest(t)
	calls := map[string]error{
		"PutMessage qos 3":     s.PutMessage("c", 1, &Message{Topic: "t", QoS: 3}),
		"PutMessage state 3":   s.PutMessage("c", 1, &Message{Topic: "t", State: 3}),
		"PutRetained qos 3":    s.PutRetained(&Message{Topic: "t", QoS: 3}),
		"PutSession sub qos 3": s.PutSession(&Session{ClientID: "c", Subscriptions: []Subscription{{Filter: "f", QoS: 3}}}),
		"PutSession rh 3":      s.PutSession(&Session{ClientID: "c", Subscriptions: []Subscription{{Filter: "f", RetainHandling: 3}}}),
		"PutSession will":      s.PutSession(&Session{ClientID: "c", Will: &Message{Topic: "w", QoS: 7}}),
	}
	var b Batch
	b.PutRetained(&Message{Topic: "ok"})
	b.PutMessage("c", 1, &Message{Topic: "t", State: 9})
	calls["Apply"] = s.Apply(&b)
	for name, err := range calls {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s = %v; want ErrInvalid", name, err)
		}
	}
	if st := s.Stats(); st.Sessions != 0 || st.Messages != 0 || st.Retained != 0 {
		t.Errorf("Stats = %+v after refused writes; want nothing stored", st)
	}
}

func TestNewerVersionRefused(t *testing.T) {
	s, path := openTest(t)
	mustOK(t, "bump version", s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyVersion, binary.AppendUvarint(nil, FormatVersion+1))
	}))
	mustOK(t, "Close", s.Close())
	s2, err := Open(path, nil)
	if err == nil {
		_ = s2.Close()
	}
	if want := fmt.Sprintf("version %d", FormatVersion+1); !errors.Is(err, ErrNewerVersion) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open(newer file) = %v; want ErrNewerVersion naming %s", err, want)
	}
	// The refused open must have released the file lock.
	s3, err := Open(path+".other", nil)
	mustOK(t, "Open other", err)
	mustOK(t, "Close other", s3.Close())
}

func TestCloseIdempotentAndAfterClose(t *testing.T) {
	s, _ := openTest(t)
	mustOK(t, "Close", s.Close())
	mustOK(t, "second Close", s.Close())
	calls := map[string]error{
		"PutSession":    s.PutSession(&Session{ClientID: "c"}),
		"PutMessage":    s.PutMessage("c", 1, &Message{}),
		"DeleteMessage": s.DeleteMessage("c", 1),
		"DeleteSession": s.DeleteSession("c"),
		"PutRetained":   s.PutRetained(&Message{Topic: "t"}),
		"Sessions":      s.Sessions(func(*Session) error { return nil }),
		"Retained":      s.Retained(func(*Message) error { return nil }),
	}
	for name, err := range calls {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v; want ErrClosed", name, err)
		}
	}
}

func TestEmptyKeysRefused(t *testing.T) {
	s, _ := openTest(t)
	calls := map[string]error{
		"PutSession":     s.PutSession(&Session{}),
		"DeleteSession":  s.DeleteSession(""),
		"PutMessage":     s.PutMessage("", 1, &Message{}),
		"DeleteMessage":  s.DeleteMessage("", 1),
		"Messages":       s.Messages("", func(uint64, *Message) error { return nil }),
		"PutRetained":    s.PutRetained(&Message{}),
		"DeleteRetained": s.DeleteRetained(""),
	}
	for name, err := range calls {
		if !errors.Is(err, ErrEmptyKey) {
			t.Errorf("%s with empty key = %v; want ErrEmptyKey", name, err)
		}
	}
}

// Client ids and topics longer than bbolt's 32 KiB key limit still work.
func TestLongKeys(t *testing.T) {
	s, path := openTest(t)
	longID := strings.Repeat("c", 40000)
	longTopic := strings.Repeat("t/", 30000)
	mustOK(t, "PutSession", s.PutSession(&Session{ClientID: longID}))
	mustOK(t, "PutMessage", s.PutMessage(longID, 1, &Message{Topic: longTopic}))
	mustOK(t, "PutRetained", s.PutRetained(&Message{Topic: longTopic}))
	s = reopen(t, s, path)
	if got := allSessions(t, s); got[longID] == nil {
		t.Error("long client id session not found")
	}
	if got := allMessages(t, s, longID); len(got) != 1 || got[0].M.Topic != longTopic {
		t.Error("message of long client id not found")
	}
	if got := allRetained(t, s); got[longTopic] == nil {
		t.Error("retained message with long topic not found")
	}
	mustOK(t, "DeleteSession", s.DeleteSession(longID))
	mustOK(t, "DeleteRetained", s.DeleteRetained(longTopic))
	if st := s.Stats(); st.Sessions != 0 || st.Messages != 0 || st.Retained != 0 {
		t.Errorf("Stats after deleting long keys = %+v; want zeros", st)
	}
}

// The production settings (fsync on) work end to end.
func TestDurableDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, zaptest.NewLogger(t))
	mustOK(t, "Open", err)
	if s.db.NoSync {
		t.Fatal("Open left NoSync on")
	}
	mustOK(t, "PutSession", s.PutSession(&Session{ClientID: "c"}))
	s = reopen(t, s, path)
	if got := allSessions(t, s); got["c"] == nil {
		t.Error("session lost across reopen")
	}
}

func TestSecondOpenTimesOut(t *testing.T) {
	_, path := openTest(t)
	_, err := OpenOptions(path, nil, Options{LockTimeout: 50 * time.Millisecond})
	if err == nil {
		t.Fatal("second Open of a locked file succeeded; want a lock timeout")
	}
}

func TestOpenRefusesForeignFiles(t *testing.T) {
	dir := t.TempDir()
	noMeta := filepath.Join(dir, "nometa.db")
	db, err := bolt.Open(noMeta, 0o600, nil)
	mustOK(t, "bolt.Open", err)
	mustOK(t, "create bucket", db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket(bucketSessions)
		return err
	}))
	mustOK(t, "bolt Close", db.Close())
	if s, err := Open(noMeta, nil); !errors.Is(err, ErrCorrupt) {
		if s != nil {
			_ = s.Close()
		}
		t.Errorf("Open(bbolt file without meta) = %v; want ErrCorrupt", err)
	}

	garbage := filepath.Join(dir, "garbage.db")
	mustOK(t, "write garbage", os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 1000)), 0o600))
	if s, err := Open(garbage, nil); err == nil {
		_ = s.Close()
		t.Error("Open(garbage file) succeeded; want an error")
	}
}

func TestLastSeq(t *testing.T) {
	s, _ := openTest(t)
	if seq, err := s.LastSeq("c"); err != nil || seq != 0 {
		t.Errorf("LastSeq(no messages) = %d, %v; want 0, nil", seq, err)
	}
	for _, seq := range []uint64{5, 1 << 33, 300} {
		mustOK(t, "PutMessage", s.PutMessage("c", seq, &Message{Topic: "t"}))
	}
	if seq, err := s.LastSeq("c"); err != nil || seq != 1<<33 {
		t.Errorf("LastSeq = %d, %v; want %d", seq, err, uint64(1<<33))
	}
	mustOK(t, "DeleteMessage", s.DeleteMessage("c", 1<<33))
	if seq, err := s.LastSeq("c"); err != nil || seq != 300 {
		t.Errorf("LastSeq after delete = %d, %v; want 300", seq, err)
	}
	if _, err := s.LastSeq(""); !errors.Is(err, ErrEmptyKey) {
		t.Errorf("LastSeq(\"\") = %v; want ErrEmptyKey", err)
	}
}
