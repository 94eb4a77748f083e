package packets

// connect decodes the variable header and payload of CONNECT. The version
// comes from the packet itself. §3.1
func (d *decoder) connect(p *Packet) error {
	c := &p.Connect
	name, err := d.str("protocol name")
	if err != nil {
		return err
	}
	level, err := d.u8("protocol level")
	if err != nil {
		return err
	}
	c.ProtocolName, c.ProtocolVersion = name, Version(level)
	switch {
	case name == "MQTT" && (level == byte(V311) || level == byte(V5)), name == "MQIsdp" && level == byte(V31):
	case name == "MQTT" || name == "MQIsdp":
		d.partial = true
		return Errorf(UnsupportedProtocolVersion, "protocol %q level %d", name, level) // [MQTT-3.1.2-2]
	default:
		d.partial = true
		return Errorf(ProtocolError, "protocol name %q", name) // [MQTT-3.1.2-1]
	}
	v5 := level == byte(V5)
	flags, err := d.u8("connect flags")
	if err != nil {
		return err
	}
	if flags&0x01 != 0 {
		return Errorf(MalformedPacket, "CONNECT reserved flag set") // [MQTT-3.1.2-3]
	}
	c.CleanStart = flags&0x02 != 0
	c.WillFlag = flags&0x04 != 0
	c.WillQoS = flags >> 3 & 0x03
	c.WillRetain = flags&0x20 != 0
	c.PasswordFlag = flags&0x40 != 0
	c.UsernameFlag = flags&0x80 != 0
	if !c.WillFlag && (c.WillQoS != 0 || c.WillRetain) {
		return Errorf(MalformedPacket, "will QoS or will retain set without the will flag") // [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15]
	}
	if c.WillQoS == 3 {
		return Errorf(MalformedPacket, "will QoS 3") // [MQTT-3.1.2-14]
	}
	if !v5 && c.PasswordFlag && !c.UsernameFlag {
		return Errorf(MalformedPacket, "password flag without user name flag") // [MQTT-3.1.2-22]
	}
	if c.KeepAlive, err = d.u16("keep alive"); err != nil {
		return err
	}
	if v5 {
		if err := d.properties(&p.Properties, CONNECT); err != nil {
			return err
		}
	}
	if c.ClientID, err = d.str("client identifier"); err != nil { // [MQTT-3.1.3-3] [MQTT-3.1.3-4]
		return err
	}
	if c.WillFlag {
		if v5 {
			if err := d.properties(&c.WillProperties, willProps); err != nil {
				return err
			}
		}
		if c.WillTopic, err = d.str("will topic"); err != nil { // [MQTT-3.1.3-11]
			return err
		}
		if c.WillPayload, err = d.bin("will payload"); err != nil {
			return err
		}
		if len(c.WillPayload) == 0 {
			c.WillPayload = nil
		}
	}
	if c.UsernameFlag {
		if c.Username, err = d.str("user name"); err != nil { // [MQTT-3.1.3-12]
			return err
		}
	}
	if c.PasswordFlag {
		if c.Password, err = d.bin("password"); err != nil {
			return err
		}
		if len(c.Password) == 0 {
			c.Password = nil
		}
	}
	return nil
}

// connectVersion is the protocol level a CONNECT is encoded with: its own,
// or v when unset.
func connectVersion(p *Packet, v Version) Version {
	if p.Connect.ProtocolVersion != 0 {
		return p.Connect.ProtocolVersion
	}
	return v
}

func connectName(c *Connect, v Version) string {
	if c.ProtocolName != "" {
		return c.ProtocolName
	}
	if v == V31 {
		return "MQIsdp"
	}
	return "MQTT"
}

