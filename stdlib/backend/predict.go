package backend

import (
	"context"
	"fmt"
)

// Predict returns m's outputs (the logits) for the n rows of x, n ×
// Arch.OutputWidth() values row-major, computed batch rows at a time (the
// last batch may be smaller). The model runs in eval mode, as a PyTorch
// module after model.eval(): batch norms use their running statistics, so
// each row's output does not depend on the other rows. It compiles its
// graphs on each call and releases them before returning; ctx is checked
// before every batch.
func Predict(ctx context.Context, m *Model, x []float32, n int, batch int) (out []float32, err error) {
	defer recoverAPI("predict", &err)
	if err := m.Validate(); err != nil {
		return nil, err
	}
	in, width := m.Arch.InputWidth(), m.Arch.OutputWidth()
	if n < 0 {
		return nil, fmt.Errorf("backend: predict: %d rows", n)
	}
	if batch < 1 || batch > maxBatch {
		return nil, fmt.Errorf("backend: predict: batch size %d out of range [1, %d]", batch, maxBatch)
	}
	if len(x) != n*in {
		return nil, fmt.Errorf("backend: predict: %d inputs for %d rows of %d", len(x), n, in)
	}
	out = make([]float32, n*width)
	batch = min(batch, n)
	var full, tail *network
	defer func() {
		full.close()
		tail.close()
	}()
	for start := 0; start < n; start += batch {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("backend: predict: %w", err)
		}
		rows := min(batch, n-start)
		net := &full
		if rows < batch {
			net = &tail
		}
		if *net == nil {
			if *net, err = buildNetwork(m, rows, netSpec{}); err != nil {
				return nil, err
			}
		}
		copy((*net).x, x[start*in:(start+rows)*in])
		if err := (*net).run(); err != nil {
			return nil, fmt.Errorf("backend: predict: %w", err)
		}
		y, err := (*net).output()
		if err != nil {
			return nil, err
		}
		copy(out[start*width:(start+rows)*width], y)
	}
	return out, nil
}
