package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

// EventBridgeAPI is the part of the EventBridge client replay uses.
type EventBridgeAPI interface {
	DescribeArchive(ctx context.Context, in *eventbridge.DescribeArchiveInput, optFns ...func(*eventbridge.Options)) (*eventbridge.DescribeArchiveOutput, error)
	DescribeEventBus(ctx context.Context, in *eventbridge.DescribeEventBusInput, optFns ...func(*eventbridge.Options)) (*eventbridge.DescribeEventBusOutput, error)
	StartReplay(ctx context.Context, in *eventbridge.StartReplayInput, optFns ...func(*eventbridge.Options)) (*eventbridge.StartReplayOutput, error)
	DescribeReplay(ctx context.Context, in *eventbridge.DescribeReplayInput, optFns ...func(*eventbridge.Options)) (*eventbridge.DescribeReplayOutput, error)
}

type replayOpts struct {
	archive, from, to, bus, name string
	wait                         bool
	poll                         time.Duration
}

func (a *app) replayCmd() *cobra.Command {
	var o replayOpts
	cmd := &cobra.Command{
		Use:   "replay --archive NAME --from T --to T [--bus NAME] [--wait]",
		Short: "Replay archived events through the onboarder's bus",
		Long: `replay starts an EventBridge replay of the archive's events between --from and --to (RFC3339
times, e.g. 2025-01-31T08:00:00Z) onto the archive's own bus, or --bus (a name or an ARN).
Replayed events carry replay-name; the intake Lambdas treat them like the originals, and
every step of the product is idempotent.
With --wait it follows the replay until COMPLETED, FAILED or CANCELLED, showing how far it
got (the last replayed event's time between --from and --to).

Exit codes: 0 started (with --wait: completed), 1 the replay failed or was cancelled, or a
call failed, 2 usage error.`,
		Example: "  onboarder replay --archive cloudone-onboarder-own --from 2025-01-31T00:00:00Z --to 2025-02-01T00:00:00Z --wait",
		Args:    cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			from, to, err := o.times()
			if err != nil {
				return err
			}
			if o.poll <= 0 {
				return usageErrorf("--poll %s: must be positive", o.poll)
			}
			awsCfg, err := a.aws(cmd.Context())
			if err != nil {
				return err
			}
			return a.replay(cmd.Context(), a.newClients(awsCfg).EventBridge, o, from, to)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.archive, "archive", "", "name of the EventBridge archive (required)")
	f.StringVar(&o.from, "from", "", "replay events from this time, RFC3339 (required)")
	f.StringVar(&o.to, "to", "", "replay events up to this time, RFC3339 (required)")
	f.StringVar(&o.bus, "bus", "", "destination bus name or ARN (default: the archive's bus)")
	f.StringVar(&o.name, "name", "", "replay name (default: onboarder-<time>-<random>)")
	f.BoolVar(&o.wait, "wait", false, "follow the replay to its end")
	f.DurationVar(&o.poll, "poll", 5*time.Second, "with --wait, how often to ask for the replay's state")
	for _, req := range []string{"archive", "from", "to"} {
		_ = cmd.MarkFlagRequired(req)
	}
	return cmd
}

func (o replayOpts) times() (from, to time.Time, err error) {
	if from, err = time.Parse(time.RFC3339, o.from); err != nil {
		return from, to, usageErrorf("--from %q: not an RFC3339 time such as 2025-01-31T08:00:00Z", o.from)
	}
	if to, err = time.Parse(time.RFC3339, o.to); err != nil {
		return from, to, usageErrorf("--to %q: not an RFC3339 time such as 2025-01-31T08:00:00Z", o.to)
	}
	if !from.Before(to) {
		return from, to, usageErrorf("--from %s must be before --to %s", o.from, o.to)
	}
	return from, to, nil
}

