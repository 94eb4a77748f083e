package packets

// ack decodes PUBACK, PUBREC, PUBREL and PUBCOMP. In v5 the reason code and
// the properties may be omitted: a remaining length of 2 means Success and no
// properties, less than 4 means no properties. [MQTT-3.4.2-1]
// §3.4.2.2 §3.5.2.2 §3.6.2.2 §3.7.2.2
func (d *decoder) ack(p *Packet, v Version) error {
	var err error
	if p.PacketID, err = d.packetID(p.Type); err != nil {
		return err
	}
	if v != V5 || d.remaining() == 0 {
		return nil // v3: exactly 2 bytes, checked by the trailing-bytes rule
	}
	code, _ := d.u8("reason code")
	p.ReasonCode = ReasonCode(code)
	if !ackCodes(p.Type).has(p.ReasonCode) {
		return badCode(p.Type, p.ReasonCode)
	}
	if d.remaining() == 0 {
		return nil
	}
	return d.properties(&p.Properties, p.Type)
}

func ackSize(p *Packet, v Version) (s sizes, err error) {
	s.body = 2
	if v != V5 {
		return s, nil
	}
	if !ackCodes(p.Type).has(p.ReasonCode) {
		return s, badCode(p.Type, p.ReasonCode)
	}
	if s.props, err = propsSize(&p.Properties, p.Type); err != nil {
		return s, err
	}
	switch {
	case s.props > 0:
		s.body += 1 + propsLenSize(s.props)
	case p.ReasonCode != Success:
		s.body++
	}
	return s, nil
}

func appendAck(dst []byte, p *Packet, v Version, s sizes) []byte {
	dst = appendU16(dst, p.PacketID)
	if s.body > 2 {
		dst = append(dst, byte(p.ReasonCode))
	}
	if s.props > 0 {
		dst = appendProps(dst, &p.Properties, s.props)
	}
	return dst
}
