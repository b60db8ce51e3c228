package stages

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/backend"
	"github.com/mlpipe/mlpipe/stdlib/datasets"
	"github.com/mlpipe/mlpipe/stdlib/value"
)

// LinearProbeArgs are the parameters of linear_probe.
type LinearProbeArgs struct {
	Encoder interp.Value `mlp:"encoder,positional" doc:"The frozen encoder, such as pre.encoder; an architecture without weights is initialised from the seed (the untrained baseline)." kind:"model"`
	Train   interp.Value `mlp:"train,positional" doc:"The split the linear classifier is trained on." kind:"dataset"`
	Test    interp.Value `mlp:"test,positional" doc:"The split the probe's accuracy is measured on." kind:"dataset"`
	Epochs  int          `mlp:"epochs" doc:"Passes of the linear classifier over the training features." range:"[1,inf)"`
	Batch   int          `mlp:"batch" doc:"Samples per step of the linear classifier." range:"[1,inf)"`
	LR      float64      `mlp:"lr" doc:"Adam's learning rate for the linear classifier." range:"(0,inf)"`
	Seed    *int64       `mlp:"seed" doc:"Seed of the classifier's initialisation and shuffling (and of an untrained encoder's weights); default: derived from the experiment seed and the stage's name." range:"[0,inf)"`
}

// probeFields are the members of a linear probe's result.
var probeFields = []lang.Field{
	{Name: "accuracy", Type: lang.Float, Doc: "Test accuracy of the linear classifier on the frozen features."},
	{Name: "train_accuracy", Type: lang.Float, Doc: "Its accuracy on the training features."},
}

var linearProbeDef = interp.Def[LinearProbeArgs]{
	Name:     "linear_probe",
	Category: "stage",
	Doc:      "Linear evaluation of a representation: the frozen encoder (in eval mode: batch norms use their running statistics) embeds both splits, each feature is standardised with the training split's mean and standard deviation (unbiased, plus 1e-6), and a linear classifier is trained on the training features with Adam and softmax cross-entropy; the result is its test accuracy (probe.accuracy). The recipe of ../shared/bench/torch_ssl_peer.py.",
	Example:  "probe = linear_probe(fit.model, data.train, data.test)",
	Result:   &lang.Object{Kind: lang.KindMetrics, Fields: probeFields},
	Defaults: LinearProbeArgs{Epochs: 10, Batch: 256, LR: 1e-3},
	Infer: func(a *LinearProbeArgs) (lang.Type, error) {
		m, tr, te := interp.ObjectOf(a.Encoder), interp.ObjectOf(a.Train), interp.ObjectOf(a.Test)
		for _, d := range []struct {
			name string
			o    *lang.Object
		}{{"train", tr}, {"test", te}} {
			if m != nil && d.o != nil && m.In > 0 && d.o.In > 0 && m.In != d.o.In {
				return nil, interp.ArgErrorf(d.name, "the encoder takes %d inputs, but the %s split has %d features per sample", m.In, d.name, d.o.In)
			}
		}
		if err := checkShape("encoder", a.Encoder, a.Train); err != nil {
			return nil, err
		}
		if tr != nil && te != nil && tr.In > 0 && te.In > 0 && tr.In != te.In {
			return nil, interp.ArgErrorf("test", "the test split has %d features per sample, the training split %d", te.In, tr.In)
		}
		return &lang.Object{Kind: lang.KindMetrics, Fields: probeFields}, nil
	},
	Build:   linearProbe,
	Version: 1,
}

