package bridge

import (
	"fmt"
	"os"
	"reflect"
	"slices"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
)

// Reload re-reads the configuration the bridge was started with (file,
// environment, --set) and applies the mapping rules, MQTT users and ACLs,
// and the admin users and tokens, without dropping a connection. A configuration that does not load or validate is
// refused and the running one is kept. Other changes (listeners, Kafka
// settings, downlink topics) need a restart; they are logged, not applied.
// A refusal is counted and returned, not logged: the caller logs it (main
// does, for SIGHUP).
func (b *Bridge) Reload() error {
	cfg, err := Load(b.opts.ConfigPath, os.Environ(), b.opts.Overrides)
	if err == nil {
		err = cfg.Validate()
	}
	var (
		rules *mapping.Rules
		authn *auth.Static
		acl   *auth.ACL
	)
	if err == nil {
		rules, err = mapping.Compile(cfg.Mapping)
	}
	if err == nil {
		authn, acl, err = mqttfront.NewAuth(cfg.MQTT.Auth)
	}
	if err != nil {
		b.metrics.reloads.WithLabelValues("refused").Inc()
		return fmt.Errorf("reload: %w", err)
	}
	if !slices.Equal(rules.DownlinkTopics(), b.rules.Load().DownlinkTopics()) {
		b.log.Warn("reload: the downlink Kafka topics changed; the consumer keeps its subscription until restart")
	}
	b.rules.Store(rules)
	b.front.SetAuth(authn, acl)
	if cfg.MQTT.Auth.BindClientIDToUser != b.cfg.MQTT.Auth.BindClientIDToUser {
		b.log.Warn("reload: mqtt.auth.bind_client_id_to_user changed; it applies after a restart")
	}
	if cfg.MQTT.Auth.FailureBackoff != b.cfg.MQTT.Auth.FailureBackoff {
		b.log.Warn("reload: mqtt.auth.failure_backoff changed; it applies after a restart")
	}
	if !reflect.DeepEqual(cfg.Kafka.TLS, b.cfg.Kafka.TLS) || !reflect.DeepEqual(cfg.Kafka.SASL, b.cfg.Kafka.SASL) {
		// Names the keys only, never their values. Rotated secrets in
		// kafka.sasl.password_file, oauthbearer.token_file and the client
		// certificate files need no reload: each new connection reads them.
		b.log.Warn("reload: kafka.tls or kafka.sasl changed; it applies after a restart (rotated password_file, token_file and client certificate files are picked up without one)")
	}
	b.adminHTTP.Reload(cfg.Admin)
	b.metrics.reloads.WithLabelValues("applied").Inc()
	b.log.Info("configuration reloaded", zap.Strings("uplink_rules", rules.UplinkRuleNames()),
		zap.Int("users", len(cfg.MQTT.Auth.Users)), zap.Int("acl_rules", len(cfg.MQTT.Auth.ACL.Rules)),
		zap.Int("admin_users", len(cfg.Admin.Users)), zap.Int("admin_tokens", len(cfg.Admin.Tokens)))
	return nil
}
