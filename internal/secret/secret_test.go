package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestValueNeverPrints(t *testing.T) {
	v := NewValue("TOPSECRETKEY")
	c := Credentials{APIKey: v, ServiceToken: NewValue("TOPSECRETTOKEN"), VersionID: "v1"}
	var b bytes.Buffer
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "v", v, "c", c)
	js, _ := json.Marshal(c)
	all := fmt.Sprintf("%v %+v %#v %s %q %x", c, c, c, v, v, v) + b.String() + string(js)
	if strings.Contains(all, "TOPSECRET") {
		t.Fatalf("leak: %s", all)
	}
	if v.Reveal() != "TOPSECRETKEY" {
		t.Fatal("Reveal")
	}
}

// Scrub removes the values, the key's secret half, and their URL- and JSON-escaped forms; the
// key's id (the half before ':') is not secret and stays.
func TestScrubEveryForm(t *testing.T) {
	c := Credentials{APIKey: NewValue("KEYID123:s3cr/et+Key&\"value\""), ServiceToken: NewValue("tok en/é")}
	for _, text := range []string{
		`key KEYID123:s3cr/et+Key&"value" refused`,
		`secret part s3cr/et+Key&"value" alone`,
		`url ?apiKey=KEYID123%3As3cr%2Fet%2BKey%26%22value%22&x=1`,
		`path /keys/s3cr%2Fet+Key&%22value%22`,
		`json {"ApiKey":"KEYID123:s3cr/et+Key\u0026\"value\""}`,
		`json {"ApiKey":"KEYID123:s3cr/et+Key&\"value\""}`,
		`token tok en/é, tok+en%2F%C3%A9, tok%20en%2F%C3%A9, "tok en/é"`,
	} {
		got := c.Scrub(text)
		for _, bad := range []string{"s3cr", "et+Key", "et%2BKey", "tok en", "tok+en", "tok%20en"} {
			if strings.Contains(got, bad) {
				t.Errorf("Scrub(%q) = %q: %q is left", text, got, bad)
			}
		}
	}
	if got := c.Scrub("Cloud One rejected API key KEYID123"); got != "Cloud One rejected API key KEYID123" {
		t.Errorf("the key's id was scrubbed: %q", got)
	}
	if got := (Credentials{APIKey: NewValue("ab")}).Scrub("a cab"); got != "a cab" {
		t.Errorf("a value of 2 characters blanked a word: %q", got)
	}
}
