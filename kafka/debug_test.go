package kafka

import "fmt"

func (p *Producer) debugState() string {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	p.dmu.Lock()
	defer p.dmu.Unlock()
	return fmt.Sprintf("route=%d draining=%v needProbe=%v backlog=%d blocked=%d directHeld=%d copying=%d dq=%d dInflight=%d rewind=%v empty=%v slots=%d queue=%d",
		p.route, p.draining, p.needProbe, len(p.backlog), p.blocked, p.directHeld.Load(), p.copying.Load(), len(p.dq), p.dInflight, p.rewind, p.sp.Empty(), len(p.slots), len(p.queue))
}
