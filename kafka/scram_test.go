package kafka

import (
	"testing"

	"github.com/xdg-go/scram"
)

// The SCRAM-SHA-256 exchange of RFC 7677, section 3.
func TestSCRAMRFC7677(t *testing.T) {
	s := &scramClient{hash: scram.SHA256, nonce: func() string { return "rOprNGfwEbeRWgbNEkqO" }}
	if err := s.Begin("user", "pencil", ""); err != nil {
		t.Fatal(err)
	}
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
	start := func() *scramClient {
		s := &scramClient{hash: scram.SHA256, nonce: func() string { return "abc" }}
		_ = s.Begin("user", "pencil", "")
		_, _ = s.Step("")
		return s
	}
	if _, err := start().Step("r=zzz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"); err == nil {
		t.Error("server nonce not extending ours: want error")
	}
	if _, err := start().Step("r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1"); err == nil {
		t.Error("iteration count 1 (below RFC 7677's 4096): want error")
	}
	s := start()
	if _, err := s.Step("r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Step("v=AAAA"); err == nil || s.Done() {
		t.Error("wrong server signature: want error")
	}
}

// A username with ',' and '=' is escaped as RFC 5802 5.1 says (=2C, =3D).
func TestSCRAMEscapesUsername(t *testing.T) {
	s := &scramClient{hash: scram.SHA512, nonce: func() string { return "n0nce" }}
	if err := s.Begin("a,b=c", "pw", ""); err != nil {
		t.Fatal(err)
	}
	if first, _ := s.Step(""); first != "n,,n=a=2Cb=3Dc,r=n0nce" {
		t.Errorf("client-first = %q; want n,,n=a=2Cb=3Dc,r=n0nce", first)
	}
}
