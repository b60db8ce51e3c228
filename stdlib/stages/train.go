package stages

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/backend"
	"github.com/mlpipe/mlpipe/stdlib/datasets"
	"github.com/mlpipe/mlpipe/stdlib/value"
)

// TrainArgs are the parameters of train.
type TrainArgs struct {
	Model     interp.Value `mlp:"model,positional" doc:"The model to train: an architecture (initialised from the seed) or a model with weights (trained further)." kind:"model"`
	Data      interp.Value `mlp:"data,positional" doc:"The training split." kind:"dataset"`
	Loss      interp.Value `mlp:"loss" doc:"The objective; default cross_entropy()." kind:"loss" optional:"true"`
	Optimizer interp.Value `mlp:"optimizer" doc:"The optimiser; default adam()." kind:"optimizer" optional:"true"`
	Epochs    int          `mlp:"epochs" doc:"Passes over the training data." range:"[1,inf)"`
	Batch     int          `mlp:"batch" doc:"Samples per step; the last batch of an epoch may be smaller." range:"[1,inf)"`
	Shuffle   bool         `mlp:"shuffle" doc:"Visit the samples in a new seeded order each epoch."`
	Seed      *int64       `mlp:"seed" doc:"Seed of the weight initialisation and shuffling; default: derived from the experiment seed and the stage's name." range:"[0,inf)"`
	Save      string       `mlp:"save" doc:"Base name of the weights file written to the run's output directory: NAME.safetensors, which PyTorch's load_state_dict takes for the same nn.Sequential (see docs/weights.md); \"\" writes none. Two train stages need different names."`
}

var trainDef = interp.Def[TrainArgs]{
	Name:     "train",
	Category: "stage",
	Doc:      "Trains a classifier by mini-batch gradient descent on the loss; weights start from PyTorch's default initialisation.",
	Example:  "fit = train(net, data.train, loss: cross_entropy(), optimizer: adam(lr: 1e-3), epochs: 5, batch: 128)",
	Result:   value.TrainedType(0, 0),
	Defaults: TrainArgs{Epochs: 10, Batch: 64, Shuffle: true, Save: "model"},
	Infer: func(a *TrainArgs) (lang.Type, error) {
		if a.Save != "" && !plainFileName(a.Save) {
			return nil, interp.ArgErrorf("save", "weights file name %q must be a plain file name", a.Save)
		}
		in, out, err := matchWidths(a.Model, a.Data)
		if err != nil {
			return nil, err
		}
		return value.TrainedType(in, out), nil
	},
	Build: train,
}

// matchWidths checks a model's widths against a data set's features and
// classes, where both are known, and returns the model's resulting widths.
func matchWidths(model, data interp.Value) (in, out int, err error) {
	m, d := interp.ObjectOf(model), interp.ObjectOf(data)
	if m == nil || d == nil {
		return 0, 0, nil
	}
	if m.In > 0 && d.In > 0 && m.In != d.In {
		return 0, 0, interp.ArgErrorf("model", "the model takes %d inputs, but the data set has %d features per sample", m.In, d.In)
	}
	if m.Out > 0 && d.Out > 0 && m.Out != d.Out {
		return 0, 0, interp.ArgErrorf("model", "the model has %d outputs, but the data set has %d classes", m.Out, d.Out)
	}
	if err := checkShape("model", model, data); err != nil {
		return 0, 0, err
	}
	in = m.In
	if in == 0 {
		in = d.In
	}
	return in, m.Out, nil
}

