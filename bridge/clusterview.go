package bridge

import (
	"net"
	"strconv"
	"strings"

	"github.com/iotbridge/mqtt-kafka-bridge/bridge/admin"
	"github.com/iotbridge/mqtt-kafka-bridge/cluster"
)

// The operations surface of cluster mode (cluster/README.md,
// "Operations"): the node as the admin API reads it, and the addresses
// this replica's heartbeats advertise.

// clusterView is the cluster node as the admin API reads it
// (admin.Cluster).
type clusterView struct {
	node    *cluster.Node
	forward bool // cluster.admin_forward
}

var _ admin.Cluster = clusterView{}

// Cluster is nil when cluster mode is off: the API answers 404.
func (v adminView) Cluster() admin.Cluster {
	if v.b.cluster == nil {
		return nil
	}
	return clusterView{node: v.b.cluster, forward: v.b.cfg.Cluster.AdminForward}
}

func (c clusterView) ReplicaID() string { return c.node.ID() }
func (c clusterView) Forward() bool     { return c.forward }

func (c clusterView) View() admin.ClusterView {
	v := c.node.View()
	out := admin.ClusterView{Replica: v.ID, Incarnation: strconv.FormatUint(v.Incarnation, 16), State: v.State.String(),
		Ready: v.State == cluster.StateReady, NotReadyReason: v.NotReadyReason, ReplicaTimeoutSeconds: v.ReplicaTimeout.Seconds(),
		Replicas: make([]admin.ClusterReplica, 0, len(v.Replicas)), Tables: make([]admin.ClusterTable, 0, len(v.Tables)),
		Claims: admin.ClusterClaims(v.Claims), Repairs: v.Repairs}
	for _, r := range v.Replicas {
		if r.Live {
			out.LiveReplicas++
		}
		out.Replicas = append(out.Replicas, replicaJSON(r))
	}
	for _, t := range v.Tables {
		out.Tables = append(out.Tables, admin.ClusterTable{Name: t.Name, Lag: t.Behind, RecordsApplied: t.Records, CaughtUp: t.CaughtUp})
	}
	return out
}

func (c clusterView) Owner(clientID string) (admin.ClusterReplica, bool) {
	r, ok := c.node.SessionOwner(clientID)
	if !ok {
		return admin.ClusterReplica{}, false
	}
	return replicaJSON(r), true
}

func replicaJSON(r cluster.ReplicaView) admin.ClusterReplica {
	out := admin.ClusterReplica{ID: r.ID, State: r.State, Live: r.Live, Self: r.Self, LastHeartbeat: r.LastHeartbeat,
		StartedAt: r.StartedAt, AdminAddress: r.Admin, MQTTAddresses: strings.Fields(r.MQTT)}
	if !r.LastHeartbeat.IsZero() {
		age := r.HeartbeatAge.Seconds()
		out.HeartbeatAgeSeconds = &age
		out.Incarnation = strconv.FormatUint(r.Incarnation, 16)
	}
	out.Sessions.Online, out.Sessions.Offline = r.SessionsOnline, r.SessionsOffline
	return out
}

// advertised is what this replica's heartbeats advertise: its admin
// address and its MQTT listeners (cluster.advertise_admin,
// cluster.advertise_mqtt, or the listeners' bound addresses once they
// listen).
func (b *Bridge) advertised() (adminAddr, mqtt string) {
	c := b.cfg.Cluster
	adminAddr = c.AdvertiseAdmin
	if adminAddr == "" {
		adminAddr = reachable(b.adminHTTP.Addr())
	}
	mqtt = c.AdvertiseMQTT
	if mqtt == "" {
		var list []string
		for _, l := range []struct{ name, scheme string }{{"tcp", "mqtt"}, {"tls", "mqtts"}, {"ws", "ws"}, {"wss", "wss"}} {
			if a := b.front.Addr(l.name); a != nil {
				list = append(list, l.scheme+"://"+reachable(a.String()))
			}
		}
		mqtt = strings.Join(list, " ")
	}
	return adminAddr, mqtt
}

// reachable is a bound address as other machines reach it: an unspecified
// host (":8080", "0.0.0.0:8080", "[::]:8080") is replaced by this
// machine's first non-loopback IP address (the pod IP in Kubernetes); ""
// stays "".
func reachable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return addr
	}
	if ip := firstIP(); ip != "" {
		return net.JoinHostPort(ip, port)
	}
	return addr
}

// firstIP is this machine's first non-loopback unicast address, IPv4
// first; "" when it has none.
func firstIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	var v6 string
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.IsLoopback() || !n.IP.IsGlobalUnicast() {
			continue
		}
		if n.IP.To4() != nil {
			return n.IP.String()
		}
		if v6 == "" {
			v6 = n.IP.String()
		}
	}
	return v6
}
