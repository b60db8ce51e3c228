package certify

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/mlpipe/mlpipe/stdlib/backend"
)

// DefaultIterations is the number of power iterations per weight that
// NewLipschitzRegularizer sets in LipschitzRegularizer.Iterations.
const DefaultIterations = 2

// LipschitzRegularizer is a backend.Regularizer that penalises a product
// bound on the l2 Lipschitz constant of a model's logits, for
// Lipschitz-regularised training (backend.Trainer.SetRegularizer):
//
//	R = λ·C·∏_l s_l,
//
// where the product runs over the layers with trained weights and C is the
// product of the (constant) factors Bound gives the other layers (1 for
// ReLU, Tanh, Identity and Flatten, 1/4 for Sigmoid, √(m_h·m_w) for a max
// pool, 1/√(H·W) for a global average pool). The weighted layers' factors
// are
//
//   - Linear: s = σ(W), the spectral norm of the weight;
//   - Conv2d: s = σ(W)·√(m_h·m_w), the reshaped-weight bound of Bound
//     (W the Out × (In·Kernel·Kernel) reshaped weight), which is
//     differentiable and cheap, unlike the Fourier bound;
//   - BatchNorm1d and BatchNorm2d: s = max_c |γ_c|/√(running_var_c + ε),
//     the eval-mode scale, with the running variances (buffers, not
//     trained) read from the model at each call and taken as constants.
//
// So for a model without convolutions R/λ is, once the power iterations
// have converged, Bound's bound, and with convolutions an upper bound on
// it. The gradient added to each weight W_l is
//
//	∂R/∂W_l = λ·C·(∏_{k≠l} s_k)·∂s_l/∂W_l,   ∂σ/∂W = u·vᵀ,
//
// with u, v the singular vectors of σ (see SpectralNorm), and for a batch
// norm ∂s/∂γ_c = sign(γ_c)/√(running_var_c + ε) at the channel c of the
// largest scale (a subgradient on ties). Biases get no gradient.
//
// Each σ is estimated by power iteration, warm-started from the previous
// call's vectors (the first call starts from a random vector drawn from a
// generator seeded with the layer's index, so runs are reproducible):
// each call runs Iterations steps v ← Wᵀu/‖Wᵀu‖, u ← Wv/‖Wv‖ and takes
// σ ≈ ‖Wv‖ = uᵀWv, whose gradient in W for the fixed v is exactly u·vᵀ.
// The estimate never exceeds σ and converges to it as the weights change
// slowly during training; a step costs 2·Iterations products of each
// weight with a vector, and allocates nothing after the first call.
//
// A LipschitzRegularizer is for one model and is not safe for concurrent
// use.
type LipschitzRegularizer struct {
	// Iterations is the number of power iterations per weight per call,
	// at least 1.
	Iterations int

	lambda   float64
	constant float64    // product of the parameter-free layers' factors
	trained  []string   // the names of the trained tensors, in Regularize's order
	layers   []regLayer // the weighted layers, in order
	before   []float64  // scratch: the product of the factors before each layer
	calls    int
}

// regLayer is the state of one weighted layer of a LipschitzRegularizer.
type regLayer struct {
	layer      int
	kind       backend.LayerKind
	index      int // of its weight among the trained tensors
	rows, cols int // of the (reshaped) weight; cols = 1 for a batch norm
	scale      float64
	// Power iteration (Linear, Conv2d): the unit singular vectors, nil
	// before the first call, and scratch for Wᵀu and Wv.
	u, v, tu, tv []float64
	// Batch norm: the model's running variances and the channel of the
	// largest scale at the last call.
	runVar []float32
	at     int
	factor float64 // s_l at the last call
}

