package spool

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
)

// BenchmarkAppend measures 256-byte appends from 64 concurrent appenders
// under each fsync policy. "inflight1" appenders wait for each done before
// the next Append (a QoS 1 device with one message in flight); "inflight16"
// keep up to 16 appends outstanding each. Records are acked as they become
// durable so segments are deleted as in a draining spool. Reports records/s
// and the p99 latency from Append to done.
func BenchmarkAppend(b *testing.B) {
	for _, policy := range []string{FsyncAlways, FsyncInterval, FsyncNever} {
		for _, window := range []int{1, 16} {
			name := policy + "/inflight1"
			if window == 16 {
				name = policy + "/inflight16"
			}
			b.Run(name, func(b *testing.B) { benchAppend(b, policy, 64, window, 256) })
		}
	}
}

func benchAppend(b *testing.B, policy string, appenders, window, size int) {
	cfg := DefaultConfig()
	cfg.Dir = b.TempDir()
	cfg.Fsync = policy
	cfg.QuotaBytes = 4 << 30
	s, err := Open(cfg, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}()

	var fmu sync.Mutex
	var fsyncs []time.Duration
	s.FsyncHook(func(d time.Duration) {
		fmu.Lock()
		fsyncs = append(fsyncs, d)
		fmu.Unlock()
	})
	data := make([]byte, size)
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for a := 0; a < appenders; a++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem := make(chan struct{}, window)
			var mine sync.WaitGroup
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					break
				}
				sem <- struct{}{}
				mine.Add(1)
				t0 := time.Now()
				err := s.Append(data, func(seq uint64, err error) {
					lat[i] = time.Since(t0)
					if err != nil {
						b.Error(err)
					}
					s.Ack(seq)
					<-sem
					mine.Done()
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
			mine.Wait()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
	b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*90/100]), "p90-ns")
	fmu.Lock()
	if len(fsyncs) > 0 {
		slices.Sort(fsyncs)
		b.ReportMetric(float64(fsyncs[len(fsyncs)*99/100]), "fsync-p99-ns")
		b.ReportMetric(float64(fsyncs[len(fsyncs)/2]), "fsync-p50-ns")
	}
	fmu.Unlock()
	st := s.Stats()
	if st.Fsyncs > 0 {
		b.ReportMetric(float64(b.N)/float64(st.Fsyncs), "records/fsync")
	}
}
