package main

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// targets are what is built and measured: the four handlers and the floor.
var targets = []struct{ Name, Pkg string }{
	{"accountvending", "./handlers/accountvending"},
	{"trailguard", "./handlers/trailguard"},
	{"sweep", "./handlers/sweep"},
	{"reconcile", "./handlers/reconcile"},
	{floorName, "./cmd/bench/floor"},
}

const floorName = "floor (empty handler)"

// lambdaFlags are the flags of make build: the same for the handlers and the floor.
var lambdaFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-gcflags=all=-l", "-ldflags=-s -w"}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run bench inside the module")
	}
	return filepath.Dir(mod), nil
}

// buildAll builds every target with the Lambda flags for goarch (linux, CGO off) into dir
// and returns the paths by target name. Two builds at a time: the machine is small.
func buildAll(ctx context.Context, root, dir, goarch string) (map[string]string, error) {
	paths := map[string]string{}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for _, t := range targets {
		out := filepath.Join(dir, strings.Fields(t.Name)[0], "bootstrap")
		paths[t.Name] = out
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			args := append([]string{"build"}, lambdaFlags...)
			cmd := exec.CommandContext(ctx, "go", append(args, "-o", out, t.Pkg)...)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
			if b, err := cmd.CombinedOutput(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("build %s for %s: %w\n%s", t.Pkg, goarch, err, b))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return paths, errors.Join(errs...)
}

// sizeRow is one bootstrap and its zip.
type sizeRow struct {
	Name      string
	Bootstrap int64
	Zip       int64
}

// zipLimit is the goal: each zip at most 4 MB (decimal megabytes, the stricter reading).
const zipLimit = 4_000_000

// measureSize builds for linux/arm64 (provided.al2023 on Graviton) and zips each bootstrap as
// make package does: the zip command's -9 on one file named bootstrap, the artifact that is
// deployed (Go's compress/flate at its best level makes zips about 2.5% larger: without the
// zip command the figure is that upper bound, and the page says so).
func measureSize(ctx context.Context, root string) ([]sizeRow, error) {
	dir, err := os.MkdirTemp("", "bench-arm64-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	paths, err := buildAll(ctx, root, dir, "arm64")
	if err != nil {
		return nil, err
	}
	var rows []sizeRow
	for _, t := range targets {
		b, err := os.ReadFile(paths[t.Name])
		if err != nil {
			return nil, err
		}
		z, err := zipped(ctx, paths[t.Name], b)
		if err != nil {
			return nil, err
		}
		rows = append(rows, sizeRow{Name: t.Name, Bootstrap: int64(len(b)), Zip: int64(z)})
	}
	return rows, nil
}

func zipped(ctx context.Context, path string, b []byte) (int, error) {
	if _, err := exec.LookPath("zip"); err == nil {
		dir, err := os.MkdirTemp("", "bench-zip-")
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(dir)
		if err := os.WriteFile(filepath.Join(dir, "bootstrap"), b, 0o755); err != nil {
			return 0, err
		}
		cmd := exec.CommandContext(ctx, "zip", "-q", "-X", "-9", "f.zip", "bootstrap") // the Makefile's package target
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("zip %s: %v: %s", path, err, out)
		}
		st, err := os.Stat(filepath.Join(dir, "f.zip"))
		if err != nil {
			return 0, err
		}
		zipTool = "zip -9"
		return int(st.Size()), nil
	}
	zipTool = "Go's compress/flate at BestCompression (no zip command here: an upper bound of what zip -9 makes)"
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestCompression) })
	fh := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	fh.SetMode(0o755)
	w, err := zw.CreateHeader(fh)
	if err != nil {
		return 0, err
	}
	if _, err := w.Write(b); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return buf.Len(), nil
}

// zipTool names what made the zips of section 3.
var zipTool = "zip -9"
