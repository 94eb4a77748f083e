package packets

// publish decodes PUBLISH: flags from the fixed header, topic name, packet
// identifier (QoS > 0), v5 properties and the payload, which is the rest of
// the body. The payload's UTF-8 is NOT checked here even with a Payload
// Format Indicator of 1: the broker does it, so it can answer with
// PayloadFormatInvalid (0x99). §3.3
func (d *decoder) publish(p *Packet, first byte, v Version) error {
	p.Dup = first&0x08 != 0
	p.QoS = first >> 1 & 0x03
	p.Retain = first&0x01 != 0
	if p.QoS == 3 {
		return Errorf(MalformedPacket, "PUBLISH with QoS 3") // [MQTT-3.3.1-4]
	}
	if p.Dup && p.QoS == 0 {
		return Errorf(MalformedPacket, "PUBLISH with DUP set at QoS 0") // [MQTT-3.3.1-2]
	}
	var err error
	if p.Topic, err = d.str("topic name"); err != nil { // [MQTT-3.3.2-1]
		return err
	}
	if p.QoS > 0 {
		if p.PacketID, err = d.packetID(PUBLISH); err != nil {
			return err
		}
	}
	if v == V5 {
		if err := d.properties(&p.Properties, PUBLISH); err != nil {
			return err
		}
	}
	if err := checkPublishTopic(p, v, false); err != nil {
		return err
	}
	if d.remaining() > 0 {
		p.Payload = d.b[d.pos:len(d.b):len(d.b)]
		d.pos = len(d.b)
	}
	return nil
}

// checkPublishTopic applies the topic name rules; in v5 an empty topic is
// allowed when a Topic Alias is present (the broker resolves it).
// [MQTT-3.3.2-1] [MQTT-3.3.2-2] [MQTT-4.7.3-1]
func checkPublishTopic(p *Packet, v Version, checkUTF8 bool) error {
	switch {
	case p.Topic == "" && v == V5 && p.Properties.TopicAlias != 0:
		return nil
	case p.Topic == "" && v == V5:
		return Errorf(ProtocolError, "empty topic name without topic alias") // §3.3.2.1
	case checkUTF8:
		return ValidTopicName(p.Topic)
	case p.Topic == "":
		return Errorf(TopicNameInvalid, "empty topic name") // [MQTT-4.7.3-1]
	case hasWildcard(p.Topic):
		return Errorf(TopicNameInvalid, "wildcard in topic name %q", p.Topic) // [MQTT-3.3.2-2]
	}
	return nil
}

func publishSize(p *Packet, v Version) (s sizes, err error) {
	switch {
	case p.QoS > 2:
		return s, Errorf(MalformedPacket, "PUBLISH with QoS %d", p.QoS) // [MQTT-3.3.1-4]
	case p.Dup && p.QoS == 0:
		return s, Errorf(MalformedPacket, "PUBLISH with DUP set at QoS 0") // [MQTT-3.3.1-2]
	case p.QoS > 0 && p.PacketID == 0:
		return s, Errorf(ProtocolError, "PUBLISH QoS %d with packet identifier 0", p.QoS) // [MQTT-2.2.1-3]
	}
	if err := checkPublishTopic(p, v, true); err != nil {
		return s, err
	}
	n := 2 + len(p.Topic) + len(p.Payload)
	if p.QoS > 0 {
		n += 2
	}
	if v == V5 {
		if s.props, err = propsSize(&p.Properties, PUBLISH); err != nil {
			return s, err
		}
		n += propsLenSize(s.props)
	}
	s.body = n
	return s, nil
}

func appendPublish(dst []byte, p *Packet, v Version, s sizes) []byte {
	dst = appendString(dst, p.Topic)
	if p.QoS > 0 {
		dst = appendU16(dst, p.PacketID)
	}
	if v == V5 {
		dst = appendProps(dst, &p.Properties, s.props)
	}
	return append(dst, p.Payload...)
}
