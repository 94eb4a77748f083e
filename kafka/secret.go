package kafka

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// fileStamp tells whether a file changed since it was last read.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.ModTime(), fi.Size()}, nil
}

// secret is a credential given inline or as a file. A file is read again
// when its modification time or size changed, so whoever rotates it (an
// operator, a secrets agent, a Kubernetes Secret volume) is picked up by
// the next connection. The value is never part of an error message.
type secret struct {
	key    string // the config key, for errors (kafka.sasl.password_file)
	inline string
	path   string

	mu    sync.Mutex
	stamp fileStamp
	val   string
}

func newSecret(key, inline, path string) *secret {
	return &secret{key: key, inline: inline, path: path}
}

// get returns the current value. A file that cannot be read or is empty
// is an error naming the key, not the content.
func (s *secret) get() (string, error) {
	if s.path == "" {
		return s.inline, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := stampOf(s.path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", s.key, err)
	}
	if st == s.stamp && s.val != "" {
		return s.val, nil
	}
	b, err := os.ReadFile(s.path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", s.key, err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return "", fmt.Errorf("%s: %s is empty", s.key, s.path)
	}
	s.stamp, s.val = st, string(b)
	return s.val, nil
}

// certReloader serves the client certificate for mutual TLS
// (tls.Config.GetClientCertificate), loading the PEM files again when
// either changed. A pair that fails to load (a half-written renewal) keeps
// the last good certificate and the error is returned only if there is
// none.
type certReloader struct {
	certFile, keyFile string

	mu     sync.Mutex
	cs, ks fileStamp
	cert   *tls.Certificate
}

func (r *certReloader) load() (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs, err1 := stampOf(r.certFile)
	ks, err2 := stampOf(r.keyFile)
	if err := errors.Join(err1, err2); err != nil {
		if r.cert != nil {
			return r.cert, nil
		}
		return nil, fmt.Errorf("kafka.tls.cert_file: %w", err)
	}
	if r.cert != nil && cs == r.cs && ks == r.ks {
		return r.cert, nil
	}
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		if r.cert != nil {
			return r.cert, nil
		}
		return nil, fmt.Errorf("kafka.tls.cert_file: %w", err)
	}
	r.cert, r.cs, r.ks = &c, cs, ks
	return r.cert, nil
}

func (r *certReloader) getClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return r.load()
}
