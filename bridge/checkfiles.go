package bridge

import (
	"errors"
	"fmt"
	"os"
)

// CheckFiles verifies that every file the configuration names can be read,
// so check-config catches what start-up would refuse.
func CheckFiles(c Config) error {
	var errs []error
	check := func(key, path string) {
		if path == "" {
			return
		}
		f, err := os.Open(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
			return
		}
		_ = f.Close()
	}
	for name, l := range map[string]struct{ cert, key, ca string }{
		"tls": {c.MQTT.Listeners.TLS.CertFile, c.MQTT.Listeners.TLS.KeyFile, c.MQTT.Listeners.TLS.ClientCAFile},
		"wss": {c.MQTT.Listeners.WSS.CertFile, c.MQTT.Listeners.WSS.KeyFile, c.MQTT.Listeners.WSS.ClientCAFile},
	} {
		check("mqtt.listeners."+name+".cert_file", l.cert)
		check("mqtt.listeners."+name+".key_file", l.key)
		check("mqtt.listeners."+name+".client_ca_file", l.ca)
	}
	check("kafka.tls.ca_file", c.Kafka.TLS.CAFile)
	check("kafka.tls.cert_file", c.Kafka.TLS.CertFile)
	check("kafka.tls.key_file", c.Kafka.TLS.KeyFile)
	check("kafka.sasl.password_file", c.Kafka.SASL.PasswordFile)
	check("kafka.sasl.oauthbearer.token_file", c.Kafka.SASL.OAuthBearer.TokenFile)
	return errors.Join(errs...)
}
