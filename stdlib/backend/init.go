package backend

import (
	"math"
	"math/rand/v2"
)

// Init returns a model with architecture arch (copied) and fresh tensors,
// initialised as PyTorch's modules do by default:
//
//   - Linear and Conv2d: every weight and bias of a layer with fan-in F
//     (In for Linear, In·Kernel·Kernel for Conv2d) is drawn from
//     U(-1/sqrt(F), 1/sqrt(F)) (PyTorch's kaiming_uniform_ with a = sqrt(5)
//     for the weight, and its bias rule);
//   - BatchNorm2d: weight 1, bias 0, running_mean 0, running_var 1,
//     num_batches_tracked 0.
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
		data := make([]float32, numel(s.shape))
		switch s.init {
		case initUniform:
			bound := 1 / math.Sqrt(float64(s.fanIn))
			for i := range data {
				data[i] = float32(bound * (2*rng.Float64() - 1))
			}
		case initOnes:
			for i := range data {
				data[i] = 1
			}
		}
		m.Params = append(m.Params, Tensor{Name: s.name, Shape: s.shape, Data: data})
	}
	return m, nil
}
