package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

var (
	dKafkaConnected = prometheus.NewDesc(ns+"_kafka_connected", "1 when the producer is connected to Kafka.", nil, nil)
	dInFlight       = prometheus.NewDesc(ns+"_produce_in_flight", "Records accepted by the producer and not yet acknowledged.", nil, nil)
	dProduced       = prometheus.NewDesc(ns+"_produced_total", "Records acknowledged by Kafka.", nil, nil)
	dConsumerLag    = prometheus.NewDesc(ns+"_downlink_consumer_lag", "Records behind the high watermark, summed over assigned partitions.", nil, nil)
)

// collectKafka adds the Kafka side to a scrape.
func (b *Bridge) collectKafka(ch chan<- prometheus.Metric) {
	connected := 0.0
	if b.producer.Connected() {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(dKafkaConnected, prometheus.GaugeValue, connected)
	ps := b.producer.Stats()
	ch <- prometheus.MustNewConstMetric(dInFlight, prometheus.GaugeValue, float64(ps.InFlight))
	ch <- prometheus.MustNewConstMetric(dProduced, prometheus.CounterValue, float64(ps.Produced))
	if b.consumer != nil {
		ch <- prometheus.MustNewConstMetric(dConsumerLag, prometheus.GaugeValue, float64(b.consumer.Lag()))
	}
}

// readiness is the /readyz body.
type readiness struct {
	Ready          bool   `json:"ready"`
	MQTTListening  bool   `json:"mqtt_listening"`
	KafkaConnected bool   `json:"kafka_connected"`
	Spool          string `json:"spool"`
}

func (b *Bridge) readiness() readiness {
	r := readiness{KafkaConnected: b.producer.Connected(), Spool: "disabled"}
	select {
	case <-b.front.Ready():
		r.MQTTListening = true
	default:
	}
	// Without the spool the uplink can accept messages only while Kafka is
	// reachable.
	r.Ready = r.MQTTListening && r.KafkaConnected
	return r
}

func (b *Bridge) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(b.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"status\":\"ok\",\"uptime_seconds\":%d}\n", int(time.Since(b.started).Seconds()))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		r := b.readiness()
		w.Header().Set("Content-Type", "application/json")
		if !r.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(r)
	})
	if b.opts.Level != (zap.AtomicLevel{}) {
		mux.Handle("/loglevel", b.opts.Level)
	}
	return mux
}

// serveAdmin runs the admin HTTP listener until ctx ends.
func (b *Bridge) serveAdmin(ctx context.Context) error {
	if b.cfg.Admin.Address == "" {
		<-ctx.Done()
		return nil
	}
	ln, err := net.Listen("tcp", b.cfg.Admin.Address)
	if err != nil {
		return fmt.Errorf("listen %s: %w", b.cfg.Admin.Address, err)
	}
	b.adminAddr.Store(ln.Addr().String())
	srv := &http.Server{Handler: b.adminMux(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// AdminAddr is the admin listener's address once it listens ("" before).
func (b *Bridge) AdminAddr() string {
	s, _ := b.adminAddr.Load().(string)
	return s
}
