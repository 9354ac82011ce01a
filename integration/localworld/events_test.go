package localworld

import (
	"encoding/json"
	"testing"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/event"
)

// TestTrailCallReachesTheParser builds every trail call the trail guard watches, by name and
// by ARN, as the end-to-end suite puts it on the bus, and reads it back with the product's
// parser: the world records the trail in the field CloudTrail uses for that call (trailName
// for PutEventSelectors, name for the others), so the parser finds it there.
func TestTrailCallReachesTheParser(t *testing.T) {
	const account = "012345678901"
	for _, call := range event.TrailEvents {
		for _, trail := range []string{"org-audit", "arn:aws:cloudtrail:us-east-1:" + account + ":trail/org-audit"} {
			e := TrailCall(account, "us-east-1", call, trail)
			// The envelope EventBridge puts around the detail; moto delivers it without "account".
			raw, err := json.Marshal(map[string]any{"version": "0", "id": uuid(), "source": e.Source,
				"detail-type": e.DetailType, "time": "2024-03-05T10:22:31Z", "region": "us-east-1", "detail": e.Detail})
			if err != nil {
				t.Fatal(err)
			}
			ev, err := event.Parse(raw)
			if err != nil {
				t.Errorf("%s on %s: %v", call, trail, err)
				continue
			}
			if ev.Kind != event.KindTrailCall || ev.Account != account || ev.Call.Resource != trail || ev.Call.Name != "org-audit" {
				t.Errorf("%s on %s: kind %s account %s call %+v", call, trail, ev.Kind, ev.Account, ev.Call)
			}
		}
	}
}
