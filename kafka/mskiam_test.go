package kafka

import (
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-msk-iam-sasl-signer-go/signer"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// The provider signs once, reuses the token until a minute before it
// expires, then signs again; a signing failure names the key.
func TestMSKIAMProviderCachesUntilNearExpiry(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	calls := 0
	p := newMSKIAMProvider(AWSMSKIAMConfig{Region: "eu-west-1", RoleARN: "arn:aws:iam::123456789012:role/bridge"})
	p.now = func() time.Time { return now }
	p.sign = func(_ context.Context, region, role string) (string, int64, error) {
		calls++
		if region != "eu-west-1" || role != "arn:aws:iam::123456789012:role/bridge" {
			t.Errorf("sign(%q, %q); want the configured region and role", region, role)
		}
		return "tok" + string(rune('0'+calls)), now.Add(15 * time.Minute).UnixMilli(), nil
	}
	for i := range 3 {
		tok, err := p.Token()
		if err != nil || tok.Token != "tok1" {
			t.Fatalf("Token() #%d = %v, %v; want tok1 (cached)", i, tok, err)
		}
	}
	now = now.Add(14*time.Minute + time.Second) // within a minute of expiry
	if tok, err := p.Token(); err != nil || tok.Token != "tok2" || calls != 2 {
		t.Fatalf("near expiry Token() = %v, %v after %d signings; want tok2 from a second signing", tok, err, calls)
	}
	p.tok = ""
	p.sign = func(context.Context, string, string) (string, int64, error) {
		return "", 0, errors.New("no credentials")
	}
	if _, err := p.Token(); err == nil || !strings.Contains(err.Error(), "kafka.sasl.oauthbearer.aws_msk_iam") {
		t.Errorf("failed signing: %v; want an error naming the key", err)
	}
}

// The real signer, with static credentials (no network): the token is a
// base64url presigned URL for kafka-cluster:Connect in the region, signed
// with the access key, and the secret key is not in it.
func TestMSKIAMSignerToken(t *testing.T) {
	creds := credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "")
	p := newMSKIAMProvider(AWSMSKIAMConfig{Region: "us-east-1"})
	p.sign = func(ctx context.Context, region, _ string) (string, int64, error) {
		return signer.GenerateAuthTokenFromCredentialsProvider(ctx, region, creds)
	}
	tok, err := p.Token()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok.Token)
	if err != nil {
		t.Fatalf("token is not base64url: %v", err)
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		t.Fatalf("token is not a URL: %v", err)
	}
	q := u.Query()
	if u.Host != "kafka.us-east-1.amazonaws.com" || q.Get("Action") != "kafka-cluster:Connect" ||
		!strings.HasPrefix(q.Get("X-Amz-Credential"), "AKIDEXAMPLE/") || q.Get("X-Amz-Signature") == "" {
		t.Errorf("token URL = %s; want a signed kafka-cluster:Connect for kafka.us-east-1.amazonaws.com by AKIDEXAMPLE", raw)
	}
	if strings.Contains(string(raw), "wJalrXUtnFEMI") {
		t.Error("the token contains the secret access key")
	}
	if p.exp.Before(time.Now()) {
		t.Errorf("expiry %v is in the past", p.exp)
	}
}
