package mqttfront_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: Run must return
// only when everything it started has ended.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
