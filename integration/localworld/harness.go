package localworld

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"

	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/proxy"
	"github.com/cloudone-onboarder/cloudone-onboarder/integration/localworld/trend"
)

// Harness is what a run needs once: moto, the recorder in front of it, the emulator, the
// handler binaries and the Cloud One stand-in. Envs (one per test, demo or benchmark round)
// are set up on top of it with Setup.
type Harness struct {
	Root     string // the module root
	Moto     *Moto
	Recorder *Recorder
	Faults   *proxy.Proxy // between the recorder and moto: latency, throttling, errors, stack states on demand
	RIE      string
	Binaries map[string]string
	Operator string // the operator command (cmd/onboarder), for Env.RunOperator
	CloudOne *trend.Server
	Logs     *Log // every line moto and every Lambda started with Options writes
	dir      string
}

// StartHarness starts moto, the fault proxy (with no rules: transparent) and the recorder, builds the emulator (once per machine) and the
// handlers (once per harness), and starts the Cloud One stand-in knowing keys. Stop it when
// done; on error, whatever was started is stopped.
func StartHarness(ctx context.Context, keys []trend.Key, tees ...io.Writer) (h *Harness, err error) {
	return StartHarnessWith(ctx, MotoOptions{}, keys, tees...)
}

// StartHarnessWith is StartHarness with moto run as the options say.
func StartHarnessWith(ctx context.Context, mo MotoOptions, keys []trend.Key, tees ...io.Writer) (h *Harness, err error) {
	h = &Harness{Logs: NewLog(tees...)}
	defer func() {
		if err != nil {
			h.Stop()
			h = nil
		}
	}()
	if h.Root, err = ModuleRoot(); err != nil {
		return h, err
	}
	if h.Moto, err = StartMotoWith(ctx, mo, h.Logs); err != nil {
		return h, err
	}
	if h.Faults, err = proxy.Start(h.Moto.URL, proxy.WithSeed(1)); err != nil {
		return h, err
	}
	if h.Recorder, err = StartRecorder(h.Faults.URL); err != nil {
		return h, err
	}
	if h.RIE, err = EnsureRIE(ctx); err != nil {
		return h, err
	}
	if h.dir, err = os.MkdirTemp("", "onboarder-lambdas-"); err != nil {
		return h, err
	}
	operr := make(chan error, 1)
	go func() {
		var err error
		h.Operator, err = BuildOperator(ctx, h.Root, h.dir)
		operr <- err
	}()
	h.Binaries, err = BuildHandlers(ctx, h.Root, h.dir)
	if err = errors.Join(err, <-operr); err != nil {
		return h, err
	}
	h.CloudOne = trend.New(keys...)
	return h, nil
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

// Stop stops everything the harness started and removes the binaries.
func (h *Harness) Stop() {
	if h == nil {
		return
	}
	if h.CloudOne != nil {
		h.CloudOne.Close()
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
