package packets

// codeSet is a set of reason codes, one bit per value.
type codeSet [4]uint64

func codes(cs ...ReasonCode) codeSet {
	var s codeSet
	for _, c := range cs {
		s[c>>6] |= 1 << (c & 63)
	}
	return s
}

func (s *codeSet) has(c ReasonCode) bool { return s[c>>6]&(1<<(c&63)) != 0 }

// The reason codes each packet may carry. §2.4 and the Reason Code
// tables of each packet's variable header.
var (
	// §3.2.2.2
	connackCodes = codes(Success, UnspecifiedError, MalformedPacket, ProtocolError,
		ImplementationSpecificError, UnsupportedProtocolVersion, ClientIdentifierNotValid,
		BadUserNameOrPassword, NotAuthorized, ServerUnavailable, ServerBusy, Banned,
		BadAuthenticationMethod, TopicNameInvalid, PacketTooLarge, QuotaExceeded,
		PayloadFormatInvalid, RetainNotSupported, QoSNotSupported, UseAnotherServer,
		ServerMoved, ConnectionRateExceeded)
	// v3.1/3.1.1 CONNACK return codes 0..5. §3.2.2.3
	connackV3Codes = codes(V3Accepted, V3UnacceptableProtocolVersion, V3IdentifierRejected,
		V3ServerUnavailable, V3BadUsernameOrPassword, V3NotAuthorized)
	// PUBACK and PUBREC. §3.4.2.1 §3.5.2.1
	pubackCodes = codes(Success, NoMatchingSubscribers, UnspecifiedError,
		ImplementationSpecificError, NotAuthorized, TopicNameInvalid, PacketIdentifierInUse,
		QuotaExceeded, PayloadFormatInvalid)
	// PUBREL and PUBCOMP. §3.6.2.1 §3.7.2.1
	pubrelCodes = codes(Success, PacketIdentifierNotFound)
	// §3.9.3
	subackCodes = codes(GrantedQoS0, GrantedQoS1, GrantedQoS2, UnspecifiedError,
		ImplementationSpecificError, NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse,
		QuotaExceeded, SharedSubscriptionsNotSupported, SubscriptionIdentifiersNotSupported,
		WildcardSubscriptionsNotSupported)
	// v3.1.1 SUBACK return codes. §3.9.3
	subackV3Codes = codes(GrantedQoS0, GrantedQoS1, GrantedQoS2, V3SubackFailure)
	// §3.11.3
	unsubackCodes = codes(Success, NoSubscriptionExisted, UnspecifiedError,
		ImplementationSpecificError, NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse)
	// §3.14.2.1
	disconnectCodes = codes(NormalDisconnection, DisconnectWithWill, UnspecifiedError,
		MalformedPacket, ProtocolError, ImplementationSpecificError, NotAuthorized, ServerBusy,
		ServerShuttingDown, KeepAliveTimeout, SessionTakenOver, TopicFilterInvalid,
		TopicNameInvalid, ReceiveMaximumExceeded, TopicAliasInvalid, PacketTooLarge,
		MessageRateTooHigh, QuotaExceeded, AdministrativeAction, PayloadFormatInvalid,
		RetainNotSupported, QoSNotSupported, UseAnotherServer, ServerMoved,
		SharedSubscriptionsNotSupported, ConnectionRateExceeded, MaximumConnectTime,
		SubscriptionIdentifiersNotSupported, WildcardSubscriptionsNotSupported)
	// §3.15.2.1
	authCodes = codes(Success, ContinueAuthentication, ReAuthenticate)
)

// ackCodes is the set of reason codes of a PUBACK, PUBREC, PUBREL or PUBCOMP.
func ackCodes(t Type) *codeSet {
	if t == PUBREL || t == PUBCOMP {
		return &pubrelCodes
	}
	return &pubackCodes
}

func badCode(t Type, c ReasonCode) error {
	return Errorf(ProtocolError, "reason code 0x%02X not allowed in %s", byte(c), t)
}
