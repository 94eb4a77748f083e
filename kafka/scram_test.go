package kafka

import (
	"crypto/sha256"
	"testing"
)

// The SCRAM-SHA-256 exchange of RFC 7677, section 3.
func TestSCRAMRFC7677(t *testing.T) {
	s := &scramClient{hash: sha256.New}
	if err := s.Begin("user", "pencil", ""); err != nil {
		t.Fatal(err)
	}
	s.clientNonce = "rOprNGfwEbeRWgbNEkqO"
	first, err := s.Step("")
	if err != nil || first != "n,,n=user,r=rOprNGfwEbeRWgbNEkqO" {
		t.Fatalf("client-first = %q, %v", first, err)
	}
	final, err := s.Step("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
	want := "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	if err != nil || final != want {
		t.Fatalf("client-final = %q, %v; want %q", final, err, want)
	}
	if _, err := s.Step("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="); err != nil || !s.Done() {
		t.Fatalf("server-final: %v, done %v; want nil, true", err, s.Done())
	}
}

func TestSCRAMRejectsBadServer(t *testing.T) {
	s := &scramClient{hash: sha256.New}
	_ = s.Begin("user", "pencil", "")
	s.clientNonce = "abc"
	_, _ = s.Step("")
	if _, err := s.Step("r=zzz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"); err == nil {
		t.Error("server nonce not extending ours: want error")
	}
	s = &scramClient{hash: sha256.New}
	_ = s.Begin("user", "pencil", "")
	s.clientNonce = "abc"
	_, _ = s.Step("")
	if _, err := s.Step("r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Step("v=AAAA"); err == nil || s.Done() {
		t.Error("wrong server signature: want error")
	}
}
