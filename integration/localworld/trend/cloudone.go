// Package trend holds the local stand-ins for Trend's APIs, for tests, the demo and the
// benchmark: the Cloud One accounts API (this file) and Vision One's Cloud Accounts API
// (visionone.go). Each checks the credentials a real client must send and can be told to
// fail.
package trend

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
)

// Key is an API key the stand-in knows.
type Key struct {
	ID      string // the part before ':'
	Secret  string // the part after ':'
	Region  string // Cloud One region, e.g. us-1
	Account string // Cloud One account id
}

// APIKey is the full key as it is stored in the secret.
func (k Key) APIKey() string { return k.ID + ":" + k.Secret }

// Server is the stand-in.
type Server struct {
	*httptest.Server

	mu       sync.Mutex
	keys     map[string]Key
	failWith int  // HTTP status to answer with; 0: behave
	hang     bool // never answer (until the client times out or the server closes)
	requests atomic.Int64
	rejected atomic.Int64
	stop     chan struct{}
}

// New starts a stand-in that knows the given keys. Close it when done.
func New(keys ...Key) *Server {
	s := &Server{keys: map[string]Key{}, stop: make(chan struct{})}
	for _, k := range keys {
		s.keys[k.ID] = k
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Close stops hanging requests, then the server.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.mu.Unlock()
	s.Server.Close()
}

// AddKey makes another key known (or replaces one), as after a rotation.
func (s *Server) AddKey(k Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[k.ID] = k
}

// Fail makes every request answer status (401, 403, 429, 503, ...); 0 restores service.
func (s *Server) Fail(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failWith, s.hang = status, false
}

// Hang makes every request wait without answering until the client gives up; Fail(0) ends it.
func (s *Server) Hang() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang = true
}

// Requests counts the requests served (including rejected ones); Rejected counts those
// refused for missing or wrong headers or an unknown key.
func (s *Server) Requests() int64 { return s.requests.Load() }
func (s *Server) Rejected() int64 { return s.rejected.Load() }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.mu.Lock()
	failWith, hang := s.failWith, s.hang
	s.mu.Unlock()
	if hang {
		select {
		case <-r.Context().Done():
		case <-s.stop:
		}
		return
	}
	if failWith != 0 {
		writeError(w, failWith, http.StatusText(failWith))
		return
	}
	id, ok := strings.CutPrefix(r.URL.Path, "/api/apikeys/")
	if r.Method != http.MethodGet || !ok || id == "" || strings.Contains(id, "/") {
		writeError(w, http.StatusNotFound, "no such endpoint")
		return
	}
	if r.Header.Get("api-version") != "v1" {
		s.rejected.Add(1)
		writeError(w, http.StatusBadRequest, "missing or unsupported api-version header")
		return
	}
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "ApiKey ")
	if !ok {
		s.rejected.Add(1)
		writeError(w, http.StatusUnauthorized, "missing Authorization: ApiKey header")
		return
	}
	s.mu.Lock()
	k, known := s.keys[id]
	s.mu.Unlock()
	if !known || auth != k.APIKey() {
		s.rejected.Add(1)
		writeError(w, http.StatusUnauthorized, "invalid API key")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id":          k.ID,
		"urn":         "urn:cloudone:identity:" + k.Region + ":" + k.Account + ":apikey/" + k.ID,
		"description": "stand-in key",
		"enabled":     true,
	})
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}
