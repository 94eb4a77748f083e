package mapping

import (
	"errors"
	"fmt"
	"strings"
)

// segKind says where a template segment's text comes from.
type segKind uint8

const (
	segLiteral    segKind = iota // seg.text
	segCapture                   // uplink: captures[seg.index]
	segClientID                  // uplink: the publisher's client id
	segUsername                  // uplink: the publisher's username
	segTopic                     // uplink: the MQTT topic
	segKey                       // downlink: the record key
	segKafkaTopic                // downlink: the record's Kafka topic
	segHeader                    // downlink: the value of header seg.text
)

// Built-in placeholder names.
const (
	phClientID   = "client_id"
	phUsername   = "username"
	phTopic      = "topic"
	phKey        = "key"
	phKafkaTopic = "kafka_topic"
	phHeader     = "header." // prefix: {header.NAME}
)

// uplinkBuiltins are the placeholders every uplink template may use; a capture
// may not take one of these names.
var uplinkBuiltins = []string{phClientID, phUsername, phTopic}

// segment is one piece of a compiled template.
type segment struct {
	kind  segKind
	text  string // literal text, or the header name for segHeader
	index int    // capture index for segCapture
}

// template is a compiled template such as "iot.{kind}" or "devices/{key}/commands".
type template struct {
	raw  string
	segs []segment
}

// static reports whether the template has no placeholders; its text is then
// literal() and rendering allocates nothing.
func (t *template) static() bool {
	return len(t.segs) == 0 || (len(t.segs) == 1 && t.segs[0].kind == segLiteral)
}

// literal returns the text of a static template.
func (t *template) literal() string {
	if len(t.segs) == 0 {
		return ""
	}
	return t.segs[0].text
}

// literalLen is the number of bytes the literal segments contribute.
func (t *template) literalLen() int {
	n := 0
	for _, s := range t.segs {
		if s.kind == segLiteral {
			n += len(s.text)
		}
	}
	return n
}

// piece is one lexical piece of a template: literal text or a placeholder name.
type piece struct {
	text        string
	placeholder bool
}

// lexTemplate splits a template into literal text and {placeholder} names.
// "{{" and "}}" stand for literal braces. Adjacent literal text is merged.
func lexTemplate(s string) ([]piece, error) {
	var out []piece
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, piece{text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '}':
			return nil, fmt.Errorf(`unmatched "}" at offset %d (write "}}" for a literal brace)`, i)
		case c == '{':
			end := strings.IndexAny(s[i+1:], "{}")
			if end < 0 || s[i+1+end] != '}' {
				return nil, fmt.Errorf(`unterminated "{" at offset %d (write "{{" for a literal brace)`, i)
			}
			name := s[i+1 : i+1+end]
			if name == "" {
				return nil, fmt.Errorf(`empty placeholder "{}" at offset %d`, i)
			}
			flush()
			out = append(out, piece{text: name, placeholder: true})
			i += end + 1
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return out, nil
}

// compileUplinkTemplate compiles a template whose placeholders are the
// filter's captures and the uplink built-ins.
func compileUplinkTemplate(s string, captures []string) (template, error) {
	pieces, err := lexTemplate(s)
	if err != nil {
		return template{}, err
	}
	t := template{raw: s, segs: make([]segment, 0, len(pieces))}
	for _, p := range pieces {
		if !p.placeholder {
			t.segs = append(t.segs, segment{kind: segLiteral, text: p.text})
			continue
		}
		seg, ok := segment{}, true
		switch p.text {
		case phClientID:
			seg.kind = segClientID
		case phUsername:
			seg.kind = segUsername
		case phTopic:
			seg.kind = segTopic
		default:
			ok = false
			for i, c := range captures {
				if c == p.text {
					seg, ok = segment{kind: segCapture, index: i}, true
					break
				}
			}
		}
		if !ok {
			return template{}, fmt.Errorf("unknown capture %q (captures: %s; built-ins: {client_id}, {username}, {topic})",
				"{"+p.text+"}", listNames(captures))
		}
		t.segs = append(t.segs, seg)
	}
	return t, nil
}

// compileDownlinkTemplate compiles a template whose placeholders are {key},
// {kafka_topic} and {header.NAME}.
func compileDownlinkTemplate(s string) (template, error) {
	pieces, err := lexTemplate(s)
	if err != nil {
		return template{}, err
	}
	t := template{raw: s, segs: make([]segment, 0, len(pieces))}
	for _, p := range pieces {
		switch {
		case !p.placeholder:
			t.segs = append(t.segs, segment{kind: segLiteral, text: p.text})
		case p.text == phKey:
			t.segs = append(t.segs, segment{kind: segKey})
		case p.text == phKafkaTopic:
			t.segs = append(t.segs, segment{kind: segKafkaTopic})
		case strings.HasPrefix(p.text, phHeader) && len(p.text) > len(phHeader):
			t.segs = append(t.segs, segment{kind: segHeader, text: p.text[len(phHeader):]})
		default:
			return template{}, fmt.Errorf("unknown placeholder %q (known: {key}, {kafka_topic}, {header.NAME})", "{"+p.text+"}")
		}
	}
	return t, nil
}

// uplinkValue returns the text an uplink segment renders to.
func uplinkValue(s *segment, caps []string, p *Publish) string {
	switch s.kind {
	case segLiteral:
		return s.text
	case segCapture:
		return caps[s.index]
	case segClientID:
		return p.ClientID
	case segUsername:
		return p.Username
	case segTopic:
		return p.Topic
	}
	return ""
}

// renderUplink renders t for a publish into a new string. A static template
// is returned without allocating.
func (t *template) renderUplink(caps []string, p *Publish) string {
	if t.static() {
		return t.literal()
	}
	if len(t.segs) == 1 {
		return uplinkValue(&t.segs[0], caps, p)
	}
	var b strings.Builder
	b.Grow(t.uplinkLen(caps, p))
	for i := range t.segs {
		b.WriteString(uplinkValue(&t.segs[i], caps, p))
	}
	return b.String()
}

// appendUplink appends the rendering of t to dst.
func (t *template) appendUplink(dst []byte, caps []string, p *Publish) []byte {
	for i := range t.segs {
		dst = append(dst, uplinkValue(&t.segs[i], caps, p)...)
	}
	return dst
}

// emptyValue reports whether any placeholder of t renders empty.
func (t *template) emptyValue(caps []string, p *Publish) bool {
	for i := range t.segs {
		if t.segs[i].kind != segLiteral && uplinkValue(&t.segs[i], caps, p) == "" {
			return true
		}
	}
	return false
}

// uplinkLen is the length of the rendering of t.
func (t *template) uplinkLen(caps []string, p *Publish) int {
	n := 0
	for i := range t.segs {
		n += len(uplinkValue(&t.segs[i], caps, p))
	}
	return n
}

// errMissingValue reports a downlink placeholder with nothing to fill it.
var errMissingValue = errors.New("missing value")

// listNames formats capture names for an error message.
func listNames(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("{" + n + "}")
	}
	return b.String()
}
