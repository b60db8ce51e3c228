package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Machine describes the computer the benchmark ran on.
type Machine struct {
	CPU      string // model name, such as "AMD EPYC"
	Detail   string // family, model, stepping; hypervisor
	Cores    int    // runtime.NumCPU()
	OS       string // PRETTY_NAME of /etc/os-release, or GOOS
	CoreType string // OPENBLAS_CORETYPE as found (never set by mlpipe), or ""
	// Speedup is ParallelSpeedup of SpeedupThreads goroutines, if measured.
	Speedup        float64
	SpeedupThreads int
}

// String describes m in one line.
func (m Machine) String() string {
	s := m.CPU
	if m.Detail != "" {
		s += " (" + m.Detail + ")"
	}
	s += fmt.Sprintf(", %d cores, %s", m.Cores, m.OS)
	if m.CoreType != "" {
		s += "; OPENBLAS_CORETYPE=" + m.CoreType + " (set by the caller)"
	} else {
		s += "; OPENBLAS_CORETYPE unset"
	}
	if m.SpeedupThreads > 1 {
		s += fmt.Sprintf("; %d busy threads compute %.2fx as fast as one (sustained, %s each)", m.SpeedupThreads, m.Speedup, speedupProbe)
	}
	return s
}

// DescribeMachine reads the CPU model from lscpu, or /proc/cpuinfo if
// lscpu is missing, the core count from the Go runtime and the system
// from /etc/os-release.
func DescribeMachine(ctx context.Context) Machine {
	m := Machine{CPU: "unknown CPU", Cores: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, CoreType: os.Getenv("OPENBLAS_CORETYPE")}
	fields := map[string]string{}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "lscpu").Output(); err == nil {
		parseColonFields(out, fields, false)
	} else if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		parseColonFields(data, fields, true)
	}
	if v := first(fields, "Model name", "model name"); v != "" {
		m.CPU = v
	}
	var detail []string
	if v := first(fields, "CPU family", "cpu family"); v != "" {
		detail = append(detail, "family "+v)
	}
	if v := first(fields, "Model", "model"); v != "" {
		detail = append(detail, "model "+v)
	}
	if v := first(fields, "Stepping", "stepping"); v != "" {
		detail = append(detail, "stepping "+v)
	}
	if v := fields["Hypervisor vendor"]; v != "" {
		detail = append(detail, v+" guest")
	}
	m.Detail = strings.Join(detail, ", ")
	if data, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(v, `"`)
			}
		}
	}
	return m
}

// parseColonFields reads "key: value" lines into fields; with firstOnly,
// a key keeps its first value (/proc/cpuinfo repeats them per CPU).
func parseColonFields(data []byte, fields map[string]string, firstOnly bool) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if _, seen := fields[k]; seen && firstOnly {
			continue
		}
		fields[k] = v
	}
}

// first returns the first non-empty field among keys.
func first(fields map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := fields[k]; v != "" {
			return v
		}
	}
	return ""
}

// speedupProbe is how long ParallelSpeedup runs each of its two phases in
// a benchmark: long enough to spend a virtual machine's burst allowance.
const speedupProbe = 3 * time.Second

// ParallelSpeedup measures how much faster n busy goroutines get through
// floating-point work than one, each for d: n on a machine whose n cores
// can all compute at once, about 1 on one that is throttled to a single
// core's worth (as some virtual machines are once a short burst is spent).
// It needs GOMAXPROCS >= n to mean anything.
func ParallelSpeedup(ctx context.Context, n int, d time.Duration) float64 {
	one := spinRate(ctx, 1, d)
	if one == 0 {
		return 0
	}
	return spinRate(ctx, n, d) / one
}

// spinSink keeps the spin loops' results alive.
var spinSink atomic.Uint64

// spinRate runs n goroutines of floating-point work for d and returns the
// work units done per second.
func spinRate(ctx context.Context, n int, d time.Duration) float64 {
	var total atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x, units := 1.0+float64(g), int64(0)
			for time.Since(start) < d && ctx.Err() == nil {
				for i := 0; i < 100_000; i++ {
					x = x*0.9999999 + 1e-7
				}
				units++
			}
			total.Add(units)
			spinSink.Add(math.Float64bits(x))
		}()
	}
	wg.Wait()
	return float64(total.Load()) / time.Since(start).Seconds()
}
