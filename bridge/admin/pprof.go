package admin

import (
	"net/http"
	"net/http/pprof"
	"runtime"
)

// registerPprof serves the runtime profiles under /debug/pprof/ behind
// auth (admin.pprof). It also turns on mutex and block sampling, which cost
// a little on every contended lock, so they run only when asked for.
func registerPprof(mux *http.ServeMux, auth *apiAuth) {
	runtime.SetMutexProfileFraction(100)
	runtime.SetBlockProfileRate(10_000) // one sample per 10 µs blocked
	mux.Handle("/debug/pprof/", auth.wrap(http.HandlerFunc(pprof.Index)))
	mux.Handle("/debug/pprof/cmdline", auth.wrap(http.HandlerFunc(pprof.Cmdline)))
	mux.Handle("/debug/pprof/profile", auth.wrap(http.HandlerFunc(pprof.Profile)))
	mux.Handle("/debug/pprof/symbol", auth.wrap(http.HandlerFunc(pprof.Symbol)))
	mux.Handle("/debug/pprof/trace", auth.wrap(http.HandlerFunc(pprof.Trace)))
}
