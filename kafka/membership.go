package kafka

import (
	"errors"
	"fmt"
	"strings"

	"github.com/IBM/sarama"
)

// Group membership of the downlink consumer: static membership
// (group_instance_id) and the partition assignors
// (partition_assignment_strategy). See README.md "Consumer".

// maxGroupInstanceID is Kafka's limit on group.instance.id (its topic-name
// rule: 249 bytes).
const maxGroupInstanceID = 249

// checkGroupInstanceID applies Kafka's rule for group.instance.id: 1-249
// bytes of letters, digits, '.', '_' and '-', not "." or "..".
func checkGroupInstanceID(id string) error {
	switch {
	case len(id) > maxGroupInstanceID:
		return fmt.Errorf("is longer than %d bytes", maxGroupInstanceID)
	case id == "." || id == "..":
		return errors.New("must not be . or ..")
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == '-') {
			return fmt.Errorf("has %q at byte %d; only letters, digits, '.', '_' and '-' are allowed", b, i)
		}
	}
	return nil
}

// Assignor names, as Java's clients announce them in JoinGroup.
const (
	AssignorRange             = "range"
	AssignorRoundRobin        = "roundrobin"
	AssignorSticky            = "sticky"
	AssignorCooperativeSticky = "cooperative-sticky"
)

// balanceStrategies parses partition_assignment_strategy ("" is range,
// sarama's and Java's historical default). The names must share a
// rebalance protocol: cooperative-sticky supports both, the others only
// eager.
func balanceStrategies(list string) ([]sarama.BalanceStrategy, error) {
	if strings.TrimSpace(list) == "" {
		return []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}, nil
	}
	var out []sarama.BalanceStrategy
	seen := map[string]bool{}
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if seen[name] {
			return nil, fmt.Errorf("%q is listed twice", name)
		}
		seen[name] = true
		switch name {
		case AssignorRange:
			out = append(out, sarama.NewBalanceStrategyRange())
		case AssignorRoundRobin:
			out = append(out, sarama.NewBalanceStrategyRoundRobin())
		case AssignorSticky:
			out = append(out, sarama.NewBalanceStrategySticky())
		case AssignorCooperativeSticky:
			out = append(out, sarama.NewBalanceStrategyCooperativeSticky())
		default:
			return nil, fmt.Errorf("%q is not range, roundrobin, sticky or cooperative-sticky", name)
		}
	}
	return out, nil
}