func train(ctx context.Context, env *interp.Env, a *TrainArgs) (interp.Value, error) {
	model := a.Model.(*value.Model)
	data := a.Data.(*value.Dataset).D
	if data.N == 0 {
		return nil, interp.ArgErrorf("data", "the training data set is empty")
	}
	features := data.Features()
	if out := model.OutWidth(); out > 0 && out != data.Classes && data.Classes > 0 {
		if out < data.Classes {
			return nil, interp.ArgErrorf("model", "the model has %d outputs, but the data has %d classes", out, data.Classes)
		}
	}
	plan := robustPlan{clean: 1}
	if a.Loss != nil {
		var err error
		if plan, err = planLoss(a.Loss.(*value.Loss)); err != nil {
			return nil, err
		}
	}
	opt := backend.Optimizer{Name: "adam", LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	if a.Optimizer != nil {
		opt = a.Optimizer.(*value.Optimizer).Config
	}
	seed := env.Seed()
	if a.Seed != nil {
		seed = *a.Seed
	}
	arch, err := model.ArchFor(sampleShape(data))
	if err != nil {
		return nil, interp.ArgErrorf("model", "%v", err)
	}
	batch := min(a.Batch, data.N)
	tr, resumed, err := startTrainer(ctx, env, model, arch, seed, a.Epochs, func(m *backend.Model) (*backend.Trainer, error) {
		return plan.trainer(m, opt, batch)
	})
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	step := tr.Step
	if plan.paired() {
		p, err := newPerturber(plan, tr.Model(), batch)
		if err != nil {
			return nil, err
		}
		defer p.close()
		xp := make([]float32, batch*features)
		step = func(ctx context.Context, x []float32, y []int32) (float64, error) {
			if err := p.perturb(ctx, x, y, xp[:len(x)]); err != nil {
				return 0, err
			}
			return tr.StepPair(ctx, x, xp[:len(x)], y)
		}
	}

	stepsPerEpoch := (data.N + batch - 1) / batch
	first := 1
	res := &value.Trained{}
	var before float64 // training seconds of the epochs done before a resume
	if resumed != nil {
		first, res.History, before = resumed.Epoch+1, resumed.History, resumed.Seconds
		env.Logf("resuming from the checkpoint after epoch %d/%d", resumed.Epoch, a.Epochs)
	}
	progress := env.Progress(int64((a.Epochs-first+1)*stepsPerEpoch), "step")
	defer progress.Finish()
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6d6c70697065))
	order := make([]int, data.N)
	for i := range order {
		order[i] = i
	}
	shuffle := func() { rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] }) }
	if a.Shuffle {
		// The visiting order of an epoch depends on those before it.
		for range first - 1 {
			shuffle()
		}
	}
	x := make([]float32, batch*features)
	y := make([]int32, batch)
	start := time.Now()
	lastCheckpoint := start
	var checkpointCost time.Duration // the time the last checkpoint took to write
	for epoch := first; epoch <= a.Epochs; epoch++ {
		epochStart := time.Now()
		if a.Shuffle {
			shuffle()
		}
		var sum float64
		for s := 0; s < stepsPerEpoch; s++ {
			lo, hi := s*batch, min((s+1)*batch, data.N)
			n := hi - lo
			gather(data, order[lo:hi], x, y)
			loss, err := step(ctx, x[:n*features], y[:n])
			if err != nil {
				if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
					return nil, err
				}
				if errors.Is(err, backend.ErrNonFinite) {
					return nil, fmt.Errorf("epoch %d, step %d: the loss diverged (%w); try a smaller learning rate", epoch, s+1, err)
				}
				return nil, fmt.Errorf("epoch %d, step %d: %w", epoch, s+1, err)
			}
			sum += loss * float64(n)
			progress.Add(1, fmt.Sprintf("epoch %d/%d loss %.4f", epoch, a.Epochs, loss))
		}
		secs := time.Since(epochStart).Seconds()
		st := value.EpochStats{Epoch: epoch, Loss: sum / float64(data.N), Seconds: secs}
		res.History = append(res.History, st)
		if every := (a.Epochs + 9) / 10; epoch%every == 0 || epoch == a.Epochs {
			env.Logf("epoch %d/%d  loss %.4f  %.2fs  %.0f samples/s", epoch, a.Epochs, st.Loss, secs, float64(data.N)/secs)
		}
		if epoch < a.Epochs && env.Checkpointing() && time.Since(lastCheckpoint) >= checkpointShare*checkpointCost {
			t := time.Now()
			saveCheckpoint(ctx, env, &trainCheckpoint{Epoch: epoch, Steps: tr.Steps(), Seconds: before + time.Since(start).Seconds(),
				History: res.History, Model: tr.Model(), Opt: tr.OptimizerState()})
			lastCheckpoint = time.Now()
			checkpointCost = lastCheckpoint.Sub(t)
		}
	}
	res.Seconds = before + time.Since(start).Seconds()
	res.Steps = tr.Steps()
	res.Samples = data.N * a.Epochs
	res.Model = &value.Model{Layers: model.Layers, In: features, Weights: tr.Model().Clone()}
	res.SaveAs = a.Save
	return res, nil
}

