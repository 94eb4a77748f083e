package admin

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestAPIAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("tok-123"))
	secured := Config{Users: []User{{Username: "ops", PasswordHash: string(hash)}},
		Tokens: []Token{{Name: "ci", TokenSHA256: hex.EncodeToString(sum[:])}}}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]bool{"ok": true}) })

	tests := []struct {
		name   string
		cfg    Config
		remote string
		auth   func(*http.Request)
		status int
	}{
		{"open, loopback v4", Config{}, "127.0.0.1:5000", nil, 200},
		{"open, loopback v6", Config{}, "[::1]:5000", nil, 200},
		{"open, remote", Config{}, "192.0.2.7:5000", nil, 403},
		{"open, remote with credentials", Config{}, "192.0.2.7:5000", func(r *http.Request) { r.SetBasicAuth("ops", "s3cret") }, 403},
		{"secured, none", secured, "127.0.0.1:5000", nil, 401},
		{"secured, bad password", secured, "192.0.2.7:5000", func(r *http.Request) { r.SetBasicAuth("ops", "nope") }, 401},
		{"secured, unknown user", secured, "192.0.2.7:5000", func(r *http.Request) { r.SetBasicAuth("eve", "s3cret") }, 401},
		{"secured, basic", secured, "192.0.2.7:5000", func(r *http.Request) { r.SetBasicAuth("ops", "s3cret") }, 200},
		{"secured, basic again (cached)", secured, "192.0.2.7:5000", func(r *http.Request) { r.SetBasicAuth("ops", "s3cret") }, 200},
		{"secured, bearer", secured, "192.0.2.7:5000", func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok-123") }, 200},
		{"secured, bad bearer", secured, "192.0.2.7:5000", func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok-124") }, 401},
	}
	auths := map[string]*apiAuth{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "open"
			if len(tt.cfg.Users) > 0 {
				key = "secured"
			}
			if auths[key] == nil {
				auths[key] = newAPIAuth(tt.cfg)
			}
			r := httptest.NewRequest("GET", "/api/v1/overview", nil)
			r.RemoteAddr = tt.remote
			if tt.auth != nil {
				tt.auth(r)
			}
			w := httptest.NewRecorder()
			auths[key].wrap(ok).ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status = %d; want %d", w.Code, tt.status)
			}
			if tt.status == 401 && !strings.Contains(w.Header().Get("WWW-Authenticate"), "Basic") {
				t.Errorf("401 without a WWW-Authenticate Basic challenge: %q", w.Header().Values("WWW-Authenticate"))
			}
			if tt.status != 200 {
				var e struct{ Error string }
				if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
					t.Errorf("body %q; want a JSON error", w.Body.String())
				}
			}
		})
	}
}