func (a *app) replay(ctx context.Context, eb EventBridgeAPI, o replayOpts, from, to time.Time) error {
	arc, err := eb.DescribeArchive(ctx, &eventbridge.DescribeArchiveInput{ArchiveName: aws.String(o.archive)})
	if err != nil {
		return fmt.Errorf("describe archive %s: %w", o.archive, err)
	}
	dest := aws.ToString(arc.EventSourceArn)
	if o.bus != "" {
		dest = o.bus
		if !strings.HasPrefix(o.bus, "arn:") {
			bus, err := eb.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: aws.String(o.bus)})
			if err != nil {
				return fmt.Errorf("describe event bus %s: %w", o.bus, err)
			}
			dest = aws.ToString(bus.Arn)
		}
	}
	name := o.name
	if name == "" {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		name = "onboarder-" + time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
	}
	out, err := eb.StartReplay(ctx, &eventbridge.StartReplayInput{
		ReplayName:     aws.String(name),
		EventSourceArn: arc.ArchiveArn,
		EventStartTime: aws.Time(from),
		EventEndTime:   aws.Time(to),
		Destination:    &ebtypes.ReplayDestination{Arn: aws.String(dest)},
		Description:    aws.String("onboarder replay"),
	})
	if err != nil {
		return fmt.Errorf("start replay %s of archive %s onto %s: %w", name, o.archive, dest, err)
	}
	fmt.Fprintf(a.stdout, "replay %s started: archive %s (%s), events %s to %s, onto %s: %s\n",
		name, o.archive, aws.ToString(arc.ArchiveArn), from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), dest, out.State)
	if !o.wait {
		return nil
	}
	return a.waitReplay(ctx, eb, name, from, to, o.poll)
}

// waitReplay polls the replay until it ends, showing how far it got.
func (a *app) waitReplay(ctx context.Context, eb EventBridgeAPI, name string, from, to time.Time, poll time.Duration) error {
	var bar *progressbar.ProgressBar
	if a.isTerminal(a.stderr) {
		bar = progressbar.NewOptions(100, progressbar.OptionSetWriter(a.stderr), progressbar.OptionSetDescription("replay "+name),
			progressbar.OptionClearOnFinish())
	}
	last := ""
	for {
		d, err := eb.DescribeReplay(ctx, &eventbridge.DescribeReplayInput{ReplayName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("describe replay %s: %w", name, err)
		}
		pct := replayPercent(d, from, to)
		line := fmt.Sprintf("replay %s: %s, %d%%", name, d.State, pct)
		if t := d.EventLastReplayedTime; t != nil {
			line += ", last replayed event at " + t.UTC().Format(time.RFC3339)
		}
		if bar != nil {
			_ = bar.Set(pct)
		} else if line != last {
			fmt.Fprintln(a.stderr, line)
		}
		last = line
		switch d.State {
		case ebtypes.ReplayStateCompleted:
			if bar != nil {
				_ = bar.Finish()
			}
			end := ""
			if d.ReplayEndTime != nil {
				end = " at " + d.ReplayEndTime.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(a.stdout, "replay %s COMPLETED%s\n", name, end)
			return nil
		case ebtypes.ReplayStateFailed, ebtypes.ReplayStateCancelled:
			if bar != nil {
				_ = bar.Exit()
			}
			return fmt.Errorf("replay %s ended %s: %s", name, d.State, aws.ToString(d.StateReason))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped following replay %s (it goes on): %w", name, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// replayPercent is how far the replay got: the last replayed event's time between the
// window's start and end (100 once completed).
func replayPercent(d *eventbridge.DescribeReplayOutput, from, to time.Time) int {
	if d.State == ebtypes.ReplayStateCompleted {
		return 100
	}
	if d.EventStartTime != nil {
		from = *d.EventStartTime
	}
	if d.EventEndTime != nil {
		to = *d.EventEndTime
	}
	if d.EventLastReplayedTime == nil || !to.After(from) {
		return 0
	}
	p := int(100 * d.EventLastReplayedTime.Sub(from) / to.Sub(from))
	return min(max(p, 0), 100)
}
