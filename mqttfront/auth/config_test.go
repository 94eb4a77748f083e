package auth

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func hashOf(t testing.TB, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestDefaultConfigValid(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	if c.AllowAnonymous {
		t.Error("DefaultConfig allows anonymous clients")
	}
	if c.ACL.NoMatch != "allow" {
		t.Errorf("DefaultConfig ACL.NoMatch = %q; want allow", c.ACL.NoMatch)
	}
	if !c.BindClientIDToUser {
		t.Error("DefaultConfig does not bind sessions to their owner")
	}
}

func TestValidateAt(t *testing.T) {
	c := Config{Users: []User{{"a", hashOf(t, "x")}, {"a", hashOf(t, "y")}}}
	want := `mqtt.auth.users[1].username: "a" already defined in mqtt.auth.users[0]`
	if err := c.ValidateAt("mqtt.auth"); err == nil || err.Error() != want {
		t.Errorf("ValidateAt = %v; want %s", err, want)
	}
	c = Config{ACL: ACLConfig{Rules: []ACLRule{{Permission: "allow", Action: "x", Topics: []string{"a"}}}}}
	want = `mqtt.auth.acl.rules[0].action: must be publish, subscribe or all, not "x"`
	if err := c.ValidateAt("mqtt.auth"); err == nil || err.Error() != want {
		t.Errorf("ValidateAt = %v; want %s", err, want)
	}
}

func TestConfigValidate(t *testing.T) {
	good := hashOf(t, "pw")
	y := "$2y$" + good[4:] // htpasswd writes $2y$
	rule := func(mod func(*ACLRule)) Config {
		c := DefaultConfig()
		r := ACLRule{Permission: "allow", Action: "all", Topics: []string{"a/#"}}
		mod(&r)
		c.ACL.Rules = []ACLRule{{Permission: "deny", Action: "publish", Topics: []string{"x"}}, r}
		return c
	}
	cases := []struct {
		name string
		c    Config
		want string // substring of the error; "" = valid
	}{
		{"users ok", Config{Users: []User{{"a", good}, {"b", y}}}, ""},
		{"empty username", Config{Users: []User{{"a", good}, {"", good}}}, "auth.users[1].username: must not be empty"},
		{"duplicate user", Config{Users: []User{{"a", good}, {"a", good}}}, `auth.users[1].username: "a" already defined in auth.users[0]`},
		{"not bcrypt", Config{Users: []User{{"a", good}, {"b", good}, {"c", "plaintext"}}}, "auth.users[2].password_hash: not a bcrypt hash"},
		{"md5 crypt", Config{Users: []User{{"a", "$1$abc$def"}}}, "auth.users[0].password_hash: not a bcrypt hash"},
		{"truncated bcrypt", Config{Users: []User{{"a", good[:40]}}}, "auth.users[0].password_hash: not a bcrypt hash"},
		{"empty hash", Config{Users: []User{{"a", ""}}}, "auth.users[0].password_hash: must not be empty"},
		{"no_match", Config{ACL: ACLConfig{NoMatch: "maybe"}}, `auth.acl.no_match: must be allow or deny, not "maybe"`},
		{"empty no_match", Config{ACL: ACLConfig{}}, ""},
		{"rule ok", rule(func(*ACLRule) {}), ""},
		{"permission", rule(func(r *ACLRule) { r.Permission = "permit" }), `auth.acl.rules[1].permission: must be allow or deny`},
		{"action", rule(func(r *ACLRule) { r.Action = "read" }), `auth.acl.rules[1].action: must be publish, subscribe or all`},
		{"no topics", rule(func(r *ACLRule) { r.Topics = nil }), "auth.acl.rules[1].topics: must list at least one topic filter"},
		{"empty topic", rule(func(r *ACLRule) { r.Topics = []string{"a", ""} }), "auth.acl.rules[1].topics[1]"},
		{"hash not last", rule(func(r *ACLRule) { r.Topics = []string{"a/#/b"} }), "auth.acl.rules[1].topics[0]: \"a/#/b\": '#' must be the last level"},
		{"hash in level", rule(func(r *ACLRule) { r.Topics = []string{"a/b#"} }), "'#' must occupy a whole level"},
		{"plus in level", rule(func(r *ACLRule) { r.Topics = []string{"a/b+/c"} }), "auth.acl.rules[1].topics[0]: \"a/b+/c\": '+' must occupy a whole level"},
		{"share prefix", rule(func(r *ACLRule) { r.Topics = []string{"$share/g/a"} }), "auth.acl.rules[1].topics[0]"},
		{"patterns ok", rule(func(r *ACLRule) { r.Topics = []string{"d/%c/#", "u/%u/+/x", "+", "#", "/"} }), ""},
		{"bcrypt_concurrency", Config{BcryptConcurrency: -1}, "auth.bcrypt_concurrency: must be >= 0 (0 = GOMAXPROCS), got -1"},
		{"backoff off", Config{FailureBackoff: BackoffConfig{}}, ""},
		{"backoff default", Config{FailureBackoff: DefaultBackoffConfig()}, ""},
		{"backoff max_failures", Config{FailureBackoff: BackoffConfig{MaxFailures: -1}}, "auth.failure_backoff.max_failures: must be >= 0"},
		{"backoff window", Config{FailureBackoff: BackoffConfig{MaxFailures: 3, Block: time.Second, MaxAddresses: 1}}, "auth.failure_backoff.window: must be > 0"},
		{"backoff block", Config{FailureBackoff: BackoffConfig{MaxFailures: 3, Window: time.Second, MaxAddresses: 1}}, "auth.failure_backoff.block: must be > 0"},
		{"backoff max_addresses", Config{FailureBackoff: BackoffConfig{MaxFailures: 3, Window: time.Second, Block: time.Second}}, "auth.failure_backoff.max_addresses: must be >= 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.c.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("Validate() = %v; want nil", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("Validate() = %v; want error containing %q", err, c.want)
			}
			if c.want != "" {
				if _, nerr := NewStatic(c.c); nerr == nil {
					t.Error("NewStatic accepted an invalid config")
				}
				if strings.HasPrefix(c.want, "auth.acl") {
					if _, nerr := NewACL(c.c.ACL); nerr == nil {
						t.Error("NewACL accepted an invalid config")
					}
				}
			}
		})
	}
}
