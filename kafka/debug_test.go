package kafka

import "fmt"

// spill returns p's spill stage (tests of the hybrid path only).
func (p *Producer) spill() *spill { return p.stage.(*spill) }

func (p *Producer) debugState() string {
	s := p.spill()
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.dmu.Lock()
	defer s.dmu.Unlock()
	return fmt.Sprintf("route=%d draining=%v needProbe=%v backlog=%d blocked=%d directHeld=%d copying=%d dq=%d dInflight=%d rewind=%v empty=%v slots=%d queue=%d",
		s.route, s.draining, s.needProbe, len(s.backlog), s.blocked, s.directHeld.Load(), s.copying.Load(), len(s.dq), s.dInflight, s.rewind, s.sp.Empty(), len(p.w.slots), len(p.w.queue))
}
