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
