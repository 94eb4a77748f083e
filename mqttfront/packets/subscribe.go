package packets

// subscribe decodes SUBSCRIBE. Only structural problems fail: a filter that
// breaks the wildcard rules is returned as is, for the broker to answer with
// TopicFilterInvalid (0x8F) or 0x80 for that filter alone. Malformed UTF-8 is
// structural [MQTT-1.5.4-1]. §3.8
func (d *decoder) subscribe(p *Packet, v Version) error {
	var err error
	if p.PacketID, err = d.packetID(SUBSCRIBE); err != nil {
		return err
	}
	if v == V5 {
		if err := d.properties(&p.Properties, SUBSCRIBE); err != nil {
			return err
		}
	}
	if d.remaining() == 0 {
		return Errorf(ProtocolError, "SUBSCRIBE without topic filters") // [MQTT-3.8.3-3]
	}
	for d.remaining() > 0 {
		var s Subscription
		if s.Filter, err = d.str("topic filter"); err != nil {
			return err
		}
		opts, err := d.u8("subscription options")
		if err != nil {
			return err
		}
		s.QoS = opts & 0x03
		if s.QoS == 3 {
			// 3.1.1: [MQTT-3-8.3-4], the 3.1.1 spec's own spelling (not 3.8.3-4,
			// which is No Local on a shared subscription in 5.0); 5.0: §3.8.3.1.
			return Errorf(MalformedPacket, "subscription QoS 3 for %q", s.Filter)
		}
		if v != V5 {
			if opts&0xFC != 0 {
				return Errorf(MalformedPacket, "reserved subscription option bits 0x%02X", opts) // [MQTT-3-8.3-4] (sic, 3.1.1)
			}
		} else {
			if opts&0xC0 != 0 {
				return Errorf(MalformedPacket, "reserved subscription option bits 0x%02X", opts) // [MQTT-3.8.3-5]
			}
			s.NoLocal = opts&0x04 != 0
			s.RetainAsPublished = opts&0x08 != 0
			s.RetainHandling = opts >> 4 & 0x03
			if s.RetainHandling == 3 {
				return Errorf(ProtocolError, "retain handling 3 for %q", s.Filter) // §3.8.3.1
			}
			if _, _, shared := ParseShared(s.Filter); shared && s.NoLocal {
				return Errorf(ProtocolError, "no local on shared subscription %q", s.Filter) // [MQTT-3.8.3-4]
			}
		}
		p.Subscriptions = append(p.Subscriptions, s)
	}
	return nil
}

// unsubscribe decodes UNSUBSCRIBE; like SUBSCRIBE, invalid filters are left
// to the broker. §3.10
func (d *decoder) unsubscribe(p *Packet, v Version) error {
	var err error
	if p.PacketID, err = d.packetID(UNSUBSCRIBE); err != nil {
		return err
	}
	if v == V5 {
		if err := d.properties(&p.Properties, UNSUBSCRIBE); err != nil {
			return err
		}
	}
	if d.remaining() == 0 {
		return Errorf(ProtocolError, "UNSUBSCRIBE without topic filters") // [MQTT-3.10.3-2]
	}
	for d.remaining() > 0 {
		f, err := d.str("topic filter")
		if err != nil {
			return err
		}
		p.Subscriptions = append(p.Subscriptions, Subscription{Filter: f})
	}
	return nil
}

// suback decodes SUBACK and UNSUBACK: packet identifier, v5 properties and
// one reason code per filter. The v3 UNSUBACK has only the packet
// identifier. §3.9 §3.11
func (d *decoder) suback(p *Packet, v Version) error {
	var err error
	if p.PacketID, err = d.packetID(p.Type); err != nil {
		return err
	}
	if v != V5 && p.Type == UNSUBACK {
		return nil // trailing bytes are refused by the caller §3.11.2
	}
	if v == V5 {
		if err := d.properties(&p.Properties, p.Type); err != nil {
			return err
		}
	}
	if d.remaining() == 0 {
		return Errorf(ProtocolError, "%s without reason codes", p.Type) // [MQTT-3.9.3-1] [MQTT-3.11.3-1]
	}
	set := subackCodeSet(p.Type, v)
	p.ReasonCodes = make([]ReasonCode, d.remaining())
	for i, c := range d.b[d.pos:] {
		if !set.has(ReasonCode(c)) {
			return badCode(p.Type, ReasonCode(c))
		}
		p.ReasonCodes[i] = ReasonCode(c)
	}
	d.pos = len(d.b)
	return nil
}

