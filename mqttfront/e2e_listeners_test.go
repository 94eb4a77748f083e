package mqttfront_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// roundTripV3 checks that a message published by pub reaches sub.
func roundTripV3(t *testing.T, pubAddr, subAddr string, tlsCfg *tls.Config) {
	t.Helper()
	var in inbox
	so := v3Opts(t, subAddr)
	po := v3Opts(t, pubAddr)
	if tlsCfg != nil {
		so.SetTLSConfig(tlsCfg)
		po.SetTLSConfig(tlsCfg)
	}
	sub := connectV3(t, so)
	subV3(t, sub, "lst/#", 1, &in)
	pub := connectV3(t, po)
	pubV3(t, pub, "lst/a", 1, false, "hello")
	in.waitMsg(t, "lst/a", "hello")
}

func TestE2EListenerTCP(t *testing.T) {
	_, addr := startServer(t, nil, nil)
	roundTripV3(t, addr, addr, nil)
}

// testPKI is a CA with a server and a client certificate, plus a client
// certificate from an unrelated CA, written as PEM files into a temp dir.
type testPKI struct {
	caFile, serverCert, serverKey string
	caPool                        *x509.CertPool
	client, rogue                 tls.Certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	ca, caKey := makeCert(t, nil, nil, "e2e-ca", true)
	rogueCA, rogueKey := makeCert(t, nil, nil, "rogue-ca", true)
	srv, srvKey := makeCert(t, ca, caKey, "localhost", false)
	cli, cliKey := makeCert(t, ca, caKey, "device-1", false)
	rog, rogKey := makeCert(t, rogueCA, rogueKey, "device-1", false)

	p := &testPKI{
		caFile:     filepath.Join(dir, "ca.pem"),
		serverCert: filepath.Join(dir, "server.pem"),
		serverKey:  filepath.Join(dir, "server-key.pem"),
		caPool:     x509.NewCertPool(),
	}
	p.caPool.AddCert(ca)
	writePEM(t, p.caFile, "CERTIFICATE", ca.Raw)
	writePEM(t, p.serverCert, "CERTIFICATE", srv.Raw)
	writePEM(t, p.serverKey, "PRIVATE KEY", marshalKey(t, srvKey))
	p.client = tls.Certificate{Certificate: [][]byte{cli.Raw}, PrivateKey: cliKey}
	p.rogue = tls.Certificate{Certificate: [][]byte{rog.Raw}, PrivateKey: rogKey}
	return p
}

func makeCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	if isCA {
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func marshalKey(t *testing.T, k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestE2EListenerTLS(t *testing.T) {
	pki := newTestPKI(t)
	srv, addr := startServer(t, func(c *mqttfront.Config) {
		c.Listeners.TLS = mqttfront.ListenerConfig{
			Enabled: true, Address: "127.0.0.1:0",
			CertFile: pki.serverCert, KeyFile: pki.serverKey,
			ClientCAFile: pki.caFile, RequireClientCert: true,
		}
	}, nil)
	if srv.Addr("tls") == nil {
		t.Fatal(`Addr("tls") = nil; want the TLS listener address`)
	}
	tlsAddr := "ssl://" + srv.Addr("tls").String()

	t.Run("client cert accepted", func(t *testing.T) {
		cfg := &tls.Config{RootCAs: pki.caPool, Certificates: []tls.Certificate{pki.client}, ServerName: "localhost"}
		roundTripV3(t, tlsAddr, addr, cfg) // TLS publisher, TCP subscriber
		roundTripV3(t, addr, tlsAddr, cfg) // and back
	})
	t.Run("server cert verified by client", func(t *testing.T) {
		// The client verifies the server against our CA: a handshake with
		// a wrong expected name must fail, proving the chain is checked.
		cfg := &tls.Config{RootCAs: pki.caPool, Certificates: []tls.Certificate{pki.client}, ServerName: "not-the-server"}
		_, tok := tryConnectV3(t, v3Opts(t, tlsAddr).SetTLSConfig(cfg))
		if tok.Error() == nil {
			t.Fatal("connect with wrong server name succeeded; want a verification error")
		}
	})
	for name, certs := range map[string][]tls.Certificate{
		"no client cert":          nil,
		"client cert of rogue CA": {pki.rogue},
	} {
		t.Run(name+" refused", func(t *testing.T) {
			cfg := &tls.Config{RootCAs: pki.caPool, Certificates: certs, ServerName: "localhost"}
			_, tok := tryConnectV3(t, v3Opts(t, tlsAddr).SetTLSConfig(cfg))
			if tok.Error() == nil {
				t.Fatal("connect succeeded; want the TLS handshake refused")
			}
		})
	}
}

func TestE2EListenerWebSocket(t *testing.T) {
	srv, addr := startServer(t, func(c *mqttfront.Config) {
		c.Listeners.WS = mqttfront.ListenerConfig{Enabled: true, Address: "127.0.0.1:0", Path: "/mqtt"}
	}, nil)
	if srv.Addr("ws") == nil {
		t.Fatal(`Addr("ws") = nil; want the WebSocket listener address`)
	}
	wsURL := "ws://" + srv.Addr("ws").String() + "/mqtt"

	t.Run("paho over ws", func(t *testing.T) {
		roundTripV3(t, wsURL, addr, nil)
		roundTripV3(t, addr, wsURL, nil)
	})
	t.Run("subprotocol mqtt negotiated", func(t *testing.T) {
		d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: 5 * time.Second}
		ws, resp, err := d.Dial(wsURL, nil)
		if err != nil {
			t.Fatalf("websocket dial: %v", err)
		}
		defer ws.Close()
		if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "mqtt" {
			t.Errorf("Sec-WebSocket-Protocol = %q; want mqtt", got)
		}
		// A CONNECT in one binary frame gets a CONNACK back.
		if err := ws.WriteMessage(websocket.BinaryMessage, mqttwire.Encode(packets.V311, mqttwire.ConnectPacket(packets.V311, clientID(t, "ws"), mqttwire.KeepAlive(30)))); err != nil {
			t.Fatal(err)
		}
		_ = ws.SetReadDeadline(time.Now().Add(e2eTimeout))
		typ, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("read CONNACK frame: %v", err)
		}
		if typ != websocket.BinaryMessage || len(b) < 4 || b[0] != 0x20 || b[3] != 0 {
			t.Errorf("frame type %d bytes % X; want binary CONNACK success", typ, b)
		}
	})
	t.Run("wrong path refused", func(t *testing.T) {
		d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: 5 * time.Second}
		ws, resp, err := d.Dial("ws://"+srv.Addr("ws").String()+"/not-mqtt", nil)
		if err == nil {
			ws.Close()
			t.Fatal("websocket dial on a wrong path succeeded")
		}
		if resp != nil && resp.StatusCode == http.StatusSwitchingProtocols {
			t.Errorf("status %d on wrong path", resp.StatusCode)
		}
	})
}

