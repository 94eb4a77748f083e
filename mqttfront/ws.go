package mqttfront

import (
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// wsServer serves MQTT over WebSocket on path: subprotocol "mqtt" (or
// "mqttv3.1"), binary frames. The upgraded connection is wrapped as a
// stream so the same connection code serves it.
func (s *Server) wsServer(name, path string) *http.Server {
	up := websocket.Upgrader{
		Subprotocols:    []string{"mqtt", "mqttv3.1"},
		CheckOrigin:     func(*http.Request) bool { return true },
		ReadBufferSize:  1024,
		WriteBufferSize: 1024,
	}
	mux := http.NewServeMux()
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade has answered with an HTTP error
		}
		// The handler goroutine becomes the connection's reader; count it.
		s.runMu.Lock()
		ok := s.running && !s.closing.Load()
		if ok {
			s.wg.Add(1)
		}
		s.runMu.Unlock()
		if !ok {
			_ = ws.Close()
			return
		}
		defer s.wg.Done()
		s.serve(&wsConn{ws: ws}, name)
	})
	return &http.Server{Handler: mux, ReadHeaderTimeout: s.cfg.ConnectTimeout}
}

// wsConn adapts a websocket connection to net.Conn: reads concatenate the
// payloads of binary messages, each Write is one binary message.
type wsConn struct {
	ws  *websocket.Conn
	r   io.Reader
	wmu sync.Mutex
}

var _ net.Conn = (*wsConn)(nil)

func (c *wsConn) Read(b []byte) (int, error) {
	for {
		if c.r == nil {
			mt, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if mt != websocket.BinaryMessage {
				_ = c.ws.Close()
				return 0, io.ErrUnexpectedEOF // [MQTT-6.0.0-1] only binary frames
			}
			c.r = r
		}
		n, err := c.r.Read(b)
		if err == io.EOF {
			c.r = nil
			if n == 0 {
				continue
			}
			return n, nil
		}
		return n, err
	}
}

func (c *wsConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (c *wsConn) Close() error                       { return c.ws.Close() }
func (c *wsConn) LocalAddr() net.Addr                { return c.ws.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr               { return c.ws.RemoteAddr() }
func (c *wsConn) SetReadDeadline(t time.Time) error  { return c.ws.SetReadDeadline(t) }
func (c *wsConn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }
func (c *wsConn) SetDeadline(t time.Time) error {
	_ = c.ws.SetReadDeadline(t)
	return c.ws.SetWriteDeadline(t)
}