func connectSize(p *Packet, v Version) (s sizes, err error) {
	c := &p.Connect
	name := connectName(c, v)
	switch {
	case v == V31 && name == "MQIsdp", (v == V311 || v == V5) && name == "MQTT":
	default:
		return s, Errorf(UnsupportedProtocolVersion, "protocol %q level %d", name, v)
	}
	if c.WillFlag && c.WillQoS > 2 {
		return s, Errorf(MalformedPacket, "will QoS %d", c.WillQoS) // [MQTT-3.1.2-14]
	}
	user := c.UsernameFlag || c.Username != ""
	pass := c.PasswordFlag || c.Password != nil
	if v != V5 && pass && !user {
		return s, Errorf(MalformedPacket, "password without user name") // [MQTT-3.1.2-22]
	}
	n := 2 + len(name) + 1 + 1 + 2 + 2 + len(c.ClientID)
	long := len(c.ClientID) > maxStringLen
	if v == V5 {
		if s.props, err = propsSize(&p.Properties, CONNECT); err != nil {
			return s, err
		}
		n += propsLenSize(s.props)
	}
	if c.WillFlag {
		if v == V5 {
			if s.will, err = propsSize(&c.WillProperties, willProps); err != nil {
				return s, err
			}
			n += propsLenSize(s.will)
		}
		n += 2 + len(c.WillTopic) + 2 + len(c.WillPayload)
		long = long || len(c.WillTopic) > maxStringLen || len(c.WillPayload) > maxStringLen
	}
	if user {
		n += 2 + len(c.Username)
		long = long || len(c.Username) > maxStringLen
	}
	if pass {
		n += 2 + len(c.Password)
		long = long || len(c.Password) > maxStringLen
	}
	if long {
		return s, Errorf(MalformedPacket, "CONNECT field longer than %d bytes", maxStringLen)
	}
	s.body = n
	return s, nil
}

func appendConnect(dst []byte, p *Packet, v Version, s sizes) []byte {
	c := &p.Connect
	dst = appendString(dst, connectName(c, v))
	dst = append(dst, byte(v))
	var flags byte
	if c.CleanStart {
		flags |= 0x02
	}
	if c.WillFlag {
		flags |= 0x04 | c.WillQoS<<3
		if c.WillRetain {
			flags |= 0x20
		}
	}
	pass := c.PasswordFlag || c.Password != nil
	user := c.UsernameFlag || c.Username != ""
	if pass {
		flags |= 0x40
	}
	if user {
		flags |= 0x80
	}
	dst = appendU16(append(dst, flags), c.KeepAlive)
	if v == V5 {
		dst = appendProps(dst, &p.Properties, s.props)
	}
	dst = appendString(dst, c.ClientID)
	if c.WillFlag {
		if v == V5 {
			dst = appendProps(dst, &c.WillProperties, s.will)
		}
		dst = appendString(dst, c.WillTopic)
		dst = appendBinary(dst, c.WillPayload)
	}
	if user {
		dst = appendString(dst, c.Username)
	}
	if pass {
		dst = appendBinary(dst, c.Password)
	}
	return dst
}

// connack decodes CONNACK: acknowledge flags, return or reason code and, in
// v5, properties. §3.2
func (d *decoder) connack(p *Packet, v Version) error {
	flags, err := d.u8("connect acknowledge flags")
	if err != nil {
		return err
	}
	if flags&0xFE != 0 {
		return Errorf(MalformedPacket, "CONNACK reserved flags 0x%02X", flags) // [MQTT-3.2.2-1]
	}
	p.SessionPresent = flags&0x01 != 0
	code, err := d.u8("connect reason code")
	if err != nil {
		return err
	}
	p.ReasonCode = ReasonCode(code)
	set := &connackV3Codes
	if v == V5 {
		set = &connackCodes
	}
	if !set.has(p.ReasonCode) {
		return badCode(CONNACK, p.ReasonCode)
	}
	if p.SessionPresent && p.ReasonCode != Success {
		return Errorf(ProtocolError, "session present with reason code 0x%02X", code) // [MQTT-3.2.2-4] [MQTT-3.2.2-6]
	}
	if v == V5 {
		return d.properties(&p.Properties, CONNACK)
	}
	return nil
}

func connackSize(p *Packet, v Version) (s sizes, err error) {
	set := &connackV3Codes
	if v == V5 {
		set = &connackCodes
	}
	if !set.has(p.ReasonCode) {
		return s, badCode(CONNACK, p.ReasonCode)
	}
	if p.SessionPresent && p.ReasonCode != Success {
		return s, Errorf(ProtocolError, "session present with reason code 0x%02X", byte(p.ReasonCode)) // [MQTT-3.2.2-6]
	}
	s.body = 2
	if v == V5 {
		if s.props, err = propsSize(&p.Properties, CONNACK); err != nil {
			return s, err
		}
		s.body += propsLenSize(s.props)
	}
	return s, nil
}

func appendConnack(dst []byte, p *Packet, v Version, s sizes) []byte {
	var flags byte
	if p.SessionPresent && v != V31 {
		flags = 1 // MQTT 3.1 has no Session Present flag: the byte is reserved
	}
	dst = append(dst, flags, byte(p.ReasonCode))
	if v == V5 {
		dst = appendProps(dst, &p.Properties, s.props)
	}
	return dst
}
