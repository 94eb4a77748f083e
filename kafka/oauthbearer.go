package kafka

import "github.com/IBM/sarama"

// tokenFileProvider is a sarama.AccessTokenProvider that reads the token
// from kafka.sasl.oauthbearer.token_file; sarama asks for a token on every
// new connection, and the file is read again when it changed.
type tokenFileProvider struct{ tok *secret }

func (p tokenFileProvider) Token() (*sarama.AccessToken, error) {
	t, err := p.tok.get()
	if err != nil {
		return nil, err
	}
	return &sarama.AccessToken{Token: t}, nil
}