// NewLipschitzRegularizer returns a LipschitzRegularizer with weight
// lambda for the model m: the model whose Params a Trainer made with
// backend.NewTrainer(m, …) (or another of its constructors) trains, since
// Regularize expects m's trained tensors in Model.Params order (all but
// the batch norms' running statistics and step counts) and the batch
// norms' running variances are read from m.Params at each call. It
// returns an error if lambda is negative, NaN or infinite, if m is not a
// valid model, if a batch norm's running variance plus ε is not positive
// and finite, or (wrapping ErrUnsupported) for a layer it has no factor
// for.
func NewLipschitzRegularizer(m *backend.Model, lambda float64) (*LipschitzRegularizer, error) {
	if math.IsNaN(lambda) || math.IsInf(lambda, 0) || lambda < 0 {
		return nil, fmt.Errorf("certify: lipschitz regularizer: weight %v is not a finite non-negative number", lambda)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("certify: lipschitz regularizer: %w", err)
	}
	buffers := map[string]bool{}
	for i, l := range m.Arch {
		if l.Kind == backend.BatchNorm1d || l.Kind == backend.BatchNorm2d {
			prefix := strconv.Itoa(i) + "."
			for _, name := range []string{"running_mean", "running_var", "num_batches_tracked"} {
				buffers[prefix+name] = true
			}
		}
	}
	r := &LipschitzRegularizer{Iterations: DefaultIterations, lambda: lambda, constant: 1}
	index := map[string]int{}
	data := map[string][]float32{}
	for _, p := range m.Params {
		data[p.Name] = p.Data
		if !buffers[p.Name] {
			index[p.Name] = len(r.trained)
			r.trained = append(r.trained, p.Name)
		}
	}
	shapes := layerShapes(m.Arch)
	for i, l := range m.Arch {
		prefix := strconv.Itoa(i) + "."
		rl := regLayer{layer: i, kind: l.Kind, index: index[prefix+"weight"], scale: 1}
		switch l.Kind {
		case backend.Linear:
			rl.rows, rl.cols = l.Out, l.In
		case backend.Conv2d:
			g := newWindow(shapes[i], l.Kernel, l.Stride, l.Padding, 1)
			mh := coverage(g.h, g.k, g.s, g.p, g.oh)
			mw := coverage(g.w, g.k, g.s, g.p, g.ow)
			rl.rows, rl.cols = l.Out, l.In*l.Kernel*l.Kernel
			rl.scale = math.Sqrt(float64(mh) * float64(mw))
		case backend.BatchNorm1d, backend.BatchNorm2d:
			rl.rows, rl.cols = l.In, 1
			rl.runVar = data[prefix+"running_var"]
			if _, _, err := batchNormScale(data[prefix+"weight"], rl.runVar); err != nil {
				return nil, fmt.Errorf("certify: lipschitz regularizer: layer %d (%v): %w", i, l.Kind, err)
			}
		default:
			f, err := layerFactor(l, shapes[i], func(string) []float32 { return nil })
			if err != nil {
				return nil, fmt.Errorf("certify: lipschitz regularizer: layer %d (%v): %w", i, l.Kind, err)
			}
			r.constant *= f.Bound
			continue
		}
		r.layers = append(r.layers, rl)
	}
	r.before = make([]float64, len(r.layers))
	return r, nil
}

// Lambda returns the weight λ of the penalty.
func (r *LipschitzRegularizer) Lambda() float64 { return r.lambda }

// Factors returns the factors s_l of the weighted layers at the last call
// of Regularize, in layer order (see LipschitzRegularizer): power-iteration
// estimates, from below, of the layers' bounds. It returns nil before the
// first call.
func (r *LipschitzRegularizer) Factors() []Factor {
	if r.calls == 0 {
		return nil
	}
	fs := make([]Factor, len(r.layers))
	for i, l := range r.layers {
		f := Factor{Layer: l.layer, Kind: l.kind, Bound: l.factor}
		switch l.kind {
		case backend.BatchNorm1d, backend.BatchNorm2d:
			f.Exact = true
			f.Method = fmt.Sprintf("|γ_c|/√(running_var_c + eps), at channel %d", l.at)
		case backend.Conv2d:
			f.Method = fmt.Sprintf("power-iteration estimate of σ(reshaped weight)·%.6g", l.scale)
		default:
			f.Method = "power-iteration estimate of σ(weight)"
		}
		fs[i] = f
	}
	return fs
}

