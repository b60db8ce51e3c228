package backend

import (
	"context"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestTrainingMemoryIsFlat: 5,000 steps of steady-state training (full and
// partial batches alternating, Adam) do not grow the heap. The live heap
// after step 500 and after step 5,000 must agree within 1 MiB; the process
// RSS is logged for the record.
func TestTrainingMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 steps")
	}
	arch := Arch{
		{Kind: Linear, In: 64, Out: 128, Bias: true},
		{Kind: Activation, Activation: ReLU},
		{Kind: Linear, In: 128, Out: 10, Bias: true},
	}
	tr, err := NewTrainer(mustInit(t, arch, 1), Optimizer{Name: Adam, LR: 1e-3}, 32)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	x := randF32(rng, 32*64)
	y := randLabels(rng, 32, 10)
	ctx := context.Background()
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var base uint64
	var rss0 int
	for step := 1; step <= 5000; step++ {
		n := 32
		if step%3 == 0 {
			n = 7 // a partial batch: the second graph
		}
		if _, err := tr.Step(ctx, x[:n*64], y[:n]); err != nil {
			t.Fatal(err)
		}
		if step == 500 {
			base, rss0 = heap(), rssKiB()
		}
	}
	end := heap()
	t.Logf("heap %d -> %d bytes, RSS %d -> %d KiB over steps 500..5000", base, end, rss0, rssKiB())
	if end > base+1<<20 {
		t.Errorf("the heap grew by %d bytes over 4,500 steps", end-base)
	}
}

// rssKiB returns the resident set size of the process (Linux), or 0.
func rssKiB() int {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return n
		}
	}
	return 0
}
