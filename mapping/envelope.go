package mapping

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Payload encodings named by the envelope's payload_encoding field.
const (
	encodingJSON   = "json"   // the payload is a JSON value, embedded as is
	encodingUTF8   = "utf8"   // the payload is UTF-8 text, embedded as a string
	encodingBase64 = "base64" // anything else, standard base64 with padding
)

// appendEnvelope appends the JSON envelope of the json format:
//
//	{"topic":"...","client_id":"...","username":"...","qos":1,"retain":false,
//	 "received_at":1700000000000,"user_properties":{"k":"v","dup":["a","b"]},
//	 "content_type":"...","response_topic":"...","correlation_data":"<base64>",
//	 "payload":<json>|"text"|"<base64>","payload_encoding":"json"|"utf8"|"base64"}
//
// username, user_properties, content_type, response_topic and
// correlation_data are left out when absent. A user property name that
// repeats maps to an array of its values in arrival order. User properties
// in the reserved "mqtt." namespace are dropped, as for headers.
func appendEnvelope(dst []byte, p *Publish) []byte {
	if dst == nil {
		dst = make([]byte, 0, 160+len(p.Topic)+len(p.ClientID)+len(p.Username)+base64.StdEncoding.EncodedLen(len(p.Payload)))
	}
	dst = append(dst, `{"topic":`...)
	dst = appendJSONString(dst, p.Topic)
	dst = append(dst, `,"client_id":`...)
	dst = appendJSONString(dst, p.ClientID)
	if p.Username != "" {
		dst = append(dst, `,"username":`...)
		dst = appendJSONString(dst, p.Username)
	}
	dst = append(dst, `,"qos":`...)
	dst = strconv.AppendUint(dst, uint64(p.QoS), 10)
	dst = append(dst, `,"retain":`...)
	dst = strconv.AppendBool(dst, p.Retain)
	dst = append(dst, `,"received_at":`...)
	dst = strconv.AppendInt(dst, unixMilli(p.ReceivedAt), 10)
	dst = appendUserProperties(dst, p.UserProperties)
	if p.ContentType != "" {
		dst = append(dst, `,"content_type":`...)
		dst = appendJSONString(dst, p.ContentType)
	}
	if p.ResponseTopic != "" {
		dst = append(dst, `,"response_topic":`...)
		dst = appendJSONString(dst, p.ResponseTopic)
	}
	if p.CorrelationData != nil {
		dst = append(dst, `,"correlation_data":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, p.CorrelationData)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"payload":`...)
	var enc string
	text := utf8.Valid(p.Payload)
	switch {
	case text && len(p.Payload) > 0 && json.Valid(p.Payload):
		// json.Valid alone accepts invalid UTF-8 inside strings; the
		// envelope must stay valid UTF-8, so such a payload goes base64.
		dst, enc = append(dst, p.Payload...), encodingJSON
	case text:
		dst, enc = appendJSONString(dst, string(p.Payload)), encodingUTF8
	default:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, p.Payload)
		dst, enc = append(dst, '"'), encodingBase64
	}
	dst = append(dst, `,"payload_encoding":"`...)
	dst = append(dst, enc...)
	return append(dst, `"}`...)
}

// appendUserProperties appends `,"user_properties":{...}` when there are any
// outside the reserved namespace.
func appendUserProperties(dst []byte, props []Property) []byte {
	first := true
	for i, up := range props {
		if reserved(up.Key) || seenBefore(props[:i], up.Key) {
			continue
		}
		if first {
			dst = append(dst, `,"user_properties":{`...)
			first = false
		} else {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, up.Key)
		dst = append(dst, ':')
		if !seenBefore(props[i+1:], up.Key) {
			dst = appendJSONString(dst, up.Value)
			continue
		}
		dst = append(dst, '[')
		dst = appendJSONString(dst, up.Value)
		for _, later := range props[i+1:] {
			if later.Key == up.Key {
				dst = append(dst, ',')
				dst = appendJSONString(dst, later.Value)
			}
		}
		dst = append(dst, ']')
	}
	if !first {
		dst = append(dst, '}')
	}
	return dst
}

func reserved(key string) bool {
	return len(key) >= len(reservedPrefix) && key[:len(reservedPrefix)] == reservedPrefix
}

func seenBefore(props []Property, key string) bool {
	for _, p := range props {
		if p.Key == key {
			return true
		}
	}
	return false
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 bytes become
// U+FFFD; control characters, '"' and '\\' are escaped, and so are U+2028 and
// U+2029 so the output is also safe JavaScript.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
