package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/faultkit"
	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
)

// located is where a payload sits in a segment file.
type located struct {
	file   string
	offset int
	key    string
	seq    int
}

// locatePayloads finds every intact faultkit payload of the load named
// name (bodies of size bytes) in the segment files under dir, in file-name
// order and offset order within a file.
func locatePayloads(t *testing.T, dir, name string, size int) (files []string, at []located) {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(segs)
	for _, f := range segs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for off := 0; ; {
			i := bytes.Index(b[off:], []byte(name))
			if i < 0 {
				break
			}
			off += i
			if off+size <= len(b) {
				if key, seq, ok := faultkit.ParsePayload(b[off : off+size]); ok {
					at = append(at, located{file: f, offset: off, key: key, seq: seq})
					found = true
					off += size
					continue
				}
			}
			off++
		}
		if found {
			files = append(files, f)
		}
	}
	return files, at
}

// TestFaultCorruptSpool: with Kafka down, acked publishes sit in the spool;
// the bridge stops (SIGTERM); the newest segment loses the last bytes of its
// last record (a torn write) and one record in an older segment gets a
// flipped byte (bit rot). Started again with Kafka up, the bridge starts,
// replays every intact record, never forwards a damaged one, and reports
// the damage in its log. As kafka/spool/README.md documents, a corrupt
// record in the middle of a segment also loses the records after it in that
// segment; those are counted and logged, not failed.
func TestFaultCorruptSpool(t *testing.T) {
	skipShort(t)
	bootstrap, stopKafka, startKafka := testenv.StartOwnKafka(t, freePortPair(t))
	topic := uniq(t, "load")
	testenv.CreateTopic(t, bootstrap, topic, 6)
	s := newFaultSetup(t, bootstrap, topic)
	sets := s.spoolSets("kafka.spool.segment_bytes=65536", "kafka.producer.spill_after_ms=200")

	p := startBridgeProc(t, s, sets)
	waitKafkaReady(t, s.admin)
	stopKafka()
	const size = 300
	l := startLoad(t, s, faultkit.LoadConfig{Clients: 5, Devices: 2, Rate: 1000, PayloadSize: size, Settle: 30 * time.Second})
	l.waitAcked(t, 3000, 60*time.Second)
	l.stop()
	t.Logf("acked %d of %d publishes with Kafka down; /readyz %+v; spool metrics %v", l.Acked(), l.Published(), readyz(s.admin), spoolSeries(s.admin))
	if code, took := p.term(shutdownBound); code != 0 {
		t.Errorf("exit status %d %v after SIGTERM; want 0", code, took)
	}

	name := l.Pubs()[0].Key[:strings.LastIndex(l.Pubs()[0].Key, "-c")]
	files, at := locatePayloads(t, s.spoolDir(), name, size)
	if len(files) < 2 {
		t.Fatalf("found the load's payloads in %d segment files under %s; want at least 2 (segment_bytes 64 KiB)", len(files), s.spoolDir())
	}
	newest := files[len(files)-1]
	victim := files[(len(files)-1)/2]
	var tornRec, flipRec located
	var inVictim []located
	for _, a := range at {
		if a.file == newest {
			tornRec = a
		}
		if a.file == victim {
			inVictim = append(inVictim, a)
		}
	}
	flipRec = inVictim[len(inVictim)/2]
	// Torn write: cut the newest segment inside its last record.
	if err := os.Truncate(newest, int64(tornRec.offset+size-3)); err != nil {
		t.Fatal(err)
	}
	// Bit rot: flip a byte in the filler of a record mid-segment.
	vb, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	vb[flipRec.offset+size-10] ^= 0x20
	if err := os.WriteFile(victim, vb, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d segments hold %d payloads; truncated %s inside %s seq %d; flipped a byte of %s seq %d in %s (record %d of %d there)",
		len(files), len(at), filepath.Base(newest), tornRec.key, tornRec.seq, flipRec.key, flipRec.seq, filepath.Base(victim), len(inVictim)/2+1, len(inVictim))

	startKafka()
	p = startBridgeProc(t, s, sets)
	waitKafkaReady(t, s.admin)
	drainTook, left := waitDrained(t, s.admin)
	t.Logf("replay: drain %v (spool held %.0f); spool metrics %v", drainTook.Round(time.Millisecond), left, spoolSeries(s.admin))

	records := readBack(t, bootstrap, topic, l.Pubs(), 20*time.Second)
	rep := faultkit.Check(l.Pubs(), records)
	t.Logf("Kafka: %s", rep)
	if len(rep.Corrupt) > 0 {
		t.Errorf("%d damaged records were forwarded to Kafka", len(rep.Corrupt))
	}
	if len(rep.Reordered) > 0 {
		t.Errorf("per-key order broken: %v", rep.Reordered)
	}
	// Classify what is missing.
	type ks struct {
		key string
		seq int
	}
	allowed := map[ks]string{
		{tornRec.key, tornRec.seq}: "torn",
		{flipRec.key, flipRec.seq}: "flipped",
	}
	// Records after the flipped one in its segment are recovered: the spool
	// resyncs on the next record with a valid checksum.
	_ = inVictim
	onDisk := map[ks]bool{}
	for _, a := range at {
		onDisk[ks{a.key, a.seq}] = true
	}
	why := map[string]int{}
	for _, m := range rep.Missing {
		k := ks{m.Key, m.Seq}
		switch {
		case allowed[k] != "":
			why[allowed[k]]++
		case onDisk[k]:
			why["intact on disk"]++
			t.Errorf("intact spooled record %s seq %d is not in Kafka", m.Key, m.Seq)
		default:
			why["not found on disk"]++
			t.Errorf("acked record %s seq %d is neither in Kafka nor in the spool", m.Key, m.Seq)
		}
	}
	t.Logf("missing by cause: %v (%d acked, %d duplicates)", why, rep.Acked, rep.Duplicates)
	if got := len(rep.Missing); got == 0 {
		t.Errorf("nothing missing: the damaged records reached Kafka (the damage was not where the test put it)")
	}

	// The damage is reported: a log line, and a metric if the bridge has one.
	damage := regexp.MustCompile(`(?i)corrupt|truncat|torn|damag|checksum|crc`)
	var lines []string
	for line := range strings.SplitSeq(p.out.String(), "\n") {
		if damage.MatchString(line) {
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		t.Errorf("the restarted bridge logged no line about the damage (want one matching %v)", damage)
	} else {
		t.Logf("damage log lines:\n%s", strings.Join(lines, "\n"))
	}
	// The bridge exposes the damage found at start as gauges: the bytes cut
	// from segment tails (both damaged segments are cut at their bad record)
	// and the segments set aside for a bad header (none here).
	truncated, has := scrape(s.admin, "mqtt_bridge_spool_truncated_bytes")
	recovered, _ := scrape(s.admin, "mqtt_bridge_spool_recovered_records")
	t.Logf("mqtt_bridge_spool_truncated_bytes %.0f (exposed %v), mqtt_bridge_spool_recovered_records %.0f", truncated, has, recovered)
	if !has || truncated <= 0 {
		t.Errorf("mqtt_bridge_spool_truncated_bytes = %v (exposed %v); want > 0 after a torn tail", truncated, has)
	}
	skipped, _ := scrape(s.admin, "mqtt_bridge_spool_skipped_bytes")
	lost, _ := scrape(s.admin, "mqtt_bridge_spool_lost_records")
	t.Logf("mqtt_bridge_spool_skipped_bytes %.0f, mqtt_bridge_spool_lost_records %.0f", skipped, lost)
	if skipped <= 0 || lost < 1 {
		t.Errorf("skipped_bytes %v, lost_records %v; want both > 0 after a record with a flipped byte", skipped, lost)
	}
}
