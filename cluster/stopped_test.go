package cluster

import (
	"context"
	"errors"
	"testing"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// TestSessionWriteAfterNodeStopped: a front end's session write after its
// node stopped (the shutdown order reversed, or the node crashed) fails
// with ErrNodeStopped; it used to send on the closed producer (a panic).
func TestSessionWriteAfterNodeStopped(t *testing.T) {
	_, bootstrap := testAdmin(t)
	tn := startNode(t, testConfig(t, "r1"), bootstrap)
	tn.waitReady(t)
	s := NewSessions(tn.Node, nil)
	res, err := s.Claim(context.Background(), mqttfront.ClaimRequest{ClientID: "dev", Version: 5, Expiry: 60})
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	tn.stop()
	if err := <-tn.done; err != nil {
		t.Fatalf("node Run: %v", err)
	}
	tn.done <- nil // for the cleanup
	err = s.Update(context.Background(), &mqttfront.SessionState{ClientID: "dev", Epoch: res.Epoch, Version: 5, Expiry: 60})
	if !errors.Is(err, ErrNodeStopped) {
		t.Fatalf("Update after the node stopped = %v; want ErrNodeStopped", err)
	}
	if _, err := s.Claim(context.Background(), mqttfront.ClaimRequest{ClientID: "dev2", Version: 5}); !errors.Is(err, ErrNodeStopped) {
		t.Fatalf("Claim after the node stopped = %v; want ErrNodeStopped", err)
	}
}
