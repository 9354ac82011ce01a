package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// machine is the report's machine line: CPU model, cores, memory, Go version, OS.
func machine() string {
	cpu := cpuModel()
	mem := "unknown memory"
	if kb := procField("/proc/meminfo", "MemTotal"); kb != "" {
		if n, err := strconv.ParseFloat(strings.Fields(kb)[0], 64); err == nil {
			mem = fmt.Sprintf("%.1f GiB RAM", n/1024/1024)
		}
	}
	osName := runtime.GOOS
	if v := procField("/etc/os-release", "PRETTY_NAME"); v != "" {
		osName = strings.Trim(v, `"`)
	}
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		osName += ", kernel " + strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("%s, %d cores (%s), %s, %s, %s", cpu, runtime.NumCPU(), runtime.GOARCH, mem, runtime.Version(), osName)
}

func cpuModel() string {
	for _, k := range []string{"model name", "Model", "Hardware"} {
		if v := procField("/proc/cpuinfo", k); v != "" {
			return v
		}
	}
	if out, err := exec.Command("lscpu").Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "Model name:") {
				return strings.TrimSpace(strings.TrimPrefix(l, "Model name:"))
			}
		}
	}
	return "unknown CPU"
}

// procField returns the value of the first "key: value" or "key=value" line of a file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		for _, sep := range []string{":", "="} {
			if k, v, ok := strings.Cut(l, sep); ok && strings.TrimSpace(k) == key {
				return strings.TrimSpace(v)
			}
		}
	}
	return ""
}
