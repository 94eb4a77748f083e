// Package auth authenticates MQTT connections (static users with bcrypt
// hashes, optionally the TLS client certificate) and authorizes publishes
// and subscriptions with an ordered ACL.
package auth

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Config is the "auth" section of the bridge configuration.
type Config struct {
	// AllowAnonymous lets clients connect without a user name. Default
	// false. Mosquitto: allow_anonymous.
	AllowAnonymous bool `koanf:"allow_anonymous"`
	// UseIdentityAsUsername makes the Common Name of a verified TLS client
	// certificate the connection's user name; no password is then needed.
	// Connections without a certificate fall back to user name and password.
	// Default false. Mosquitto: use_identity_as_username.
	UseIdentityAsUsername bool `koanf:"use_identity_as_username"`
	// BindClientIDToUser makes a session belong to the identity that
	// created it (the user name, or the certificate CN with
	// UseIdentityAsUsername): a CONNECT from another identity with that
	// client id is refused (v5 CONNACK 0x85, v3 0x02) instead of taking the
	// session over or kicking its connection. Anonymous clients share one
	// identity; a session an anonymous client created is adopted by the
	// first user who connects with its client id. Default true; false is
	// the Mosquitto and EMQX behaviour (any client may take over any client
	// id). Applied at start (a reload does not change it).
	BindClientIDToUser bool `koanf:"bind_client_id_to_user"`
	// BcryptConcurrency bounds the bcrypt password checks running at once;
	// further logins wait for a slot (within the CONNECT's authentication
	// deadline). A password that already succeeded is recognised from a
	// cache without bcrypt. 0 = GOMAXPROCS (the CPUs Go uses). Default 0.
	BcryptConcurrency int `koanf:"bcrypt_concurrency"`
	// FailureBackoff refuses, without a password check, an address that
	// failed too many lately.
	FailureBackoff BackoffConfig `koanf:"failure_backoff"`
	// Users are the accounts that can log in with a password.
	Users []User `koanf:"users"`
	// ACL authorizes publishes and subscriptions.
	ACL ACLConfig `koanf:"acl"`
}

// User is one account. PasswordHash is a bcrypt hash ($2a$, $2b$ or $2y$),
// e.g. from `mosquitto_passwd`-like tools or `htpasswd -nbB user pass`.
type User struct {
	Username     string `koanf:"username"`
	PasswordHash string `koanf:"password_hash"`
}

// ACLConfig is the "auth.acl" section.
type ACLConfig struct {
	// NoMatch is the decision when no rule matches: "allow" (the default,
	// like EMQX authorization.no_match) or "deny".
	NoMatch string `koanf:"no_match"`
	// Rules are evaluated in order; the first match wins.
	Rules []ACLRule `koanf:"rules"`
}

// ACLRule allows or denies an action on some topics to some clients.
type ACLRule struct {
	Permission string `koanf:"permission"` // allow | deny
	Action     string `koanf:"action"`     // publish | subscribe | all
	Username   string `koanf:"username"`   // exact; "" = any
	ClientID   string `koanf:"client_id"`  // exact; "" = any
	// Topics are topic filters. %u and %c are replaced by the user name and
	// client id (Mosquitto pattern semantics); a filter with %u never
	// matches an anonymous client.
	Topics []string `koanf:"topics"`
}

// Values of ACLConfig.NoMatch and ACLRule fields.
const (
	NoMatchAllow = "allow"
	NoMatchDeny  = "deny"

	PermissionAllow = "allow"
	PermissionDeny  = "deny"

	ActionNamePublish   = "publish"
	ActionNameSubscribe = "subscribe"
	ActionNameAll       = "all"
)

// DefaultConfig returns the safe defaults: no anonymous clients, no users,
// sessions bound to their owner, an empty ACL that allows everything to
// authenticated clients.
func DefaultConfig() Config {
	return Config{BindClientIDToUser: true, FailureBackoff: DefaultBackoffConfig(), ACL: ACLConfig{NoMatch: NoMatchAllow}}
}

// Validate checks c; the message names the key at fault, e.g.
// "auth.users[2].password_hash: not a bcrypt hash".
func (c Config) Validate() error { return c.ValidateAt("auth") }