func subackCodeSet(t Type, v Version) *codeSet {
	switch {
	case t == UNSUBACK:
		return &unsubackCodes
	case v == V5:
		return &subackCodes
	}
	return &subackV3Codes
}

func subscribeSize(p *Packet, v Version) (s sizes, err error) {
	if p.PacketID == 0 {
		return s, Errorf(ProtocolError, "%s with packet identifier 0", p.Type) // [MQTT-2.2.1-3]
	}
	if len(p.Subscriptions) == 0 {
		return s, Errorf(ProtocolError, "%s without topic filters", p.Type) // [MQTT-3.8.3-3] [MQTT-3.10.3-2]
	}
	n := 2
	if v == V5 {
		if s.props, err = propsSize(&p.Properties, p.Type); err != nil {
			return s, err
		}
		n += propsLenSize(s.props)
	}
	for i := range p.Subscriptions {
		sub := &p.Subscriptions[i]
		if len(sub.Filter) > maxStringLen {
			return s, Errorf(MalformedPacket, "topic filter longer than %d bytes", maxStringLen)
		}
		n += 2 + len(sub.Filter)
		if p.Type == UNSUBSCRIBE {
			continue
		}
		n++
		switch {
		case sub.QoS > 2:
			return s, Errorf(MalformedPacket, "subscription QoS %d", sub.QoS)
		case v == V5 && sub.RetainHandling > 2:
			return s, Errorf(ProtocolError, "retain handling %d", sub.RetainHandling)
		case v == V5 && sub.NoLocal:
			if _, _, shared := ParseShared(sub.Filter); shared {
				return s, Errorf(ProtocolError, "no local on shared subscription %q", sub.Filter) // [MQTT-3.8.3-4]
			}
		}
	}
	s.body = n
	return s, nil
}

func appendSubscribe(dst []byte, p *Packet, v Version, s sizes) []byte {
	dst = appendU16(dst, p.PacketID)
	if v == V5 {
		dst = appendProps(dst, &p.Properties, s.props)
	}
	for i := range p.Subscriptions {
		sub := &p.Subscriptions[i]
		dst = appendString(dst, sub.Filter)
		if p.Type == UNSUBSCRIBE {
			continue
		}
		opts := sub.QoS
		if v == V5 {
			if sub.NoLocal {
				opts |= 0x04
			}
			if sub.RetainAsPublished {
				opts |= 0x08
			}
			opts |= sub.RetainHandling << 4
		}
		dst = append(dst, opts)
	}
	return dst
}

func subackSize(p *Packet, v Version) (s sizes, err error) {
	if p.PacketID == 0 {
		return s, Errorf(ProtocolError, "%s with packet identifier 0", p.Type) // [MQTT-2.2.1-3]
	}
	s.body = 2
	if v != V5 && p.Type == UNSUBACK {
		return s, nil
	}
	if len(p.ReasonCodes) == 0 {
		return s, Errorf(ProtocolError, "%s without reason codes", p.Type)
	}
	set := subackCodeSet(p.Type, v)
	for _, c := range p.ReasonCodes {
		if !set.has(c) {
			return s, badCode(p.Type, c)
		}
	}
	s.body += len(p.ReasonCodes)
	if v == V5 {
		if s.props, err = propsSize(&p.Properties, p.Type); err != nil {
			return s, err
		}
		s.body += propsLenSize(s.props)
	}
	return s, nil
}

func appendSuback(dst []byte, p *Packet, v Version, s sizes) []byte {
	dst = appendU16(dst, p.PacketID)
	if v != V5 && p.Type == UNSUBACK {
		return dst
	}
	if v == V5 {
		dst = appendProps(dst, &p.Properties, s.props)
	}
	for _, c := range p.ReasonCodes {
		dst = append(dst, byte(c))
	}
	return dst
}
