package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// User is an admin API user for HTTP Basic auth.
type User struct {
	Username string `koanf:"username"`
	// PasswordHash is a bcrypt hash ($2a$, $2b$ or $2y$), as for mqtt.auth.users.
	PasswordHash string `koanf:"password_hash"`
}

// Token is a bearer token for the admin API.
type Token struct {
	// Name identifies the token in logs.
	Name string `koanf:"name"`
	// TokenSHA256 is the lowercase hex SHA-256 of the token
	// (printf %s "$TOKEN" | sha256sum).
	TokenSHA256 string `koanf:"token_sha256"`
}

// apiAuth guards the API and the dashboard. With users or tokens
// configured, every request needs valid credentials (loopback too); with
// none, only loopback clients are served.
// One apiAuth serves the API, the dashboard, /loglevel and /debug/pprof;
// SIGHUP replaces its users and tokens (set).
type apiAuth struct {
	mu     sync.Mutex
	users  map[string][]byte // username → bcrypt hash
	tokens [][]byte          // SHA-256 of each token
	// ok caches SHA-256(user:password) of Basic credentials bcrypt already
	// accepted, so a dashboard polling every few seconds does not pay a
	// bcrypt per request. Bounded: cleared when full, and on set.
	ok  map[[sha256.Size]byte]bool
	gen uint64 // bumped by set
}

const authCacheMax = 256

func newAPIAuth(c Config) *apiAuth {
	a := &apiAuth{}
	a.set(c)
	return a
}

// set replaces the users and tokens (a reload); credentials accepted
// before are checked again.
func (a *apiAuth) set(c Config) {
	users := make(map[string][]byte, len(c.Users))
	for _, u := range c.Users {
		users[u.Username] = []byte(u.PasswordHash)
	}
	var tokens [][]byte
	for _, t := range c.Tokens {
		if b, err := hex.DecodeString(t.TokenSHA256); err == nil {
			tokens = append(tokens, b)
		}
	}
	a.mu.Lock()
	a.users, a.tokens, a.ok = users, tokens, map[[sha256.Size]byte]bool{}
	a.gen++
	a.mu.Unlock()
}

func (a *apiAuth) open() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.users) == 0 && len(a.tokens) == 0
}

// wrap answers 401 (missing or bad credentials, with WWW-Authenticate) or
// 403 (no credentials configured and the client is not on loopback) before h.
func (a *apiAuth) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.open() {
			if !isLoopback(r.RemoteAddr) {
				writeError(w, http.StatusForbidden, "no admin users or tokens configured (admin.users, admin.tokens): the admin API answers loopback clients only")
				return
			}
			h.ServeHTTP(w, r)
			return
		}
		if !a.check(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="mqtt-kafka-bridge", charset="UTF-8"`)
			w.Header().Add("WWW-Authenticate", `Bearer realm="mqtt-kafka-bridge"`)
			writeError(w, http.StatusUnauthorized, "authentication required: HTTP Basic (admin.users) or a bearer token (admin.tokens)")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (a *apiAuth) check(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
		sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		a.mu.Lock()
		tokens := a.tokens
		a.mu.Unlock()
		match := 0
		for _, t := range tokens {
			match |= subtle.ConstantTimeCompare(sum[:], t)
		}
		return match == 1
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	key := sha256.Sum256([]byte(user + "\x00" + pass))
	a.mu.Lock()
	hash, known := a.users[user]
	cached, gen := a.ok[key], a.gen
	a.mu.Unlock()
	if !known {
		return false
	}
	if cached {
		return true
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(pass)) != nil {
		return false
	}
	a.mu.Lock()
	if len(a.ok) >= authCacheMax {
		clear(a.ok)
	}
	if a.gen == gen { // no reload during the bcrypt
		a.ok[key] = true
	}
	a.mu.Unlock()
	return true
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
