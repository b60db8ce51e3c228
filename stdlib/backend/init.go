package backend

import (
	"math"
	"math/rand/v2"
)

// Init returns a model with architecture arch (copied) and freshly drawn
// weights, initialised as PyTorch's nn.Linear does by default: every weight
// and bias of a layer with In inputs is drawn from U(-1/sqrt(In), 1/sqrt(In)).
//
// The draws come from a PCG generator seeded with seed and are taken layer by
// layer, weight (row-major) before bias, so the same arch and seed give
// bit-identical weights on every platform and Go version (math/rand/v2's PCG
// is specified). They do not reproduce PyTorch's random stream.
func Init(arch Arch, seed int64) (*Model, error) {
	if err := arch.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6d6c70697065)) // second word: "mlpipe"
	m := &Model{Arch: append(Arch(nil), arch...)}
	for _, s := range arch.params() {
		bound := 1 / math.Sqrt(float64(arch[s.layer].In))
		data := make([]float32, numel(s.shape))
		for i := range data {
			data[i] = float32(bound * (2*rng.Float64() - 1))
		}
		m.Params = append(m.Params, Tensor{Name: s.name, Shape: s.shape, Data: data})
	}
	return m, nil
}
