package packets

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// ValidUTF8 reports whether s is well-formed UTF-8 without U+0000 and without
// the surrogates U+D800..U+DFFF. [MQTT-1.5.4-1] [MQTT-1.5.4-2]
//
// Go's utf8.Valid already refuses surrogate code points, overlong forms and
// values above U+10FFFF, so only the NUL check is added on top.
func ValidUTF8(s []byte) bool {
	// Fast path: pure ASCII without NUL, the common case for topics.
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0 {
			return false
		}
		if c >= utf8.RuneSelf {
			return bytes.IndexByte(s[i:], 0) < 0 && utf8.Valid(s[i:])
		}
	}
	return true
}

// validUTF8String is ValidUTF8 for a string, without a conversion.
func validUTF8String(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0 {
			return false
		}
		if c >= utf8.RuneSelf {
			return strings.IndexByte(s[i:], 0) < 0 && utf8.ValidString(s[i:])
		}
	}
	return true
}
