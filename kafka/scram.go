package kafka

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// scramClient is the client side of SCRAM (RFC 5802) without channel binding,
// as Kafka's SCRAM-SHA-256/512 mechanisms use it. It implements
// sarama.SCRAMClient.
type scramClient struct {
	hash func() hash.Hash

	user, pass  string
	clientNonce string
	firstBare   string
	serverSig   []byte
	step        int
	done        bool
}

var errSCRAM = errors.New("scram: malformed server message")

func (s *scramClient) Begin(user, pass, authz string) error {
	if authz != "" {
		return errors.New("scram: authorization id not supported")
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("scram nonce: %w", err)
	}
	s.user = strings.NewReplacer("=", "=3D", ",", "=2C").Replace(user)
	s.pass = pass
	s.clientNonce = base64.RawStdEncoding.EncodeToString(b[:])
	s.step, s.done = 0, false
	return nil
}

func (s *scramClient) Step(challenge string) (string, error) {
	s.step++
	switch s.step {
	case 1:
		s.firstBare = "n=" + s.user + ",r=" + s.clientNonce
		return "n,," + s.firstBare, nil
	case 2:
		return s.final(challenge)
	case 3:
		attrs := scramAttrs(challenge)
		if e, ok := attrs["e"]; ok {
			return "", fmt.Errorf("scram: server error %q", e)
		}
		sig, err := base64.StdEncoding.DecodeString(attrs["v"])
		if err != nil || !hmac.Equal(sig, s.serverSig) {
			return "", errors.New("scram: server signature mismatch")
		}
		s.done = true
		return "", nil
	}
	return "", errors.New("scram: unexpected step")
}

func (s *scramClient) final(serverFirst string) (string, error) {
	attrs := scramAttrs(serverFirst)
	nonce, saltB64, iterS := attrs["r"], attrs["s"], attrs["i"]
	if !strings.HasPrefix(nonce, s.clientNonce) || saltB64 == "" || iterS == "" {
		return "", errSCRAM
	}
	salt, err := base64.StdEncoding.DecodeString(saltB64)
	if err != nil {
		return "", errSCRAM
	}
	iter, err := strconv.Atoi(iterS)
	if err != nil || iter < 1 {
		return "", errSCRAM
	}
	salted, err := pbkdf2.Key(s.hash, s.pass, salt, iter, s.hash().Size())
	if err != nil {
		return "", fmt.Errorf("scram: %w", err)
	}
	clientKey := s.hmac(salted, "Client Key")
	h := s.hash()
	h.Write(clientKey)
	storedKey := h.Sum(nil)
	withoutProof := "c=biws,r=" + nonce
	authMsg := s.firstBare + "," + serverFirst + "," + withoutProof
	clientSig := s.hmac(storedKey, authMsg)
	proof := make([]byte, len(clientKey))
	for i := range clientKey {
		proof[i] = clientKey[i] ^ clientSig[i]
	}
	s.serverSig = s.hmac(s.hmac(salted, "Server Key"), authMsg)
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof), nil
}

func (s *scramClient) hmac(key []byte, msg string) []byte {
	m := hmac.New(s.hash, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func (s *scramClient) Done() bool { return s.done }

func scramAttrs(msg string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(msg, ",") {
		if len(kv) >= 2 && kv[1] == '=' {
			out[kv[:1]] = kv[2:]
		}
	}
	return out
}
