package store

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestMarksWithMessages: a mark written in the batch of the messages it
// covers survives a reopen with them, a later mark replaces it, and a
// batch refused whole writes neither.
func TestMarksWithMessages(t *testing.T) {
	s, path := openTest(t)
	var b Batch
	b.PutMessage("c", 1, &Message{Topic: "t/1"})
	b.PutMark("inbox.r1/0", 8)
	mustOK(t, "Apply", s.Apply(&b))
	b.Reset()
	b.PutMessage("c", 2, &Message{Topic: "t/2"})
	b.PutMark("inbox.r1/0", 9)
	b.PutMark("inbox.r1/1", 3)
	mustOK(t, "Apply", s.Apply(&b))
	b.Reset()
	b.PutMessage("c", 3, &Message{Topic: "t/3"})
	b.PutMark(strings.Repeat("x", maxMarkName+1), 10)
	if err := s.Apply(&b); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Apply with a %d-byte mark name = %v; want ErrInvalid", maxMarkName+1, err)
	}

	s = reopen(t, s, path)
	got := map[string]uint64{}
	mustOK(t, "Marks", s.Marks(func(name string, next uint64) error {
		got[name] = next
		return nil
	}))
	if want := map[string]uint64{"inbox.r1/0": 9, "inbox.r1/1": 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("Marks after reopen = %v; want %v", got, want)
	}
	if msgs := allMessages(t, s, "c"); len(msgs) != 2 {
		t.Errorf("messages after reopen: %d; want 2 (the refused batch wrote nothing)", len(msgs))
	}
}
