package benchkit

import (
	"context"
	"sync/atomic"
	"time"
)

// Reader reads a pub run's messages back and accounts for them: from the
// bridge's Kafka topic (KafkaReader) or from MQTT subscribers, e.g. at
// another cluster replica (MQTTReader). RunPub starts Run before the
// publishers connect and ends it after draining.
type Reader interface {
	// Run reads until ctx ends.
	Run(ctx context.Context) error
	// Landed is the number of bench payloads read so far (duplicates too).
	Landed() uint64
	// MeasureFrom excludes payloads sent before t from the latency.
	MeasureFrom(t time.Time)
	// WaitDrained waits until every expected payload was read, nothing new
	// was read for idle, or ctx ends.
	WaitDrained(ctx context.Context, idle time.Duration)

	expect(client string, seq uint64)
	swapLive() *Hist
	// progressNames are the progress line's labels of the count and the
	// latency.
	progressNames() (count, latency string)
	// summarize adds the reader's part to sum.
	summarize(sum *Summary, window time.Duration, landedInWindow uint64)
}

// readBack is what every Reader keeps: the ledger, the latency from the
// payload's send time to its reading, and the counts.
type readBack struct {
	Ledger   *Ledger
	Latency  Hist
	live     *intervalHist
	landed   atomic.Uint64
	foreign  atomic.Uint64
	measured atomic.Int64 // Unix ns: payloads sent before it are not in Latency
}

func newReadBack() readBack { return readBack{Ledger: NewLedger(), live: newIntervalHist()} }

// MeasureFrom excludes payloads sent before t from the latency histogram.
func (r *readBack) MeasureFrom(t time.Time) { r.measured.Store(t.UnixNano()) }

// Landed is the number of bench payloads read so far.
func (r *readBack) Landed() uint64 { return r.landed.Load() }

func (r *readBack) expect(client string, seq uint64) { r.Ledger.Expect(client, seq) }
func (r *readBack) swapLive() *Hist                  { return r.live.swap() }

// handle accounts for one payload v read at now.
func (r *readBack) handle(v []byte, now time.Time) {
	client, seq, sent, err := DecodePayload(v)
	if err != nil {
		r.foreign.Add(1)
		return
	}
	r.landed.Add(1)
	r.Ledger.Observe(client, seq)
	d := now.Sub(sent).Nanoseconds()
	r.live.Record(d)
	if sent.UnixNano() >= r.measured.Load() {
		r.Latency.Record(d)
	}
}

// WaitDrained waits until every expected record has been seen, nothing new
// has landed for idle, or ctx ends.
func (r *readBack) WaitDrained(ctx context.Context, idle time.Duration) {
	last, lastChange := r.Landed(), time.Now()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for r.Ledger.Outstanding() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n := r.Landed(); n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) > idle {
			return
		}
	}
}
