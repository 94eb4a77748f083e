package mqttfront

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"
)

// listen binds every enabled listener and starts its accept loop. On a bind
// error it returns after closing what it opened (shutdown does that).
func (s *Server) listen() error {
	l := s.cfg.Listeners
	type spec struct {
		name string
		cfg  ListenerConfig
		tls  bool
		ws   bool
	}
	for _, sp := range []spec{{"tcp", l.TCP, false, false}, {"tls", l.TLS, true, false}, {"ws", l.WS, false, true}, {"wss", l.WSS, true, true}} {
		if !sp.cfg.Enabled {
			continue
		}
		ln, err := net.Listen("tcp", sp.cfg.Address)
		if err != nil {
			return fmt.Errorf("mqtt.listeners.%s: listen %s: %w", sp.name, sp.cfg.Address, err)
		}
		if sp.tls {
			tc, err := tlsConfig(sp.cfg)
			if err != nil {
				_ = ln.Close()
				return fmt.Errorf("mqtt.listeners.%s: %w", sp.name, err)
			}
			ln = tls.NewListener(ln, tc)
		}
		s.addrMu.Lock()
		s.addrs[sp.name] = ln.Addr()
		s.addrMu.Unlock()
		name := sp.name
		if sp.ws {
			srv := s.wsServer(name, sp.cfg)
			s.addClose(func() { _ = srv.Close() })
			s.goFunc(func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					s.log.Error("mqtt: websocket listener stopped", zap.String("listener", name), zap.Error(err))
				}
			})
			continue
		}
		s.addClose(func() { _ = ln.Close() })
		s.goFunc(func() { s.acceptLoop(name, ln) })
	}
	return nil
}

func (s *Server) addClose(f func()) {
	s.addrMu.Lock()
	s.closers = append(s.closers, f)
	s.addrMu.Unlock()
}

func tlsConfig(l ListenerConfig) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(l.CertFile, l.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("load cert_file/key_file: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if l.ClientCAFile != "" {
		pem, err := os.ReadFile(l.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client_ca_file %s: no PEM certificates", l.ClientCAFile)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.VerifyClientCertIfGiven
		if l.RequireClientCert {
			tc.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return tc, nil
}

// acceptLoop accepts until ln is closed. Temporary errors back off from
// 5ms doubling to 1s; shutdown aborts the back-off.
func (s *Server) acceptLoop(name string, ln net.Listener) {
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay *= 2; delay > time.Second {
				delay = time.Second
			}
			s.log.Warn("mqtt: accept failed; backing off", zap.String("listener", name), zap.Duration("delay", delay), zap.Error(err))
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.quit:
				t.Stop()
				return
			}
			continue
		}
		delay = 0
		if !s.goFunc(func() { s.serve(nc, name) }) {
			_ = nc.Close()
			return
		}
	}
}
