package admin

import (
	"embed"
	"io/fs"
	"net"
	"net/http"

	"go.uber.org/zap"
)

// webFS holds the dashboard (plain HTML, CSS and JS; no build step) and the
// OpenAPI document.
//
//go:embed web
var webFS embed.FS

func dashboard() http.Handler {
	sub, err := fs.Sub(webFS, "web")
	if err != nil {
		panic(err) // the embedded tree always has web/
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "the dashboard is read with GET")
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		// The admin guard (adminguard.go) sets nosniff and X-Frame-Options on
		// every answer; the dashboard's CSP lets its own files run.
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; "+
			"frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		files.ServeHTTP(w, r)
	})
}

func adminField(r *http.Request) zap.Field {
	if u, _, ok := r.BasicAuth(); ok {
		return zap.String("admin", u)
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	return zap.String("admin", host)
}

func clientField(id string) zap.Field   { return zap.String("client", id) }
func topicField(topic string) zap.Field { return zap.String("topic", topic) }
