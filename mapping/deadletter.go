package mapping

import "strconv"

// Dead letters: every record for the dead-letter topic is built here, so
// the headers, the payload policy and the loop guard are one policy
// whoever saw the failure (Uplink itself, the bridge when Kafka refuses a
// record, Downlink's caller for records it could not map: downlink.go).

// DeadLetter builds a dead-letter record for p with the given reason, for
// failures only the bridge sees (ReasonTooLarge, ReasonKafkaRejected). rule
// is the uplink rule name or "". ok is false when no dead-letter topic is
// configured. The value is the raw payload and the metadata is in the
// headers; for ReasonTooLarge the payload is left out (Kafka would refuse
// it again) and its size is in mqtt.payload_size, the last header.
func (r *Rules) DeadLetter(p *Publish, rule string, reason Reason, detail string) (rec Record, ok bool) {
	if r.deadLetter == "" {
		return Record{Rule: rule, Reason: reason}, false
	}
	if i, ok := r.byName[rule]; ok {
		rec = r.deadLetterRecord(p, &r.uplink[i], nil, reason, detail)
	} else {
		rec = r.deadLetterRecord(p, &uplinkRule{name: rule, ack: AckKafka}, nil, reason, detail)
	}
	if reason == ReasonTooLarge {
		withoutPayload(&rec)
	}
	return rec, true
}

// DeadLetterOf builds the dead-letter record for a record this package
// made that Kafka then refused for good, when only the record is left (a
// spooled record whose device was acked already): its key and headers, then
// mqtt.dlq.reason, mqtt.dlq.rule (when rec.Rule is set) and mqtt.dlq.detail
// (when not empty); for ReasonTooLarge without the value and with
// mqtt.payload_size. rec is not modified. ok is false when no dead-letter
// topic is configured or rec already went to it (a dead letter is never
// dead-lettered again).
func (r *Rules) DeadLetterOf(rec Record, reason Reason, detail string) (dl Record, ok bool) {
	if r.deadLetter == "" || rec.Topic == r.deadLetter {
		return Record{Rule: rec.Rule, Reason: reason}, false
	}
	dl = Record{Rule: rec.Rule, Topic: r.deadLetter, Key: rec.Key, Value: rec.Value, Ack: AckKafka, Reason: reason}
	dl.Headers = make([]Header, 0, len(rec.Headers)+4)
	dl.Headers = append(dl.Headers, rec.Headers...)
	dl.Headers = appendDLQHeaders(dl.Headers, reason, rec.Rule, detail)
	if reason == ReasonTooLarge {
		withoutPayload(&dl)
	}
	return dl, true
}

// deadLetterRecord builds a record for the dead-letter topic. The value is
// the raw payload whatever the rule's format, so the record can be replayed.
func (r *Rules) deadLetterRecord(p *Publish, rule *uplinkRule, key []byte, reason Reason, detail string) Record {
	rec := Record{Topic: r.deadLetter, Key: key, Value: p.Payload, Ack: AckKafka, Reason: reason}
	if rule != nil {
		rec.Rule, rec.Ack = rule.name, rule.ack
	}
	rec.Headers = appendHeaders(p, reason, rec.Rule, detail)
	return rec
}

// appendDLQHeaders appends mqtt.dlq.reason, then mqtt.dlq.rule and
// mqtt.dlq.detail when set.
func appendDLQHeaders(hs []Header, reason Reason, rule, detail string) []Header {
	hs = append(hs, Header{HeaderDLQReason, []byte(reason)})
	if rule != "" {
		hs = append(hs, Header{HeaderDLQRule, []byte(rule)})
	}
	if detail != "" {
		hs = append(hs, Header{HeaderDLQDetail, []byte(detail)})
	}
	return hs
}

// withoutPayload drops a too-large record's value and records its size.
// The header slice is rec's own (built for it), so appending is safe.
func withoutPayload(rec *Record) {
	rec.Headers = append(rec.Headers, Header{HeaderPayloadSize, strconv.AppendInt(nil, int64(len(rec.Value)), 10)})
	rec.Value = nil
}
