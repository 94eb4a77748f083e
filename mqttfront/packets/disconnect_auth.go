package packets

// disconnect decodes DISCONNECT: empty in v3; in v5 a reason code and
// properties, either of which may be omitted (remaining length 0 means
// Normal Disconnection, less than 2 means no properties). §3.14.2.1
// §3.14.2.2.1
func (d *decoder) disconnect(p *Packet, v Version) error {
	if v != V5 || d.remaining() == 0 {
		return nil // v3: remaining length 0, checked by the trailing-bytes rule [MQTT-3.14.1-1]
	}
	return d.reasonAndProps(p, &disconnectCodes)
}

// auth decodes AUTH (v5 only): remaining length 0 means Success without
// properties. [MQTT-3.15.2-1]
func (d *decoder) auth(p *Packet) error {
	if d.remaining() == 0 {
		return nil
	}
	return d.reasonAndProps(p, &authCodes)
}

func (d *decoder) reasonAndProps(p *Packet, set *codeSet) error {
	code, _ := d.u8("reason code")
	p.ReasonCode = ReasonCode(code)
	if !set.has(p.ReasonCode) {
		return badCode(p.Type, p.ReasonCode)
	}
	if d.remaining() == 0 {
		return nil
	}
	return d.properties(&p.Properties, p.Type)
}

// disconnectAuthSize sizes DISCONNECT and AUTH. The encoder emits the
// shortest form: nothing for Success without properties, the reason code
// alone for a DISCONNECT without properties.
func disconnectAuthSize(p *Packet, v Version) (s sizes, err error) {
	if v != V5 {
		return s, nil // v3 DISCONNECT has no variable header
	}
	set := &disconnectCodes
	if p.Type == AUTH {
		set = &authCodes
	}
	if !set.has(p.ReasonCode) {
		return s, badCode(p.Type, p.ReasonCode)
	}
	if s.props, err = propsSize(&p.Properties, p.Type); err != nil {
		return s, err
	}
	switch {
	case s.props > 0 || p.Type == AUTH && p.ReasonCode != Success:
		s.body = 1 + propsLenSize(s.props)
	case p.ReasonCode != Success:
		s.body = 1
	}
	return s, nil
}

func appendDisconnectAuth(dst []byte, p *Packet, s sizes) []byte {
	if s.body == 0 {
		return dst
	}
	dst = append(dst, byte(p.ReasonCode))
	if s.body > 1 {
		dst = appendProps(dst, &p.Properties, s.props)
	}
	return dst
}