func linearProbe(ctx context.Context, env *interp.Env, a *LinearProbeArgs) (interp.Value, error) {
	enc := a.Encoder.(*value.Model)
	train, test := a.Train.(*value.Dataset).D, a.Test.(*value.Dataset).D
	if train.N == 0 || test.N == 0 {
		return nil, interp.ArgErrorf("train", "the probe needs samples in both splits (train %d, test %d)", train.N, test.N)
	}
	if train.Features() != test.Features() {
		return nil, interp.ArgErrorf("test", "the test split has %d features per sample, the training split %d", test.Features(), train.Features())
	}
	classes := max(train.Classes, test.Classes)
	if classes < 2 {
		return nil, interp.ArgErrorf("train", "the probe needs labelled data of at least 2 classes")
	}
	seed := env.Seed()
	if a.Seed != nil {
		seed = *a.Seed
	}
	weights := enc.Weights
	if weights == nil {
		arch, err := enc.ArchFor(sampleShape(train))
		if err != nil {
			return nil, interp.ArgErrorf("encoder", "%v", err)
		}
		if weights, err = backend.Init(arch, seed); err != nil {
			return nil, err
		}
		env.Logf("probing an untrained encoder (initialised from seed %d)", seed)
	} else if in := weights.Arch.InputWidth(); in != train.Features() {
		return nil, interp.ArgErrorf("encoder", "the encoder takes %d inputs, but the data has %d features per sample", in, train.Features())
	}
	start := time.Now()
	ftr, err := backend.Predict(ctx, weights, train.X, train.N, 1000)
	if err != nil {
		return nil, err
	}
	fte, err := backend.Predict(ctx, weights, test.X, test.N, 1000)
	if err != nil {
		return nil, err
	}
	d := weights.Arch.OutputWidth()
	if err := standardiseFeatures(ftr, fte, train.N, d); err != nil {
		return nil, err
	}
	lin, err := backend.Init(backend.Arch{{Kind: backend.Linear, In: d, Out: classes, Bias: true}}, seed+1)
	if err != nil {
		return nil, err
	}
	batch := min(a.Batch, train.N)
	tr, err := backend.NewTrainer(lin, backend.Optimizer{Name: "adam", LR: a.LR, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, batch)
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	rng := rand.New(rand.NewPCG(uint64(seed), 0x70726f6265))
	order := make([]int, train.N)
	for i := range order {
		order[i] = i
	}
	x := make([]float32, batch*d)
	y := make([]int32, batch)
	steps := (train.N + batch - 1) / batch
	progress := env.Progress(int64(a.Epochs*steps), "step")
	defer progress.Finish()
	for epoch := 1; epoch <= a.Epochs; epoch++ {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for s := 0; s < steps; s++ {
			lo, hi := s*batch, min((s+1)*batch, train.N)
			for k, i := range order[lo:hi] {
				copy(x[k*d:(k+1)*d], ftr[i*d:(i+1)*d])
				y[k] = train.Y[i]
			}
			n := hi - lo
			if _, err := tr.Step(ctx, x[:n*d], y[:n]); err != nil {
				return nil, fmt.Errorf("linear probe, epoch %d, step %d: %w", epoch, s+1, err)
			}
			progress.Add(1, fmt.Sprintf("probe epoch %d/%d", epoch, a.Epochs))
		}
	}
	accTest, err := probeAccuracy(ctx, tr.Model(), fte, test)
	if err != nil {
		return nil, err
	}
	accTrain, err := probeAccuracy(ctx, tr.Model(), ftr, train)
	if err != nil {
		return nil, err
	}
	env.Logf("linear probe on %d features: test accuracy %.4f (train %.4f), %.1fs", d, accTest, accTrain, time.Since(start).Seconds())
	return &value.Metrics{
		Names:   []string{"accuracy", "train_accuracy"},
		Values:  map[string]float64{"accuracy": accTest, "train_accuracy": accTrain},
		Samples: test.N,
		Docs:    map[string]string{"accuracy": probeFields[0].Doc, "train_accuracy": probeFields[1].Doc},
	}, nil
}

// standardiseFeatures standardises each of the d features of the n
// training rows of train, and the rows of test, with the training rows'
// mean and unbiased standard deviation plus 1e-6, in place.
func standardiseFeatures(train, test []float32, n, d int) error {
	if n < 2 {
		return fmt.Errorf("linear probe: %d training samples, need at least 2 to standardise the features", n)
	}
	mean, scale := make([]float64, d), make([]float64, d)
	for i := 0; i < n; i++ {
		for j, v := range train[i*d : (i+1)*d] {
			mean[j] += float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	for i := 0; i < n; i++ {
		for j, v := range train[i*d : (i+1)*d] {
			dv := float64(v) - mean[j]
			scale[j] += dv * dv
		}
	}
	for j := range scale {
		scale[j] = 1 / (math.Sqrt(scale[j]/float64(n-1)) + 1e-6)
	}
	for _, rows := range [][]float32{train, test} {
		for i, v := range rows {
			j := i % d
			rows[i] = float32((float64(v) - mean[j]) * scale[j])
		}
	}
	for _, v := range train {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("linear probe: the encoder's features are not finite")
		}
	}
	return nil
}

// probeAccuracy returns the accuracy of the linear classifier m on the
// feature rows of the samples of d.
func probeAccuracy(ctx context.Context, m *backend.Model, feats []float32, d *datasets.Dataset) (float64, error) {
	logits, err := backend.Predict(ctx, m, feats, d.N, 1000)
	if err != nil {
		return 0, err
	}
	c := m.Arch.OutputWidth()
	correct := 0
	for i := 0; i < d.N; i++ {
		row := logits[i*c : (i+1)*c]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if int32(best) == d.Y[i] {
			correct++
		}
	}
	return float64(correct) / float64(d.N), nil
}
