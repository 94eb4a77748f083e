package auth

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"runtime"

	"golang.org/x/crypto/bcrypt"
)

// Credentials is what a CONNECT (and its transport) presents.
type Credentials struct {
	ClientID         string
	Username         string
	UsernameSet      bool
	Password         []byte
	PasswordSet      bool
	RemoteAddr       net.Addr
	PeerCertificates []*x509.Certificate // verified TLS client certificate chain, when the listener requested one
	// Gate, when set, throttles the password checks of this client's
	// address: the broker's per-address back-off (Backoff.Gate).
	Gate Gate
}

// Gate throttles the password checks of one client. Authenticate calls it
// only on the password path (not for certificates or anonymous clients).
type Gate interface {
	// Admit is called before the cache is consulted and again holding a
	// bcrypt slot, right before bcrypt; its error ends Authenticate.
	Admit() error
	// Suspect tells whether the client's address failed lately; while
	// waiting for a bcrypt slot, a suspect caller lets the others go
	// first. Called with the slot pool's lock held; it must not block.
	Suspect() bool
	// Failed is called after a failed password check, still holding the
	// slot (so the next slot is handed out knowing of the failure).
	Failed()
}

// Identity is who a connection is, after authentication.
type Identity struct {
	// Username is the authenticated user name, the certificate CN with
	// UseIdentityAsUsername, or "" for an anonymous client.
	Username string
}

// ErrBadCredentials means an unknown user name or a wrong or missing
// password. The broker answers CONNACK v3 0x04 / v5 0x86.
var ErrBadCredentials = errors.New("bad user name or password")

// ErrNotAuthorized means the client may not connect at all (anonymous when
// anonymous clients are not allowed, or a certificate without a CN). The
// broker answers CONNACK v3 0x05 / v5 0x87.
var ErrNotAuthorized = errors.New("not authorized")

// maxPassword is the longest password bcrypt reads; it ignores the bytes
// after the 72nd, so two long tokens sharing a 72-byte prefix would be the
// same password. Longer passwords are refused instead.
const maxPassword = 72

// defaultCacheSize bounds the bcrypt success cache; an entry is about 150
// bytes plus the user name and hash.
const defaultCacheSize = 4096

// Static authenticates against the users listed in the configuration.
// It is safe for concurrent use.
type Static struct {
	allowAnonymous bool
	identityAsUser bool
	users          map[string]string // user name -> bcrypt hash
	dummy          []byte            // hash compared for unknown users, so timing does not tell them apart
	cache          *passCache
	sem            *slots // bounds concurrent bcrypt runs (bcrypt_concurrency)
}

// HashLoad is the bcrypt work of a Static at one moment.
type HashLoad struct {
	Running int // checks holding a slot
	Waiting int // checks waiting for one
}

// NewStatic validates c and returns an authenticator for it. It creates the
// dummy hash used for unknown users at the highest cost among the
// configured users, which takes one bcrypt run at that cost (about 50 ms at
// cost 10; under a millisecond when there are no users).
func NewStatic(c Config) (*Static, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	slots := c.BcryptConcurrency
	if slots == 0 {
		slots = runtime.GOMAXPROCS(0)
	}
	s := &Static{
		allowAnonymous: c.AllowAnonymous,
		identityAsUser: c.UseIdentityAsUsername,
		users:          make(map[string]string, len(c.Users)),
		cache:          newPassCache(defaultCacheSize),
		sem:            newSlots(slots),
	}
	// With no users there is nothing to enumerate, so the cheapest dummy
	// does; NewStatic stays fast for configs without users.
	cost := bcrypt.MinCost
	for _, u := range c.Users {
		s.users[u.Username] = u.PasswordHash
		if uc, _ := bcrypt.Cost([]byte(u.PasswordHash)); uc > cost {
			cost = uc
		}
	}
	var pw [16]byte
	_, _ = rand.Read(pw[:]) // never fails on supported platforms; a zero password is as good a dummy
	dummy, err := bcrypt.GenerateFromPassword(pw[:], cost)
	if err != nil {
		return nil, fmt.Errorf("create dummy bcrypt hash: %w", err)
	}
	s.dummy = dummy
	return s, nil
}

// Load reports the bcrypt checks running and waiting.
func (s *Static) Load() HashLoad {
	return s.sem.load()
}

// Authenticate decides whether c may connect.
//
//   - With UseIdentityAsUsername and a verified client certificate, the
//     leaf certificate's Common Name is the identity; user name and password
//     are ignored (as in Mosquitto). A certificate without a CN is refused
//     with ErrNotAuthorized.
//   - Without a user name the client is anonymous: Identity{} when
//     AllowAnonymous, else ErrNotAuthorized. A password without a user name
//     (allowed by MQTT 5) does not change that.
//   - With a user name, an unknown user, a wrong or missing password, or a
//     password longer than bcrypt's 72 bytes is ErrBadCredentials. Unknown users pay for a bcrypt run against a dummy
//     hash, so response time does not reveal which users exist.
//
// A password that already succeeded for the user is recognised from a
// bounded cache without bcrypt. Concurrent bcrypt runs are limited to
// bcrypt_concurrency (default GOMAXPROCS), and a freed slot goes to the
// oldest waiter whose Gate is not Suspect before any suspect one; while
// waiting for a slot, a cancelled ctx ends the call with ctx's error.
// c.Gate, when set, may refuse a password check before the cache and again
// before bcrypt, and learns of each failure.
func (s *Static) Authenticate(ctx context.Context, c Credentials) (Identity, error) {
	if s.identityAsUser && len(c.PeerCertificates) > 0 {
		cn := c.PeerCertificates[0].Subject.CommonName
		if cn == "" {
			return Identity{}, ErrNotAuthorized
		}
		return Identity{Username: cn}, nil
	}
	if !c.UsernameSet {
		if s.allowAnonymous {
			return Identity{}, nil
		}
		return Identity{}, ErrNotAuthorized
	}
	if c.Gate != nil {
		// Before the cache too: a blocked address must not test
		// passwords against it for free.
		if err := c.Gate.Admit(); err != nil {
			return Identity{}, err
		}
	}
	hash, known := s.users[c.Username]
	if known && c.PasswordSet && s.cache.check(c.Username, hash, c.Password) {
		return Identity{Username: c.Username}, nil
	}
	var suspect func() bool
	if c.Gate != nil {
		suspect = c.Gate.Suspect
	}
	if err := s.sem.acquire(ctx, suspect); err != nil {
		return Identity{}, fmt.Errorf("authenticate: %w", err)
	}
	defer s.sem.release()
	if c.Gate != nil {
		if err := c.Gate.Admit(); err != nil {
			return Identity{}, err
		}
	}
	ok := false
	if !known || !c.PasswordSet || len(c.Password) > maxPassword {
		_ = bcrypt.CompareHashAndPassword(s.dummy, c.Password[:min(len(c.Password), maxPassword)])
	} else {
		ok = bcrypt.CompareHashAndPassword([]byte(hash), c.Password) == nil
	}
	if !ok {
		if c.Gate != nil {
			c.Gate.Failed()
		}
		return Identity{}, ErrBadCredentials
	}
	s.cache.store(c.Username, hash, c.Password)
	return Identity{Username: c.Username}, nil
}
