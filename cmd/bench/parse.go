package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// parseRow is one Go benchmark of internal/event.
type parseRow struct {
	Name        string
	NsPerOp     float64
	BytesPerOp  int64
	AllocsPerOp int64
}

// measureParse runs the event parsers' benchmarks and reads their lines.
func measureParse(ctx context.Context, root, benchtime string) ([]parseRow, error) {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", benchtime, "./internal/event/")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go test -bench ./internal/event/: %w\n%s", err, out)
	}
	rows := parseBenchOutput(out)
	if len(rows) == 0 {
		return nil, fmt.Errorf("no benchmark lines in:\n%s", out)
	}
	return rows, nil
}

// parseBenchOutput reads "BenchmarkX-2  N  123 ns/op  456 B/op  7 allocs/op" lines.
func parseBenchOutput(out []byte) []parseRow {
	var rows []parseRow
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		r := parseRow{Name: strings.TrimPrefix(f[0], "Benchmark")}
		if i := strings.LastIndex(r.Name, "-"); i > 0 {
			if _, err := strconv.Atoi(r.Name[i+1:]); err == nil {
				r.Name = r.Name[:i]
			}
		}
		for i := 2; i+1 < len(f); i += 2 {
			switch f[i+1] {
			case "ns/op":
				r.NsPerOp, _ = strconv.ParseFloat(f[i], 64)
			case "B/op":
				r.BytesPerOp, _ = strconv.ParseInt(f[i], 10, 64)
			case "allocs/op":
				r.AllocsPerOp, _ = strconv.ParseInt(f[i], 10, 64)
			}
		}
		rows = append(rows, r)
	}
	return rows
}
