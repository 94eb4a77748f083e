package testkit

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Call does one request to the admin API with http.DefaultClient: body
// (when not nil) is sent as JSON, auth (when not nil) is applied to the
// request, and the JSON answer is decoded into out (when not nil; an
// answer that is not JSON fails the test). It returns the status.
func Call(t testing.TB, method, url string, body, out any, auth func(*http.Request)) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if method != http.MethodGet {
		// The admin guard wants JSON on every state-changing request.
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != nil {
		auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d, body %q is not JSON: %v", method, url, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

// Request is one request as a browser, a form or an attacker's page could
// send it, for the admin guard's tests: nothing is added to it.
type Request struct {
	Method, Path string
	Host         string            // "" = the listener's address
	Header       map[string]string // Content-Type, Origin, Sec-Fetch-Site, ...
	Body         string
	Basic        [2]string // user, password; none when the user is ""
}

// Do sends r to base (the API's base URL) and returns the status, the
// JSON error message if any, and the answer's header.
func (r Request) Do(t testing.TB, base string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(r.Method, base+r.Path, strings.NewReader(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	if r.Host != "" {
		req.Host = r.Host
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	if r.Basic[0] != "" {
		req.SetBasicAuth(r.Basic[0], r.Basic[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(raw, &e)
	return resp.StatusCode, e.Error, resp.Header
}
