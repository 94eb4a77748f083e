// Package packets is the MQTT 3.1, 3.1.1 and 5.0 wire codec: a leaf package
// with no dependencies on the rest of the bridge. Every packet type has an
// encoder, a decoder and validation of the rules of the spec that can be
// checked without session state. Normative statement ids of the spec are
// cited next to the code that implements them, e.g. [MQTT-3.3.1-6].
package packets

// Type is the MQTT control packet type (the high nibble of the first byte).
type Type byte

// Control packet types. §2.1.2
const (
	Reserved    Type = 0
	CONNECT     Type = 1
	CONNACK     Type = 2
	PUBLISH     Type = 3
	PUBACK      Type = 4
	PUBREC      Type = 5
	PUBREL      Type = 6
	PUBCOMP     Type = 7
	SUBSCRIBE   Type = 8
	SUBACK      Type = 9
	UNSUBSCRIBE Type = 10
	UNSUBACK    Type = 11
	PINGREQ     Type = 12
	PINGRESP    Type = 13
	DISCONNECT  Type = 14
	AUTH        Type = 15
)

var typeNames = [...]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC",
	"PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ",
	"PINGRESP", "DISCONNECT", "AUTH"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "UNKNOWN"
}

// Version is the protocol level carried in CONNECT.
type Version byte

// Protocol levels. [MQTT-3.1.2-2]
const (
	V31  Version = 3 // MQTT 3.1, protocol name "MQIsdp"
	V311 Version = 4 // MQTT 3.1.1, protocol name "MQTT"
	V5   Version = 5 // MQTT 5.0, protocol name "MQTT"
)

// UserProperty is one MQTT 5 User Property name/value pair. Order and
// duplicates are preserved. [MQTT-3.3.2-17]
type UserProperty struct {
	Key   string
	Value string
}

// Properties holds every MQTT 5 property. A zero value means "absent" for
// properties whose zero value is not meaningful on the wire (a present zero
// Receive Maximum, Topic Alias or Maximum Packet Size is a protocol error and
// is refused by the decoder). Properties whose zero is meaningful carry a
// companion ...Set flag. The encoder writes a property when it is non-zero or
// its flag is set. Which properties a packet may carry is checked by the
// decoder and the encoder.
type Properties struct {
	PayloadFormat           byte // 0x01
	PayloadFormatSet        bool
	MessageExpiry           uint32 // 0x02, seconds
	MessageExpirySet        bool
	ContentType             string   // 0x03
	ResponseTopic           string   // 0x08
	CorrelationData         []byte   // 0x09
	SubscriptionIDs         []uint32 // 0x0B, variable byte integer; PUBLISH may carry several
	SessionExpiry           uint32   // 0x11, seconds
	SessionExpirySet        bool
	AssignedClientID        string // 0x12
	ServerKeepAlive         uint16 // 0x13, seconds
	ServerKeepAliveSet      bool
	AuthMethod              string // 0x15
	AuthData                []byte // 0x16
	RequestProblemInfo      byte   // 0x17, default 1
	RequestProblemInfoSet   bool
	WillDelay               uint32 // 0x18, seconds
	RequestResponseInfo     byte   // 0x19
	RequestResponseInfoSet  bool
	ResponseInfo            string // 0x1A
	ServerReference         string // 0x1C
	ReasonString            string // 0x1F
	ReceiveMaximum          uint16 // 0x21, 0 = absent (default 65535)
	TopicAliasMaximum       uint16 // 0x22, 0 = absent
	TopicAlias              uint16 // 0x23, 0 = absent
	MaximumQoS              byte   // 0x24
	MaximumQoSSet           bool
	RetainAvailable         byte // 0x25
	RetainAvailableSet      bool
	User                    []UserProperty // 0x26
	MaximumPacketSize       uint32         // 0x27, 0 = absent (no limit)
	WildcardSubAvailable    byte           // 0x28
	WildcardSubAvailableSet bool
	SubIDAvailable          byte // 0x29
	SubIDAvailableSet       bool
	SharedSubAvailable      byte // 0x2A
	SharedSubAvailableSet   bool
}

// Subscription is one entry of a SUBSCRIBE payload (and, for UNSUBSCRIBE,
// only Filter is used). §3.8.3
type Subscription struct {
	Filter            string
	QoS               byte
	NoLocal           bool // v5 only [MQTT-3.8.3-3]
	RetainAsPublished bool // v5 only
	RetainHandling    byte // v5 only: 0, 1 or 2
}

// Connect is the variable header and payload of a CONNECT packet.
type Connect struct {
	ProtocolName    string // "MQTT" or "MQIsdp"
	ProtocolVersion Version
	CleanStart      bool // "Clean Session" in 3.1.1
	KeepAlive       uint16
	ClientID        string
	UsernameFlag    bool
	Username        string
	PasswordFlag    bool
	Password        []byte
	WillFlag        bool
	WillQoS         byte
	WillRetain      bool
	WillTopic       string
	WillPayload     []byte
	WillProperties  Properties // v5 only
}

// Packet is any MQTT control packet. Only the fields that belong to Type are
// meaningful; the rest stay zero. One struct for every type keeps the codec
// free of interface boxing on the hot path.
type Packet struct {
	Type Type

	// PUBLISH fixed-header flags. §3.3.1
	Dup    bool
	QoS    byte
	Retain bool

	// PacketID for PUBLISH (QoS>0), PUBACK, PUBREC, PUBREL, PUBCOMP,
	// SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK.
	PacketID uint16

	// ReasonCode for CONNACK (the v3 return code too), PUBACK, PUBREC,
	// PUBREL, PUBCOMP, DISCONNECT and AUTH (v5). 0 = Success.
	ReasonCode ReasonCode

	// Properties (v5 only; ignored by the v3 encoder).
	Properties Properties

	// PUBLISH
	Topic   string
	Payload []byte

	// CONNECT
	Connect Connect

	// CONNACK
	SessionPresent bool

	// SUBSCRIBE and UNSUBSCRIBE
	Subscriptions []Subscription

	// SUBACK and UNSUBACK (v5): one code per filter, in order. In v3 SUBACK
	// the granted QoS 0/1/2 or 0x80 failure. §3.9.3
	ReasonCodes []ReasonCode
}
