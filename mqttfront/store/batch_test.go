package store

import (
	"errors"
	"reflect"
	"testing"

	berrors "go.etcd.io/bbolt/errors"
)

func TestApplyBatch(t *testing.T) {
	s, path := openTest(t)
	mustOK(t, "PutSession", s.PutSession(&Session{ClientID: "gone"}))
	mustOK(t, "PutMessage", s.PutMessage("gone", 1, &Message{Topic: "x"}))

	var b Batch
	sess := fullSession()
	b.PutSession(sess)
	b.PutMessage(sess.ClientID, 1, fullMessage())
	b.PutMessage(sess.ClientID, 2, &Message{Topic: "two"})
	b.PutMessage(sess.ClientID, 3, &Message{Topic: "three"})
	b.DeleteMessage(sess.ClientID, 2) // order matters: put then delete
	b.PutRetained(&Message{Topic: "r1"})
	b.PutRetained(&Message{Topic: "r2"})
	b.DeleteRetained("r2")
	b.DeleteSession("gone")
	sess.Username = "changed after adding" // the batch holds an encoded copy
	if b.Len() != 9 {
		t.Fatalf("Batch.Len() = %d; want 9", b.Len())
	}
	mustOK(t, "Apply", s.Apply(&b))

	s = reopen(t, s, path)
	want := fullSession()
	if got := allSessions(t, s); !reflect.DeepEqual(got, map[string]*Session{want.ClientID: want}) {
		t.Errorf("Sessions after Apply = %+v; want only %+v", got, want)
	}
	wantMsgs := []seqMsg{{1, fullMessage()}, {3, &Message{Topic: "three"}}}
	if got := allMessages(t, s, want.ClientID); !reflect.DeepEqual(got, wantMsgs) {
		t.Errorf("Messages after Apply = %+v; want %+v", got, wantMsgs)
	}
	if got := allRetained(t, s); len(got) != 1 || got["r1"] == nil {
		t.Errorf("Retained after Apply = %v; want only r1", got)
	}
	if st := s.Stats(); st.Sessions != 1 || st.Messages != 2 || st.Retained != 1 {
		t.Errorf("Stats after Apply = %+v; want 1 session, 2 messages, 1 retained", st)
	}
}

func TestApplyRefusesEmptyKeyWhole(t *testing.T) {
	s, _ := openTest(t)
	var b Batch
	b.PutRetained(&Message{Topic: "ok"})
	b.PutMessage("", 1, &Message{})
	if err := s.Apply(&b); !errors.Is(err, ErrEmptyKey) {
		t.Fatalf("Apply with empty client id = %v; want ErrEmptyKey", err)
	}
	if got := allRetained(t, s); len(got) != 0 {
		t.Errorf("Retained = %v after a refused batch; want none", got)
	}
	b.Reset()
	if b.Len() != 0 {
		t.Errorf("Len after Reset = %d; want 0", b.Len())
	}
	mustOK(t, "Apply empty batch", s.Apply(&b))
	b.PutRetained(&Message{Topic: "ok"})
	mustOK(t, "Apply after Reset", s.Apply(&b))
}

// A write that bbolt refuses rolls back the whole transaction and leaves the
// counters alone.
func TestCommitIsAtomic(t *testing.T) {
	s, _ := openTest(t)
	err := s.commit(
		mutation{kind: putRetained, name: []byte("a"), val: []byte{1}},
		mutation{kind: putRetained, name: nil, val: []byte{1}, label: "empty"}, // bbolt: key required
	)
	if !errors.Is(err, berrors.ErrKeyRequired) {
		t.Fatalf("commit with an empty bbolt key = %v; want ErrKeyRequired", err)
	}
	if got := allRetained(t, s); len(got) != 0 {
		t.Errorf("Retained = %v after a failed commit; want none", got)
	}
	if st := s.Stats(); st.Retained != 0 || st.Writes != 0 {
		t.Errorf("Stats = %+v after a failed commit; want zero retained and writes", st)
	}
}
