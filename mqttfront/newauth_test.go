package mqttfront

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
)

// TestNewAuth: the one builder of the users and ACL pair, used by New and
// by a reload: a good section gives a working pair, a bad one an error
// naming its key.
func TestNewAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	c := auth.DefaultConfig()
	c.Users = []auth.User{{Username: "alice", PasswordHash: string(hash)}}
	c.ACL = auth.ACLConfig{NoMatch: "deny", Rules: []auth.ACLRule{{Permission: "allow", Action: "all", Username: "alice", Topics: []string{"a/#"}}}}
	a, acl, err := NewAuth(c)
	if err != nil {
		t.Fatalf("NewAuth: %v", err)
	}
	if _, err := a.Authenticate(context.Background(), auth.Credentials{Username: "alice", Password: []byte("pw"), UsernameSet: true, PasswordSet: true}); err != nil {
		t.Errorf("alice refused: %v", err)
	}
	if !acl.Allow(auth.ActionPublish, "alice", "c1", "a/b") || acl.Allow(auth.ActionPublish, "alice", "c1", "b") {
		t.Error("ACL does not follow its rules")
	}

	bad := c
	bad.Users = []auth.User{{Username: "bob", PasswordHash: "not-a-hash"}}
	if _, _, err := NewAuth(bad); err == nil || !strings.HasPrefix(err.Error(), "mqtt.auth: ") {
		t.Errorf("NewAuth(bad hash) = %v; want an error starting with mqtt.auth: ", err)
	}
	bad = c
	bad.ACL.Rules = []auth.ACLRule{{Permission: "allow", Action: "all", Topics: []string{"a/#/b"}}}
	if _, _, err := NewAuth(bad); err == nil || !strings.HasPrefix(err.Error(), "mqtt.auth") || !strings.Contains(err.Error(), "acl.rules[0]") {
		t.Errorf("NewAuth(bad filter) = %v; want an error naming mqtt.auth and the rule", err)
	}
}