// checkpointShare bounds the time spent on checkpoints: training saves one
// after every epoch, unless the training since the last checkpoint took
// less than checkpointShare times as long as writing that checkpoint did
// (epochs of a few milliseconds, such as the quickstart's), so that
// checkpoints never take more than about 1/checkpointShare of the time.
const checkpointShare = 20

// startTrainer returns the trainer of a train stage: from the stage's
// checkpoint when an earlier run of it stopped part-way (with the
// checkpoint), else from the model's weights or a fresh initialisation.
// newTrainer makes the trainer of given weights.
func startTrainer(ctx context.Context, env *interp.Env, model *value.Model, arch backend.Arch, seed int64, epochs int, newTrainer func(*backend.Model) (*backend.Trainer, error)) (*backend.Trainer, *trainCheckpoint, error) {
	if data, ok := env.Checkpoint(ctx); ok {
		c, err := decodeCheckpoint(data)
		switch {
		case err != nil:
			env.Logf("warning: its checkpoint is unreadable (%v); training from the start", err)
		case !slices.Equal(c.Model.Arch, arch) || c.Epoch < 1 || c.Epoch >= epochs || len(c.History) != c.Epoch:
			env.Logf("warning: its checkpoint does not fit this training; training from the start")
		default:
			tr, err := newTrainer(c.Model)
			if err != nil {
				return nil, nil, err
			}
			if err := tr.Restore(c.Opt, c.Steps); err != nil {
				tr.Close()
				env.Logf("warning: its checkpoint does not fit this training (%v); training from the start", err)
				break
			}
			return tr, c, nil
		}
	}
	var weights *backend.Model
	var err error
	if model.Weights != nil {
		weights = model.Weights.Clone()
	} else if weights, err = backend.Init(arch, seed); err != nil {
		return nil, nil, err
	}
	tr, err := newTrainer(weights)
	return tr, nil, err
}

// saveCheckpoint saves the state of a training after an epoch; a failure
// only costs the ability to resume, so it is logged, not returned.
func saveCheckpoint(ctx context.Context, env *interp.Env, c *trainCheckpoint) {
	data, err := encodeCheckpoint(c)
	if err == nil {
		err = env.SaveCheckpoint(ctx, data)
	}
	if err != nil && ctx.Err() == nil {
		env.Logf("warning: no checkpoint after epoch %d: %v", c.Epoch, err)
	}
}

// gather copies the samples idx of d into x and y.
func gather(d *datasets.Dataset, idx []int, x []float32, y []int32) {
	f := d.Features()
	for k, i := range idx {
		copy(x[k*f:(k+1)*f], d.X[i*f:(i+1)*f])
		y[k] = d.Y[i]
	}
}

// sampleShape is the per-sample shape of d's samples: its Shape, or
// [features] when it has none.
func sampleShape(d *datasets.Dataset) []int {
	if len(d.Shape) > 0 {
		return d.Shape
	}
	return []int{d.Features()}
}

// checkShape reports, at check time, a model (the argument param) whose
// layers do not take the data's samples, where both are known statically.
func checkShape(param string, model, data interp.Value) error {
	m, d := interp.ObjectOf(model), interp.ObjectOf(data)
	if m == nil || d == nil {
		return nil
	}
	if err := value.CheckShape(m, d.Shape); err != nil {
		return interp.ArgErrorf(param, "%v", err)
	}
	return nil
}
