package auth

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func newStatic(t testing.TB, c Config) *Static {
	t.Helper()
	s, err := NewStatic(c)
	if err != nil {
		t.Fatalf("NewStatic: %v", err)
	}
	return s
}

func cert(cn string) []*x509.Certificate {
	return []*x509.Certificate{{Subject: pkix.Name{CommonName: cn}}}
}

func TestAuthenticate(t *testing.T) {
	users := []User{{"alice", hashOf(t, "wonderland")}, {"bob", hashOf(t, "builder")}}
	closed := Config{Users: users}
	open := Config{Users: users, AllowAnonymous: true}
	certs := Config{Users: users, UseIdentityAsUsername: true}
	cases := []struct {
		name     string
		c        Config
		cred     Credentials
		wantUser string
		wantErr  error
	}{
		{"good password", closed, Credentials{Username: "alice", UsernameSet: true, Password: []byte("wonderland"), PasswordSet: true}, "alice", nil},
		{"second user", closed, Credentials{Username: "bob", UsernameSet: true, Password: []byte("builder"), PasswordSet: true}, "bob", nil},
		{"wrong password", closed, Credentials{Username: "alice", UsernameSet: true, Password: []byte("builder"), PasswordSet: true}, "", ErrBadCredentials},
		{"missing password", closed, Credentials{Username: "alice", UsernameSet: true}, "", ErrBadCredentials},
		{"empty password", closed, Credentials{Username: "alice", UsernameSet: true, PasswordSet: true}, "", ErrBadCredentials},
		{"unknown user", closed, Credentials{Username: "carol", UsernameSet: true, Password: []byte("wonderland"), PasswordSet: true}, "", ErrBadCredentials},
		{"empty user name", closed, Credentials{UsernameSet: true, Password: []byte("x"), PasswordSet: true}, "", ErrBadCredentials},
		{"password over 72 bytes", Config{Users: []User{{"long", hashOf(t, strings.Repeat("x", 72))}}}, Credentials{Username: "long", UsernameSet: true, Password: []byte(strings.Repeat("x", 73)), PasswordSet: true}, "", ErrBadCredentials},
		{"password of 72 bytes", Config{Users: []User{{"long", hashOf(t, strings.Repeat("x", 72))}}}, Credentials{Username: "long", UsernameSet: true, Password: []byte(strings.Repeat("x", 72)), PasswordSet: true}, "long", nil},
		{"anonymous refused", closed, Credentials{ClientID: "c"}, "", ErrNotAuthorized},
		{"anonymous with password refused", closed, Credentials{Password: []byte("wonderland"), PasswordSet: true}, "", ErrNotAuthorized},
		{"anonymous allowed", open, Credentials{ClientID: "c"}, "", nil},
		{"user still checked when anonymous allowed", open, Credentials{Username: "alice", UsernameSet: true, Password: []byte("x"), PasswordSet: true}, "", ErrBadCredentials},
		{"unknown user when anonymous allowed", open, Credentials{Username: "zed", UsernameSet: true}, "", ErrBadCredentials},
		{"cert CN is identity", certs, Credentials{Username: "alice", UsernameSet: true, PeerCertificates: cert("device-7")}, "device-7", nil},
		{"cert without CN", certs, Credentials{PeerCertificates: cert("")}, "", ErrNotAuthorized},
		{"no cert falls back to password", certs, Credentials{Username: "bob", UsernameSet: true, Password: []byte("builder"), PasswordSet: true}, "bob", nil},
		{"no cert, no user", certs, Credentials{}, "", ErrNotAuthorized},
		{"cert ignored without the option", closed, Credentials{PeerCertificates: cert("device-7")}, "", ErrNotAuthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStatic(t, c.c)
			// Twice: the second run may come from the cache and must agree.
			for i := range 2 {
				id, err := s.Authenticate(context.Background(), c.cred)
				if !errors.Is(err, c.wantErr) || id.Username != c.wantUser {
					t.Fatalf("run %d: Authenticate = %+v, %v; want {Username:%q}, %v", i, id, err, c.wantUser, c.wantErr)
				}
			}
		})
	}
}

