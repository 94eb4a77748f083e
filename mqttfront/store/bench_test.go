package store

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// benchMessage is a typical downlink delivery: 128-byte payload, QoS 1.
func benchMessage() *Message {
	return &Message{
		Topic:    "devices/0042/cmd/set",
		Payload:  make([]byte, 128),
		QoS:      1,
		StoredAt: time.Unix(1700000000, 0),
	}
}

// BenchmarkPutDeleteMessage measures one PutMessage followed by its
// DeleteMessage (a message queued, then acked) per op, from 1 and from 64
// goroutines, with fsync on (production) and off, under the store's group
// commit and, for comparison, bbolt's db.Batch with a 1ms delay.
func BenchmarkPutDeleteMessage(b *testing.B) {
	modes := []struct {
		name  string
		delay time.Duration
	}{{"group", 0}, {"bbolt-batch-1ms", time.Millisecond}}
	for _, mode := range modes {
		for _, sync := range []bool{true, false} {
			for _, goroutines := range []int{1, 64} {
				name := fmt.Sprintf("%s/fsync=%v/goroutines=%d", mode.name, sync, goroutines)
				b.Run(name, func(b *testing.B) {
					s, err := OpenOptions(filepath.Join(b.TempDir(), "bench.db"), nil,
						Options{NoSync: !sync, MaxBatchDelay: mode.delay})
					if err != nil {
						b.Fatal(err)
					}
					defer s.Close()
					m := benchMessage()
					var client atomic.Int64
					b.ReportAllocs()
					b.SetBytes(int64(len(m.Payload)))
					work := func(id string, next func() bool) {
						var seq uint64
						for next() {
							seq++
							if err := s.PutMessage(id, seq, m); err != nil {
								b.Error(err)
								return
							}
							if err := s.DeleteMessage(id, seq); err != nil {
								b.Error(err)
								return
							}
						}
					}
					start := time.Now()
					if goroutines == 1 {
						work("bench-client", b.Loop)
					} else {
						// RunParallel starts SetParallelism×GOMAXPROCS goroutines.
						b.SetParallelism(max(1, goroutines/runtime.GOMAXPROCS(0)))
						b.RunParallel(func(pb *testing.PB) {
							work(fmt.Sprintf("bench-client-%d", client.Add(1)), pb.Next)
						})
					}
					b.ReportMetric(float64(2*b.N)/time.Since(start).Seconds(), "records/s")
					if st := s.Stats(); st.Commits > 0 {
						b.ReportMetric(float64(st.Writes)/float64(st.Commits), "writes/commit")
					}
				})
			}
		}
	}
}

func BenchmarkAppendMessage(b *testing.B) {
	m := fullMessage()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendMessage(buf[:0], m)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeMessage(b *testing.B) {
	raw := appendMessage(nil, fullMessage())
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := decodeMessage(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeSession(b *testing.B) {
	raw := appendSession(nil, fullSession())
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := decodeSession(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyOffline stores a session with 100 queued messages in one
// Apply, as when a persistent session's connection ends.
func BenchmarkApplyOffline(b *testing.B) {
	s, err := OpenOptions(filepath.Join(b.TempDir(), "bench.db"), nil, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	m := benchMessage()
	sess := fullSession()
	b.ReportAllocs()
	var batch Batch
	for b.Loop() {
		batch.Reset()
		batch.PutSession(sess)
		for seq := range uint64(100) {
			batch.PutMessage(sess.ClientID, seq, m)
		}
		if err := s.Apply(&batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(101*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkRestore walks 10,000 stored sessions (the broker's start-up).
func BenchmarkRestore(b *testing.B) {
	s, err := OpenOptions(filepath.Join(b.TempDir(), "bench.db"), nil, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const n = 10000
	var batch Batch
	for i := range n {
		sess := fullSession()
		sess.ClientID = fmt.Sprintf("client-%05d", i)
		batch.PutSession(sess)
	}
	if err := s.Apply(&batch); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		count := 0
		if err := s.Sessions(func(*Session) error { count++; return nil }); err != nil || count != n {
			b.Fatalf("Sessions walked %d, err %v; want %d", count, err, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "sessions/s")
}

// BenchmarkSubscribeLargeSession stores SUBSCRIBE number N+1 of a session
// that holds N = 10,000 subscriptions, fsync on. "incremental" is what the
// broker writes since store format 2 (PutSubscriptions, one key);
// "whole-session" rewrites the session with all N+1, as the broker did per
// SUBSCRIBE before. written-B/op counts the bbolt pages written.
func BenchmarkSubscribeLargeSession(b *testing.B) {
	const n = 10000
	sess := &Session{ClientID: "many-subs", Version: 5, ExpiryInterval: 3600}
	for i := range n {
		sess.Subscriptions = append(sess.Subscriptions, Subscription{Filter: fmt.Sprintf("fleet/site-%05d/device/+/telemetry/#", i), QoS: 1})
	}
	for _, mode := range []string{"incremental", "whole-session"} {
		b.Run(mode, func(b *testing.B) {
			s, err := OpenOptions(filepath.Join(b.TempDir(), "bench.db"), nil, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if err := s.PutSession(sess); err != nil {
				b.Fatal(err)
			}
			full := &Session{ClientID: sess.ClientID, Version: 5, ExpiryInterval: 3600,
				Subscriptions: append(sess.Subscriptions[:n:n], Subscription{})}
			st0 := s.db.Stats()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				sub := Subscription{Filter: fmt.Sprintf("extra/%d/#", i), QoS: 1}
				i++
				if mode == "incremental" {
					err = s.PutSubscriptions(sess.ClientID, sub)
				} else {
					full.Subscriptions[n] = sub
					err = s.PutSession(full)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			st1 := s.db.Stats()
			b.ReportMetric(float64(st1.TxStats.GetPageAlloc()-st0.TxStats.GetPageAlloc())/float64(i), "written-B/op")
		})
	}
}