func TestE2EMaxConnections(t *testing.T) {
	_, addr := startServer(t, func(c *mqttfront.Config) { testkit.Set(t, c, "max_connections", 2) }, nil)
	a := connectV3(t, v3Opts(t, addr))
	connectV3(t, v3Opts(t, addr))
	_, tok := tryConnectV3(t, v3Opts(t, addr))
	if tok.Error() == nil {
		t.Fatal("third connection accepted with max_connections=2")
	}
	a.Disconnect(100)
	// The freed slot becomes usable once the server saw the close.
	waitFor(t, e2eTimeout, "a connection slot to free up", func() bool {
		c, tok := tryConnectV3(t, v3Opts(t, addr))
		if tok.Error() != nil {
			return false
		}
		c.Disconnect(50)
		return true
	})
}

func TestE2EConnectTimeout(t *testing.T) {
	_, addr := startServer(t, func(c *mqttfront.Config) {
		testkit.Set(t, c, "connect_timeout", 300*time.Millisecond)
	}, nil)
	rc := mqttwire.Dial(t, addr, packets.V311)
	start := time.Now()
	rc.ExpectClosed(5 * time.Second)
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("silent socket closed after %v; want about connect_timeout (300ms)", took)
	}
}

func TestE2EListenerSecureWebSocket(t *testing.T) {
	pki := newTestPKI(t)
	srv, addr := startServer(t, func(c *mqttfront.Config) {
		c.Listeners.WSS = mqttfront.ListenerConfig{Enabled: true, Address: "127.0.0.1:0", Path: "/mqtt",
			CertFile: pki.serverCert, KeyFile: pki.serverKey}
	}, nil)
	if srv.Addr("wss") == nil {
		t.Fatal(`Addr("wss") = nil; want the secure WebSocket listener address`)
	}
	cfg := &tls.Config{RootCAs: pki.caPool, ServerName: "localhost"}
	roundTripV3(t, "wss://"+srv.Addr("wss").String()+"/mqtt", addr, cfg)
}

// TestE2ETLSIdentityAsUsername: with use_identity_as_username the verified
// client certificate's CN is the username, for auth, ACL and the sink.
func TestE2ETLSIdentityAsUsername(t *testing.T) {
	pki := newTestPKI(t)
	sink := newSink()
	srv, _ := startServer(t, func(c *mqttfront.Config) {
		c.Listeners.TLS = mqttfront.ListenerConfig{
			Enabled: true, Address: "127.0.0.1:0",
			CertFile: pki.serverCert, KeyFile: pki.serverKey,
			ClientCAFile: pki.caFile, RequireClientCert: true,
		}
		c.Auth.AllowAnonymous = false
		c.Auth.UseIdentityAsUsername = true
		c.Auth.ACL = auth.ACLConfig{NoMatch: "deny", Rules: []auth.ACLRule{
			{Permission: "allow", Action: "all", Topics: []string{"devices/%u/#"}},
		}}
	}, sink)
	cfg := &tls.Config{RootCAs: pki.caPool, Certificates: []tls.Certificate{pki.client}, ServerName: "localhost"}
	c := connectV3(t, v3Opts(t, "ssl://"+srv.Addr("tls").String()).SetTLSConfig(cfg))
	var in inbox
	subV3(t, c, "devices/device-1/#", 1, &in)
	pubV3(t, c, "devices/device-1/up", 1, false, "cn")
	in.waitMsg(t, "devices/device-1/up", "cn")
	ms := byTopic(sink, "devices/device-1/up")
	if len(ms) != 1 || ms[0].Username != "device-1" {
		t.Errorf("sink messages %+v; want one with Username device-1 (the cert CN)", ms)
	}
	tok := c.Subscribe("devices/other/#", 1, in.v3Handler())
	waitTok(t, tok, "subscribe")
	if got := tok.(*mqtt.SubscribeToken).Result()["devices/other/#"]; got != 0x80 {
		t.Errorf("SUBACK 0x%02X for another device's topics; want 0x80", got)
	}
}