// ValidateAt is Validate for a section mounted at prefix (e.g. "mqtt.auth"),
// so the messages name the full key: "mqtt.auth.users[2].password_hash: ...".
func (c Config) ValidateAt(prefix string) error {
	if c.BcryptConcurrency < 0 {
		return fmt.Errorf("%s.bcrypt_concurrency: must be >= 0 (0 = GOMAXPROCS), got %d", prefix, c.BcryptConcurrency)
	}
	if err := c.FailureBackoff.ValidateAt(prefix + ".failure_backoff"); err != nil {
		return err
	}
	seen := make(map[string]int, len(c.Users))
	for i, u := range c.Users {
		key := fmt.Sprintf("%s.users[%d]", prefix, i)
		if u.Username == "" {
			return fmt.Errorf("%s.username: must not be empty", key)
		}
		if !utf8.ValidString(u.Username) || strings.ContainsRune(u.Username, 0) {
			return fmt.Errorf("%s.username: must be UTF-8 without U+0000", key)
		}
		if j, dup := seen[u.Username]; dup {
			return fmt.Errorf("%s.username: %q already defined in %s.users[%d]", key, u.Username, prefix, j)
		}
		seen[u.Username] = i
		if err := checkBcrypt(u.PasswordHash); err != nil {
			return fmt.Errorf("%s.password_hash: %w", key, err)
		}
	}
	return c.ACL.ValidateAt(prefix + ".acl")
}

// checkBcrypt accepts a well-formed bcrypt hash of the $2a$, $2b$ or $2y$
// variant.
func checkBcrypt(h string) error {
	if h == "" {
		return errors.New("must not be empty")
	}
	if !strings.HasPrefix(h, "$2a$") && !strings.HasPrefix(h, "$2b$") && !strings.HasPrefix(h, "$2y$") {
		return errors.New("not a bcrypt hash ($2a$, $2b$ or $2y$)")
	}
	if _, err := bcrypt.Cost([]byte(h)); err != nil || len(h) != 60 {
		return errors.New("not a bcrypt hash")
	}
	return nil
}

// Validate checks the ACL section alone; keys are named under "auth.acl".
func (c ACLConfig) Validate() error { return c.ValidateAt("auth.acl") }

// ValidateAt is Validate for a section mounted at prefix (e.g.
// "mqtt.auth.acl").
func (c ACLConfig) ValidateAt(prefix string) error {
	switch c.NoMatch {
	case "", NoMatchAllow, NoMatchDeny:
	default:
		return fmt.Errorf("%s.no_match: must be allow or deny, not %q", prefix, c.NoMatch)
	}
	for i, r := range c.Rules {
		key := fmt.Sprintf("%s.rules[%d]", prefix, i)
		switch r.Permission {
		case PermissionAllow, PermissionDeny:
		default:
			return fmt.Errorf("%s.permission: must be allow or deny, not %q", key, r.Permission)
		}
		switch r.Action {
		case ActionNamePublish, ActionNameSubscribe, ActionNameAll:
		default:
			return fmt.Errorf("%s.action: must be publish, subscribe or all, not %q", key, r.Action)
		}
		if len(r.Topics) == 0 {
			return fmt.Errorf("%s.topics: must list at least one topic filter", key)
		}
		for j, t := range r.Topics {
			if err := validFilter(t); err != nil {
				return fmt.Errorf("%s.topics[%d]: %q: %w", key, j, t, err)
			}
		}
	}
	return nil
}

// validFilter checks the syntax of an ACL topic filter: non-empty UTF-8,
// '#' only as the whole last level, '+' only as a whole level
// [MQTT-4.7.1-2] [MQTT-4.7.1-3]. A $share prefix is not allowed: rules are
// written against inner filters, which is what shared subscriptions are
// checked against.
func validFilter(f string) error {
	if f == "" {
		return errors.New("empty topic filter")
	}
	if !utf8.ValidString(f) || strings.ContainsRune(f, 0) {
		return errors.New("not UTF-8 without U+0000")
	}
	if strings.HasPrefix(f, "$share/") {
		return errors.New("write the filter without the $share/{group}/ prefix; shared subscriptions are checked by their inner filter")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return errors.New("'#' must be the last level")
		case l != "#" && strings.Contains(l, "#"):
			return errors.New("'#' must occupy a whole level")
		case l != "+" && strings.Contains(l, "+"):
			return errors.New("'+' must occupy a whole level")
		}
	}
	return nil
}
