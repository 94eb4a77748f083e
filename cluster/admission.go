package cluster

import (
	"errors"
	"fmt"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// State is where a node is in its life.
type State int32

// States, in order.
const (
	StateNew        State = iota // built, Run not called
	StateStarting                // opening the cache, verifying the internal topics
	StateCheckingID              // making sure no live replica uses this replica id
	StateCatchingUp              // reading the tables up to the high-water marks seen at start
	StateReady                   // caught up: takes CONNECTs
	StateStopped                 // Run returned
)

var stateNames = [...]string{"new", "starting", "checking_replica_id", "catching_up", "ready", "stopped"}

func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// States lists every state (for metrics).
func States() []State {
	return []State{StateNew, StateStarting, StateCheckingID, StateCatchingUp, StateReady, StateStopped}
}

// State returns the node's state.
func (n *Node) State() State { return State(n.state.Load()) }

// ErrNotReady is wrapped by Admit's refusals.
var ErrNotReady = errors.New("cluster replica not ready")

var _ mqttfront.Admission = (*Node)(nil)

// Admit refuses CONNECTs until the node is ready (README.md, "Catching
// up"): the front end answers v5 CONNACK 0x88, v3 0x03.
func (n *Node) Admit() error {
	select {
	case <-n.ready:
		return nil
	default:
	}
	return fmt.Errorf("%w: %s", ErrNotReady, n.NotReadyReason())
}

// NotReadyReason says why the node is not ready ("" once it is), for
// /readyz and Admit's refusal.
func (n *Node) NotReadyReason() string {
	st := n.State()
	switch st {
	case StateReady:
		return ""
	case StateCatchingUp:
		var lag int64
		if ts := n.tables.Load(); ts != nil {
			for _, t := range *ts {
				lag += t.Lag()
			}
		}
		return fmt.Sprintf("replica %s is catching up with the cluster state (%d records behind the high-water marks seen at start)", n.id, lag)
	case StateStopped:
		return fmt.Sprintf("replica %s: the cluster node stopped", n.id)
	default:
		return fmt.Sprintf("replica %s is joining the cluster (%s)", n.id, st)
	}
}

// TableStats is one table's progress.
type TableStats struct {
	Name    string
	Behind  int64  // records not yet applied, up to the partitions' high-water marks
	Records uint64 // records applied since start
	// CaughtUp: the table applied every record up to the high-water marks
	// seen at its start.
	CaughtUp bool
}

// Stats is a snapshot of the node for metrics and the admin API.
type Stats struct {
	ID                 string
	State              State
	Tables             []TableStats // empty before Run built them
	Retained           RetainedStats
	LiveReplicas       int
	ReplicaIDConflicts uint64
}

// Stats returns a snapshot.
func (n *Node) Stats() Stats {
	st := Stats{ID: n.id, State: n.State(), Retained: n.retained.Stats(),
		LiveReplicas: len(n.registry.Live()), ReplicaIDConflicts: n.registry.Conflicts()}
	if ts := n.tables.Load(); ts != nil {
		for _, t := range *ts {
			ts := TableStats{Name: t.Name(), Behind: t.Behind(), Records: t.Records()}
			select {
			case <-t.CaughtUp():
				ts.CaughtUp = true
			default:
			}
			st.Tables = append(st.Tables, ts)
		}
	}
	return st
}
