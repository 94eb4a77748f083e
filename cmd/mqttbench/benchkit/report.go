package benchkit

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// WriteText prints s for people.
func (s *Summary) WriteText(w io.Writer) {
	fmt.Fprintf(w, "mode %s, measured %.1fs\n", s.Mode, s.Window)
	q := func(name string, x Quantiles) {
		fmt.Fprintf(w, "  %-22s n=%d p50 %.2fms p99 %.2fms p999 %.2fms max %.2fms\n", name, x.Count, x.P50, x.P99, x.P999, x.Max)
	}
	errs := func(m map[string]uint64) {
		for _, k := range sortedKeys(m) {
			fmt.Fprintf(w, "  error %-30s %d\n", k, m[k])
		}
	}
	if c := s.Client; c != nil {
		fmt.Fprintf(w, "client: %d/%d connected, sent %d (%.0f/s), acked %d (%.0f/s)\n", c.Connected, c.Conns, c.Sent, c.SentPerSec, c.Acked, c.AckedPerSec)
		q("puback", c.Puback)
		errs(c.Errors)
	}
	if k := s.Kafka; k != nil {
		a := k.Accounting
		fmt.Fprintf(w, "kafka %s: landed %d (%.0f/s in window), expected %d, lost %d (%.3f%%), duplicates %d, order violations %d, unexpected %d\n",
			k.Topic, k.Landed, k.LandedPerSec, a.Expected, a.Lost, k.LossPercent, a.Duplicates, a.OrderViolations, a.Unexpected)
		q("publish->kafka", k.Latency)
	}
	if c := s.Conn; c != nil {
		fmt.Fprintf(w, "conn: %d connected in %.2fs (%.0f/s)\n", c.Connected, c.ConnectSeconds, c.ConnectPerSec)
		q("connack", c.Connack)
		if c.RSSAfterKB > 0 {
			fmt.Fprintf(w, "  target rss %d kB -> %d kB: %.0f bytes per connection\n", c.RSSBeforeKB, c.RSSAfterKB, c.BytesPerConn)
		}
		if c.Reconnected > 0 {
			fmt.Fprintf(w, "  reconnected %d in %.2fs\n", c.Reconnected, c.RecoverySeconds)
		}
		errs(c.Errors)
	}
	if c := s.Sub; c != nil {
		fmt.Fprintf(w, "sub: %d subscribers, received %d (%.0f/s), gaps %d, duplicates %d, order violations %d\n",
			c.Subscribed, c.Received, c.ReceivedRate, c.Accounting.Lost, c.Accounting.Duplicates, c.Accounting.OrderViolations)
		q("latency", c.Latency)
	}
	if f := s.Forward; f != nil {
		fmt.Fprintf(w, "forward: received %d, acked by Kafka %d in %.1fs\n", f.Received, f.Acked, f.Seconds)
		errs(f.Errors)
	}
	if p := s.Produce; p != nil {
		fmt.Fprintf(w, "kafka-produce: %d/%d acked in %.2fs: %.0f records/s, %.2f MB/s\n", p.Acked, p.Records, p.Seconds, p.PerSec, p.MBPerSec)
		q("ack", p.AckLatency)
		errs(p.Errors)
	}
}

// WriteJSONFile writes s as indented JSON to path.
func (s *Summary) WriteJSONFile(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("summary json: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
