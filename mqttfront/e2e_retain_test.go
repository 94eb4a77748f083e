package mqttfront_test

import (
	"testing"
)

func TestE2ERetained(t *testing.T) {
	dir := t.TempDir()
	ts := startServerDir(t, dir, nil, nil)
	pub := connectV3(t, v3Opts(t, ts.addr))

	t.Run("delivered on subscribe", func(t *testing.T) {
		pubV3(t, pub, "ret/a", 1, true, "A")
		var in inbox
		sub := connectV3(t, v3Opts(t, ts.addr))
		subV3(t, sub, "ret/#", 1, &in)
		got := in.waitN(t, 1)[0]
		if got.Topic != "ret/a" || got.Payload != "A" || !got.Retain {
			t.Errorf("on subscribe got %+v; want ret/a A with retain=true [MQTT-3.3.1-8]", got)
		}
		// A live publish with RETAIN set reaches an existing v3.1.1
		// subscriber with retain=false [MQTT-3.3.1-9].
		pubV3(t, pub, "ret/b", 1, true, "B")
		in.waitMsg(t, "ret/b", "B")
		if m := in.onTopic("ret/b")[0]; m.Retain {
			t.Errorf("live forward of a retained publish had retain=true; want false")
		}
	})

	t.Run("replaced and cleared by empty payload", func(t *testing.T) {
		pubV3(t, pub, "ret/c", 1, true, "old")
		pubV3(t, pub, "ret/c", 1, true, "new")
		pubV3(t, pub, "ret/d", 1, true, "D")
		pubV3(t, pub, "ret/d", 1, true, "") // [MQTT-3.3.1-6] [MQTT-3.3.1-7]
		var in inbox
		sub := connectV3(t, v3Opts(t, ts.addr))
		subV3(t, sub, "ret/c", 1, &in)
		subV3(t, sub, "ret/d", 1, &in)
		subV3(t, sub, "ret/marker", 1, &in)
		// Self-published marker: retained deliveries for sub's SUBSCRIBEs
		// are queued before it (SUBACK from another client's view is not).
		pubV3(t, sub, "ret/marker", 1, false, "end")
		in.waitMsg(t, "ret/marker", "end")
		if got := in.onTopic("ret/c"); len(got) != 1 || got[0].Payload != "new" {
			t.Errorf("ret/c retained deliveries %+v; want only the newest", got)
		}
		if got := in.onTopic("ret/d"); len(got) != 0 {
			t.Errorf("ret/d delivered %+v after clearing; want nothing", got)
		}
	})

	t.Run("survives restart", func(t *testing.T) {
		pubV3(t, pub, "ret/persist", 2, true, "P")
		pub.Disconnect(100)
		ts.stop()
		ts2 := startServerDir(t, dir, nil, nil)
		var in inbox
		sub := connectV3(t, v3Opts(t, ts2.addr))
		subV3(t, sub, "ret/persist", 1, &in)
		in.waitMsg(t, "ret/persist", "P")
		// And a cleared one stays cleared.
		subV3(t, sub, "ret/d", 1, &in)
		subV3(t, sub, "ret/marker2", 1, &in)
		pubV3(t, sub, "ret/marker2", 1, false, "end")
		in.waitMsg(t, "ret/marker2", "end")
		if got := in.onTopic("ret/d"); len(got) != 0 {
			t.Errorf("cleared retained ret/d came back after restart: %+v", got)
		}
	})
}