func TestAuthenticateCache(t *testing.T) {
	s := newStatic(t, Config{Users: []User{{"alice", hashOf(t, "pw1")}, {"bob", hashOf(t, "pw2")}}})
	s.cache = newPassCache(1)
	ctx := context.Background()
	login := func(user, pw string) error {
		_, err := s.Authenticate(ctx, Credentials{Username: user, UsernameSet: true, Password: []byte(pw), PasswordSet: true})
		return err
	}
	if err := login("alice", "wrong"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if n := s.cache.len(); n != 0 {
		t.Fatalf("failure was cached: len = %d", n)
	}
	if err := login("alice", "pw1"); err != nil {
		t.Fatal(err)
	}
	if !s.cache.check("alice", s.users["alice"], []byte("pw1")) {
		t.Fatal("success not cached")
	}
	// A cached success must not let another password through.
	if err := login("alice", "pw2"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("other password after cached success: %v", err)
	}
	// A different stored hash (config reload) does not hit the entry.
	if s.cache.check("alice", hashOf(t, "pw1"), []byte("pw1")) {
		t.Fatal("cache hit for a different stored hash")
	}
	// Bounded: bob evicts alice.
	if err := login("bob", "pw2"); err != nil {
		t.Fatal(err)
	}
	if n := s.cache.len(); n != 1 {
		t.Fatalf("cache len = %d; want 1", n)
	}
	if s.cache.check("alice", s.users["alice"], []byte("pw1")) {
		t.Fatal("alice not evicted")
	}
	if err := login("alice", "pw1"); err != nil {
		t.Fatal(err)
	}
}

// TestDummyHashCost checks unknown users are compared against a hash as
// expensive as the costliest real one, so timing does not reveal users.
func TestDummyHashCost(t *testing.T) {
	h5, err := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost+1)
	if err != nil {
		t.Fatal(err)
	}
	s := newStatic(t, Config{Users: []User{{"a", hashOf(t, "y")}, {"b", string(h5)}}})
	if c, err := bcrypt.Cost(s.dummy); err != nil || c != bcrypt.MinCost+1 {
		t.Fatalf("dummy cost = %d, %v; want %d", c, err, bcrypt.MinCost+1)
	}
}

func TestAuthenticateContextCancelled(t *testing.T) {
	s := newStatic(t, Config{Users: []User{{"alice", hashOf(t, "pw")}}})
	// Fill every bcrypt slot so the call has to wait, then cancel.
	for range s.sem.size {
		_ = s.sem.acquire(context.Background(), nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Authenticate(ctx, Credentials{Username: "alice", UsernameSet: true, Password: []byte("pw"), PasswordSet: true})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Authenticate = %v; want context.Canceled", err)
	}
}

func TestAuthenticateConcurrent(t *testing.T) {
	var users []User
	for i := range 4 {
		users = append(users, User{fmt.Sprint("u", i), hashOf(t, fmt.Sprint("p", i))})
	}
	s := newStatic(t, Config{Users: users})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				u := (g + i) % 4
				pw := fmt.Sprint("p", u)
				want := error(nil)
				if i%5 == 0 {
					pw, want = "bad", ErrBadCredentials
				}
				_, err := s.Authenticate(context.Background(), Credentials{Username: fmt.Sprint("u", u), UsernameSet: true, Password: []byte(pw), PasswordSet: true})
				if !errors.Is(err, want) {
					t.Errorf("Authenticate(u%d) = %v; want %v", u, err, want)
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkAuthenticateCached(b *testing.B) {
	s := newStatic(b, Config{Users: []User{{"alice", hashOf(b, "pw")}}})
	cred := Credentials{Username: "alice", UsernameSet: true, Password: []byte("pw"), PasswordSet: true}
	ctx := context.Background()
	if _, err := s.Authenticate(ctx, cred); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Authenticate(ctx, cred); err != nil {
			b.Fatal(err)
		}
	}
}
