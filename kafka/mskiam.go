package kafka

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/aws/aws-msk-iam-sasl-signer-go/signer"
)

// mskTokenTimeout bounds one signing: the default credential chain may ask
// STS or the instance metadata service.
const mskTokenTimeout = 10 * time.Second

// mskRenewBefore: a cached token is replaced this long before it expires
// (the signer's tokens live 15 minutes).
const mskRenewBefore = time.Minute

// mskSessionName names the STS session when a role is assumed.
const mskSessionName = "mqtt-kafka-bridge"

// mskSigner returns an MSK IAM token and its expiry in Unix milliseconds.
type mskSigner func(ctx context.Context, region, roleARN string) (string, int64, error)

// signMSK signs with aws-msk-iam-sasl-signer-go: the default credential
// chain, or an assumed role.
func signMSK(ctx context.Context, region, roleARN string) (string, int64, error) {
	if roleARN != "" {
		return signer.GenerateAuthTokenFromRole(ctx, region, roleARN, mskSessionName)
	}
	return signer.GenerateAuthToken(ctx, region)
}

// mskIAMProvider is a sarama.AccessTokenProvider for Amazon MSK IAM
// (OAUTHBEARER on the brokers' IAM listener, port 9098). sarama asks for a
// token on every new connection; one is reused until mskRenewBefore
// before it expires.
type mskIAMProvider struct {
	region, roleARN string
	sign            mskSigner
	now             func() time.Time

	mu  sync.Mutex
	tok string
	exp time.Time
}

func newMSKIAMProvider(c AWSMSKIAMConfig) *mskIAMProvider {
	return &mskIAMProvider{region: c.Region, roleARN: c.RoleARN, sign: signMSK, now: time.Now}
}

func (p *mskIAMProvider) Token() (*sarama.AccessToken, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tok != "" && p.now().Before(p.exp.Add(-mskRenewBefore)) {
		return &sarama.AccessToken{Token: p.tok}, nil
	}
	// sarama's Token has no context; the timeout bounds the signing.
	ctx, cancel := context.WithTimeout(context.Background(), mskTokenTimeout)
	defer cancel()
	tok, expMs, err := p.sign(ctx, p.region, p.roleARN)
	if err != nil {
		return nil, fmt.Errorf("kafka.sasl.oauthbearer.aws_msk_iam: sign a token: %w", err)
	}
	p.tok, p.exp = tok, time.UnixMilli(expMs)
	return &sarama.AccessToken{Token: tok}, nil
}