// Regularize implements backend.Regularizer: it updates the power
// iterations, adds ∂R/∂W to the gradients of the weighted layers' weights
// and returns R (see LipschitzRegularizer). params and grads must be the
// trained tensors of the model given to NewLipschitzRegularizer and their
// gradients, as a Trainer passes them; it returns an error if they are
// not (count, names, sizes), if Iterations < 1, or if a weight or running
// variance makes a factor NaN or infinite. If the product overflows, it
// returns the infinite penalty and adds nothing to grads (the trainer then
// reports a non-finite loss).
func (r *LipschitzRegularizer) Regularize(params []backend.Tensor, grads [][]float32) (float64, error) {
	if r == nil || r.trained == nil {
		return 0, errors.New("certify: lipschitz regularizer: not made by NewLipschitzRegularizer")
	}
	if r.Iterations < 1 {
		return 0, fmt.Errorf("certify: lipschitz regularizer: %d power iterations, want at least 1", r.Iterations)
	}
	if len(params) != len(r.trained) || len(grads) != len(params) {
		return 0, fmt.Errorf("certify: lipschitz regularizer: %d tensors and %d gradients, the model has %d trained tensors", len(params), len(grads), len(r.trained))
	}
	for i := range r.layers {
		l := &r.layers[i]
		p := params[l.index]
		if p.Name != r.trained[l.index] {
			return 0, fmt.Errorf("certify: lipschitz regularizer: trained tensor %d is %q, want %q", l.index, p.Name, r.trained[l.index])
		}
		if len(p.Data) != l.rows*l.cols || len(grads[l.index]) != len(p.Data) {
			return 0, fmt.Errorf("certify: lipschitz regularizer: tensor %q has %d values and %d gradients, want %d", p.Name, len(p.Data), len(grads[l.index]), l.rows*l.cols)
		}
	}
	prod := 1.0
	for i := range r.layers {
		l := &r.layers[i]
		w := params[l.index].Data
		switch l.kind {
		case backend.BatchNorm1d, backend.BatchNorm2d:
			s, at, err := batchNormScale(w, l.runVar)
			if err != nil {
				return 0, fmt.Errorf("certify: lipschitz regularizer: layer %d (%v): %w", l.layer, l.kind, err)
			}
			l.factor, l.at = s, at
		default:
			sigma, err := l.power(w, r.Iterations)
			if err != nil {
				return 0, fmt.Errorf("certify: lipschitz regularizer: layer %d (%v): %w", l.layer, l.kind, err)
			}
			l.factor = sigma * l.scale
		}
		r.before[i] = prod
		prod *= l.factor
	}
	r.calls++
	penalty := r.lambda * r.constant * prod
	if math.IsInf(penalty, 0) || math.IsNaN(penalty) || r.lambda == 0 {
		return penalty, nil
	}
	after := r.lambda * r.constant // times the factors after layer i
	for i := len(r.layers) - 1; i >= 0; i-- {
		l := &r.layers[i]
		coef := r.before[i] * after
		after *= l.factor
		g := grads[l.index]
		switch l.kind {
		case backend.BatchNorm1d, backend.BatchNorm2d:
			gamma := float64(params[l.index].Data[l.at])
			if gamma != 0 {
				d := math.Copysign(1, gamma) / math.Sqrt(float64(l.runVar[l.at])+bnEps)
				g[l.at] += float32(coef * d)
			}
		default:
			coef *= l.scale
			for a, ua := range l.u {
				row, cu := g[a*l.cols:(a+1)*l.cols], coef*ua
				for b, vb := range l.v {
					row[b] += float32(cu * vb)
				}
			}
		}
	}
	return penalty, nil
}

// power runs iters power iterations on the weight w (l.rows × l.cols,
// row-major) from l's vectors, starting them on the first call, and
// returns the estimate ‖W·v‖ = uᵀ·W·v of σ(W).
func (l *regLayer) power(w []float32, iters int) (float64, error) {
	rows, cols := l.rows, l.cols
	if l.u == nil {
		l.u, l.tu = make([]float64, rows), make([]float64, rows)
		l.v, l.tv = make([]float64, cols), make([]float64, cols)
		rng := rand.New(rand.NewPCG(uint64(l.layer), 0x6c6970736368)) // "lipsch"
		for j := range l.v {
			l.v[j] = rng.NormFloat64()
		}
		normalize(l.v, l.v)
		mulVec(l.tu, w, l.v, rows, cols)
		if normalize(l.u, l.tu) == 0 {
			l.u[0] = 1 // W·v = 0: any unit u gives a subgradient
		}
	}
	sigma := 0.0
	for range iters {
		mulTransVec(l.tv, w, l.u, rows, cols)
		n := normalize(l.v, l.tv) // keeps v if Wᵀu = 0
		mulVec(l.tu, w, l.v, rows, cols)
		sigma = normalize(l.u, l.tu) // keeps u if W·v = 0
		if math.IsNaN(n+sigma) || math.IsInf(n+sigma, 0) {
			return 0, errors.New("the weight has a NaN or infinite value, or overflows")
		}
	}
	return sigma, nil
}

// mulVec sets dst = W·x for the rows × cols row-major matrix w.
func mulVec(dst []float64, w []float32, x []float64, rows, cols int) {
	for a := range rows {
		s := 0.0
		for b, wb := range w[a*cols : (a+1)*cols] {
			s += float64(wb) * x[b]
		}
		dst[a] = s
	}
}

// mulTransVec sets dst = Wᵀ·x for the rows × cols row-major matrix w.
func mulTransVec(dst []float64, w []float32, x []float64, rows, cols int) {
	clear(dst)
	for a := range rows {
		xa := x[a]
		for b, wb := range w[a*cols : (a+1)*cols] {
			dst[b] += float64(wb) * xa
		}
	}
}

// normalize sets dst to src/‖src‖₂ and returns ‖src‖₂; it leaves dst
// unchanged if the norm is zero, NaN or infinite.
func normalize(dst, src []float64) float64 {
	s := 0.0
	for _, x := range src {
		s += x * x
	}
	n := math.Sqrt(s)
	if n > 0 && !math.IsInf(n, 0) {
		for i, x := range src {
			dst[i] = x / n
		}
	}
	return n
}
