package fake

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// EventBridge is the EventBridge API the product calls: PutEvents (intake.Bus) and the
// operator's replay calls (DescribeArchive, DescribeEventBus, StartReplay, DescribeReplay).
// PutEvents takes every entry and answers an event id for each, "the index of the response
// element is the same as the index in the request array" (the SDK's
// service/eventbridge/api_op_PutEvents.go); the replay calls have no default.
type EventBridge struct {
	Log *Log

	PutEventsCalls        Calls[*eventbridge.PutEventsInput, *eventbridge.PutEventsOutput]
	DescribeArchiveCalls  Calls[*eventbridge.DescribeArchiveInput, *eventbridge.DescribeArchiveOutput]
	DescribeEventBusCalls Calls[*eventbridge.DescribeEventBusInput, *eventbridge.DescribeEventBusOutput]
	StartReplayCalls      Calls[*eventbridge.StartReplayInput, *eventbridge.StartReplayOutput]
	DescribeReplayCalls   Calls[*eventbridge.DescribeReplayInput, *eventbridge.DescribeReplayOutput]

	mu     sync.Mutex
	events []ebtypes.PutEventsRequestEntry
}

// Events returns the entries PutEvents took, in order.
func (f *EventBridge) Events() []ebtypes.PutEventsRequestEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ebtypes.PutEventsRequestEntry(nil), f.events...)
}

func (f *EventBridge) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	return f.PutEventsCalls.invoke(ctx, f.Log, write("PutEvents"), in, func(_ context.Context, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		out := &eventbridge.PutEventsOutput{}
		for _, e := range in.Entries {
			f.events = append(f.events, e)
			out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{EventId: aws.String(fmt.Sprintf("fake-event-%d", len(f.events)))})
		}
		return out, nil
	})
}

func (f *EventBridge) DescribeArchive(ctx context.Context, in *eventbridge.DescribeArchiveInput, _ ...func(*eventbridge.Options)) (*eventbridge.DescribeArchiveOutput, error) {
	return f.DescribeArchiveCalls.invoke(ctx, f.Log, read("DescribeArchive"), in, noDefault[*eventbridge.DescribeArchiveInput, *eventbridge.DescribeArchiveOutput]("EventBridge", "DescribeArchive"))
}

func (f *EventBridge) DescribeEventBus(ctx context.Context, in *eventbridge.DescribeEventBusInput, _ ...func(*eventbridge.Options)) (*eventbridge.DescribeEventBusOutput, error) {
	return f.DescribeEventBusCalls.invoke(ctx, f.Log, read("DescribeEventBus"), in, noDefault[*eventbridge.DescribeEventBusInput, *eventbridge.DescribeEventBusOutput]("EventBridge", "DescribeEventBus"))
}

func (f *EventBridge) StartReplay(ctx context.Context, in *eventbridge.StartReplayInput, _ ...func(*eventbridge.Options)) (*eventbridge.StartReplayOutput, error) {
	return f.StartReplayCalls.invoke(ctx, f.Log, write("StartReplay"), in, noDefault[*eventbridge.StartReplayInput, *eventbridge.StartReplayOutput]("EventBridge", "StartReplay"))
}

func (f *EventBridge) DescribeReplay(ctx context.Context, in *eventbridge.DescribeReplayInput, _ ...func(*eventbridge.Options)) (*eventbridge.DescribeReplayOutput, error) {
	return f.DescribeReplayCalls.invoke(ctx, f.Log, read("DescribeReplay"), in, noDefault[*eventbridge.DescribeReplayInput, *eventbridge.DescribeReplayOutput]("EventBridge", "DescribeReplay"))
}
