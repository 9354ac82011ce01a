package localworld

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/trend"
)

// Harness is what a run needs once: moto, the recorder in front of it, the emulator, the
// handler binaries and the Cloud One and Vision One stand-ins. Envs (one per test, demo or
// benchmark round) are set up on top of it with Setup.
type Harness struct {
	Root     string // the module root
	Moto     *Moto
	Recorder *Recorder
	Faults   *proxy.Proxy // between the recorder and moto: latency, throttling, errors, stack states on demand
	RIE      string
	Binaries map[string]string
	Operator string // the operator command (cmd/onboarder), for Env.RunOperator
	CloudOne *trend.Server
	// VisionOne is the Vision One stand-in: it knows no key until VisionOne.AddKey, keeps its
	// templates in moto's S3, and hears of every stack the fault proxy's CloudFormation layer
	// completes (its stack hook), as Trend hears of the stacks of its templates. Call
	// VisionOne.Reset with moto's reset.
	VisionOne *trend.VisionOne
	Logs      *Log // every line moto and every Lambda started with Options writes
	dir       string
	v1Store   *trend.MotoStore // where the Vision One stand-in keeps its templates
}

// StartHarness starts moto, the fault proxy (with no rules: transparent) and the recorder, builds the emulator (once per machine) and the
// handlers (once per harness), and starts the Cloud One stand-in knowing keys. Stop it when
// done; on error, whatever was started is stopped.
func StartHarness(ctx context.Context, keys []trend.Key, tees ...io.Writer) (h *Harness, err error) {
	return StartHarnessWith(ctx, MotoOptions{}, keys, tees...)
}

// StartHarnessWith is StartHarness with moto run as the options say.
func StartHarnessWith(ctx context.Context, mo MotoOptions, keys []trend.Key, tees ...io.Writer) (h *Harness, err error) {
	hs, err := startHarnesses(ctx, 1, mo, keys, tees...)
	if err != nil {
		return nil, err
	}
	return hs[0], nil
}

// StartHarnesses starts n harnesses that share one build of the emulator, the handlers and
// the operator, each with its own moto, fault proxy, recorder and Cloud One stand-in (knowing
// keys), so that n tests can each have a whole local AWS at the same time. Stop every one;
// the first owns the binaries and removes them: stop it last. On error, whatever was started
// is stopped.
func StartHarnesses(ctx context.Context, n int, keys []trend.Key, tees ...io.Writer) ([]*Harness, error) {
	return startHarnesses(ctx, n, MotoOptions{}, keys, tees...)
}

func startHarnesses(ctx context.Context, n int, mo MotoOptions, keys []trend.Key, tees ...io.Writer) (hs []*Harness, err error) {
	if n < 1 {
		return nil, errors.New("start harnesses: n < 1")
	}
	hs = make([]*Harness, n)
	for i := range hs {
		hs[i] = &Harness{Logs: NewLog(tees...)}
	}
	defer func() {
		if err != nil {
			for i := len(hs) - 1; i >= 0; i-- {
				hs[i].Stop()
			}
			hs = nil
		}
	}()
	first := hs[0]
	if first.Root, err = ModuleRoot(); err != nil {
		return hs, err
	}
	// The builds and the servers at once: moto takes seconds to start, the builds too.
	built := make(chan error, 1)
	go func() { built <- first.build(ctx) }()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, h := range hs {
		wg.Go(func() { errs[i] = h.startServers(ctx, mo, keys) })
	}
	wg.Wait()
	if err = errors.Join(append(errs, <-built)...); err != nil {
		return hs, err
	}
	for _, h := range hs[1:] {
		h.Root, h.RIE, h.Binaries, h.Operator = first.Root, first.RIE, first.Binaries, first.Operator
	}
	return hs, nil
}

// build builds the emulator (once per machine), the handlers and the operator into a
// directory of the harness.
func (h *Harness) build(ctx context.Context) (err error) {
	if h.RIE, err = EnsureRIE(ctx); err != nil {
		return err
	}
	if h.dir, err = os.MkdirTemp("", "onboarder-lambdas-"); err != nil {
		return err
	}
	operr := make(chan error, 1)
	go func() {
		var err error
		h.Operator, err = BuildOperator(ctx, h.Root, h.dir)
		operr <- err
	}()
	h.Binaries, err = BuildHandlers(ctx, h.Root, h.dir)
	return errors.Join(err, <-operr)
}

// startServers starts moto, the fault proxy (with no rules: transparent), the recorder in
// front of it and the Cloud One and Vision One stand-ins.
func (h *Harness) startServers(ctx context.Context, mo MotoOptions, keys []trend.Key) (err error) {
	if h.Moto, err = StartMotoWith(ctx, mo, h.Logs); err != nil {
		return err
	}
	if h.Faults, err = proxy.Start(h.Moto.URL, proxy.WithSeed(1)); err != nil {
		return err
	}
	if h.Recorder, err = StartRecorder(h.Faults.URL); err != nil {
		return err
	}
	h.CloudOne = trend.New(keys...)
	h.v1Store = trend.NewMotoStore(h.Moto.URL)
	h.VisionOne = trend.NewVisionOne(trend.VisionOneOptions{Store: h.v1Store})
	h.Faults.SetStackHook(h.VisionOne.StackHook)
	return nil
}

// Options returns Env options wired to this harness.
func (h *Harness) Options(region string, secret SecretValue) Options {
	return Options{
		Region:      region,
		Secret:      secret,
		CloudOneURL: h.CloudOne.URL,
		RIE:         h.RIE,
		Binaries:    h.Binaries,
		RulesFile:   filepath.Join(h.Root, "deploy", "template.yaml"),
		Tees:        []io.Writer{h.Logs},
		Faults:      h.Faults,
	}
}

// VisionOneTarget is Options.VisionOne for this harness's Vision One stand-in, with the
// accounts' stacks in stackRegion ("": the Env's region): the stand-in's API, the bucket it keeps
// its templates in and its OIDC provider without the scheme, as an operator reads them from a
// template Vision One generated (docs/DEPLOY.md).
func (h *Harness) VisionOneTarget(stackRegion string) *VisionOne {
	_, provider, _ := strings.Cut(h.VisionOne.OIDCProviderURL(), "://")
	return &VisionOne{APIURL: h.VisionOne.URL, StackRegion: stackRegion, TemplateBucket: h.v1Store.Bucket, OIDCProvider: provider}
}

// Stop stops everything the harness started and removes the binaries.
func (h *Harness) Stop() {
	if h == nil {
		return
	}
	if h.CloudOne != nil {
		h.CloudOne.Close()
	}
	if h.VisionOne != nil {
		h.VisionOne.Close()
	}
	h.Recorder.Stop()
	if h.Faults != nil {
		_ = h.Faults.Close()
	}
	h.Moto.Stop()
	if h.dir != "" {
		_ = os.RemoveAll(h.dir)
	}
}
