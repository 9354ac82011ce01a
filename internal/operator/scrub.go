package operator

import (
	"encoding/json"
	"net/url"
	"sort"
	"strings"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
)

// Redacted replaces a secret value wherever it is found.
const Redacted = "[redacted]"

// Scrub removes the secret values of creds from text in every form an error or an API answer
// may carry them: as they are, the API key's secret half (after its id and ":"), and each of
// these URL-escaped (query and path) and JSON-escaped. Values shorter than four characters
// are left alone: they would match too much to mean anything.
func Scrub(text string, creds ...secret.Credentials) string {
	var forms []string
	for _, c := range creds {
		for _, v := range []string{c.APIKey.Reveal(), c.ServiceToken.Reveal()} {
			vals := []string{v}
			if _, half, ok := strings.Cut(v, ":"); ok {
				vals = append(vals, half)
			}
			for _, s := range vals {
				if len(s) < 4 {
					continue
				}
				js, _ := json.Marshal(s)
				forms = append(forms, s, url.QueryEscape(s), url.PathEscape(s), strings.Trim(string(js), `"`))
			}
		}
	}
	// Longest first: a shorter form (the key's half) must not leave a longer one in pieces.
	sort.SliceStable(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	for _, f := range forms {
		text = strings.ReplaceAll(text, f, Redacted)
	}
	return text
}
