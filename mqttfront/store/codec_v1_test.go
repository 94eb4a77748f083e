package store

// appendSession appends the format-1 session record, subscriptions inside,
// as the release before store format version 2 wrote it. The store writes
// format 2 (appendSessionRecord plus one subscription record each); the
// codec tests and the fuzz corpus use format 1, which covers the shared
// fields and the subscription decoder, and decodeSession reads both.
func appendSession(b []byte, s *Session) []byte {
	return appendSessionFormat(b, s, sessionFormatV1)
}
