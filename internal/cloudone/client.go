// Package cloudone talks to the Trend Cloud One accounts API: it reads the region of an API
// key, and maps Cloud One regions to AWS regions.
package cloudone

import (
	"context"
	"encoding/json"

	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/fault"
	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
)

// Client reads API key metadata from the accounts API.
type Client struct {
	BaseURL string       // e.g. https://accounts.cloudone.trendmicro.com
	HTTP    *http.Client // nil: a client with a 10 s timeout

	mu    sync.Mutex
	cache map[string]Key // by key id; a key's region never changes
}

// Key is what the accounts API says about an API key.
type Key struct {
	ID        string // the part of the key before the first ':'
	Region    string // Cloud One region, e.g. us-1
	AccountID string // Cloud One account id
}

// KeyID returns the id part of an API key (before the first ':').
func KeyID(apiKey secret.Value) (string, error) {
	id, _, ok := strings.Cut(apiKey.Reveal(), ":")
	if !ok || id == "" {
		return "", fault.Permanentf("cloudOneApiKey: not a Cloud One API key (expected <id>:<secret>)")
	}
	return id, nil
}

// Describe returns the key's metadata: GET {base}/api/apikeys/{id} with the key itself as
// credentials. 401 and 403 are permanent errors (the key is wrong or revoked); 429 and 5xx,
// timeouts and network failures are transient. The key never appears in an error.
func (c *Client) Describe(ctx context.Context, apiKey secret.Value) (Key, error) {
	id, err := KeyID(apiKey)
	if err != nil {
		return Key{}, err
	}
	c.mu.Lock()
	if k, ok := c.cache[id]; ok {
		c.mu.Unlock()
		return k, nil
	}
	c.mu.Unlock()

	url := strings.TrimRight(c.BaseURL, "/") + "/api/apikeys/" + id
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Key{}, fault.Permanentf("Cloud One accounts URL %q: %v", c.BaseURL, err)
	}
	req.Header.Set("Authorization", "ApiKey "+apiKey.Reveal())
	req.Header.Set("api-version", "v1")
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		// Transport errors can quote the URL, never the headers: safe to wrap.
		return Key{}, fault.Transientf("Cloud One: read API key %s: %v", id, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return Key{}, fault.Permanentf("Cloud One rejected API key %s (HTTP %d): the key is wrong, expired or lacks access; update the secret", id, resp.StatusCode)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return Key{}, fault.Transientf("Cloud One: read API key %s: HTTP %d, retry later", id, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return Key{}, fault.Permanentf("Cloud One: read API key %s: unexpected HTTP %d", id, resp.StatusCode)
	}
	var doc struct {
		ID  string `json:"id"`
		URN string `json:"urn"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return Key{}, fault.Transientf("Cloud One: read API key %s: response is not JSON: %v", id, err)
	}
	k, err := parseURN(id, doc.URN)
	if err != nil {
		return Key{}, err
	}
	c.mu.Lock()
	if c.cache == nil {
		c.cache = map[string]Key{}
	}
	c.cache[id] = k
	c.mu.Unlock()
	return k, nil
}

// parseURN reads region and account from urn:cloudone:identity:<region>:<account>:apikey/<id>.
func parseURN(id, urn string) (Key, error) {
	f := strings.Split(urn, ":")
	if len(f) < 5 || f[3] == "" || f[4] == "" {
		return Key{}, fault.Permanentf("Cloud One: API key %s: urn %q has no region and account (fields 3 and 4)", id, urn)
	}
	if _, err := AWSRegion(f[3]); err != nil {
		return Key{}, fault.Permanentf("Cloud One: API key %s: %v", id, err)
	}
	return Key{ID: id, Region: f[3], AccountID: f[4]}, nil
}
