package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// SecureBroker is the private broker of `kafka.sh start --security
// sasl_ssl`: the usual plaintext listener (ANONYMOUS, a super user: for
// topics, ACLs and reading records back) plus an SSL and a SASL_SSL
// listener with ACLs on. The users and their passwords are the script's
// (see its header).
type SecureBroker struct {
	Plaintext string // 127.0.0.1:port
	SSL       string // 127.0.0.1:port+2, client certificate requested
	SASLSSL   string // 127.0.0.1:port+3
	Port      int    // the plaintext port; the others follow it
	TLSDir    string // ca.pem, client.pem, client.key (CN=bridgemtls)
}

// The secured broker's test users (integration/kafka.sh).
const (
	PlainUser     = "bridgeplain"
	PlainPassword = "plain-secret"
	ScramUser     = "bridgescram"
	ScramPassword = "scram-secret"
	// UTF8User's password is non-ASCII in NFC form (SASLprep leaves it
	// alone); NBSPUser's holds a no-break space, which SASLprep would map
	// to a space (Kafka does not: it hashes the raw UTF-8). NBSPUser has
	// SCRAM-SHA-256 only.
	UTF8User     = "bridgeutf8"
	UTF8Password = "pässwörd-Ωμέγα-密码"
	NBSPUser     = "bridgenbsp"
	NBSPPassword = "nbsp\u00a0secret"
	// MTLSUser is the principal of the client certificate (its CN).
	MTLSUser = "bridgemtls"
)

var secure struct {
	once   sync.Once
	broker SecureBroker
	dir    string
	env    []string
	err    error
}

// SecureKafka starts the secured broker once per test binary, on four
// consecutive free ports below the ephemeral range, with a fresh data
// dir, and returns it; StopSecureKafka (from TestMain) stops it. It never
// touches the shared broker. It fails t if the broker cannot start.
func SecureKafka(t testing.TB) SecureBroker {
	t.Helper()
	secure.once.Do(func() {
		port, err := freePortRun(4)
		if err != nil {
			secure.err = err
			return
		}
		secure.dir, err = os.MkdirTemp("", "secure-kafka-")
		if err != nil {
			secure.err = err
			return
		}
		data := filepath.Join(secure.dir, "kafka")
		secure.env = []string{"KAFKA_PORT=" + strconv.Itoa(port), "KAFKA_DATA_DIR=" + data, "KAFKA_SECURITY=sasl_ssl"}
		b, err := runScript(secure.env, "start")
		if err != nil {
			secure.err = err
			return
		}
		secure.broker = SecureBroker{
			Plaintext: b,
			SSL:       fmt.Sprintf("127.0.0.1:%d", port+2),
			SASLSSL:   fmt.Sprintf("127.0.0.1:%d", port+3),
			Port:      port,
			TLSDir:    filepath.Join(data, "tls"),
		}
	})
	if secure.err != nil {
		t.Fatalf("testenv.SecureKafka: %v", secure.err)
	}
	return secure.broker
}

// StopSecureKafka stops the secured broker if SecureKafka started one, and
// removes its data.
func StopSecureKafka() {
	if secure.env == nil {
		return
	}
	_, _ = runScript(secure.env, "stop")
	_ = os.RemoveAll(secure.dir)
}

// freePortRun returns a port p, below the ephemeral range, with p..p+n-1
// all free right now.
func freePortRun(n int) (int, error) {
	for range 200 {
		p := portLow + rand.IntN(portHigh-portLow-n)
		ok := true
		var ls []net.Listener
		for i := range n {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+i))
			if err != nil {
				ok = false
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			_ = l.Close()
		}
		if ok {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no %d consecutive free ports below the ephemeral range", n)
}
