package admin

import "time"

// Names the tests in package admin_test (which run a whole bridge, so
// cannot be in package admin) need from inside.

type (
	OverviewJSON = overviewJSON
	Sample       = sample
)

// SetHistoryInterval shortens the chart sampling interval for servers
// started after it; the returned func restores it.
func SetHistoryInterval(d time.Duration) (restore func()) {
	old := historyInterval
	historyInterval = d
	return func() { historyInterval = old }
}
