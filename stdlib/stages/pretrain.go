package stages

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/augment"
	"github.com/mlpipe/mlpipe/stdlib/backend"
	"github.com/mlpipe/mlpipe/stdlib/datasets"
	"github.com/mlpipe/mlpipe/stdlib/value"
)

// PretrainArgs are the parameters of pretrain.
type PretrainArgs struct {
	Model     interp.Value `mlp:"model,positional" doc:"encoder | projector: the projector is the last part of the composition, the encoder everything before it (an architecture, initialised from the seed, or weights trained further)." kind:"model"`
	Data      interp.Value `mlp:"data,positional" doc:"The pretraining split; its labels are not used. Its samples must be images (a [C, H, W] shape)." kind:"dataset"`
	Loss      interp.Value `mlp:"loss" doc:"The self-supervised loss of the projector's outputs: barlow_twins() or vicreg()." kind:"loss"`
	Augment   interp.Value `mlp:"augment" doc:"The transform each view of a sample is drawn through, such as zoom() | hflip() | noise()." kind:"transform"`
	Views     int          `mlp:"views" doc:"Independent augmentations of each sample per step (the loss's views); the network sees batch × views images per step." range:"[2,16]"`
	Optimizer interp.Value `mlp:"optimizer" doc:"The optimiser; default adam()." kind:"optimizer" optional:"true"`
	Epochs    int          `mlp:"epochs" doc:"Passes over the pretraining samples." range:"[1,inf)"`
	Batch     int          `mlp:"batch" doc:"Samples per step, each seen in every view; an epoch's last incomplete batch is dropped (as the reference recipes do), so the split needs at least this many samples." range:"[2,inf)"`
	Fraction  float64      `mlp:"fraction" doc:"Fraction of the split to pretrain on: a seeded uniform random subset of round(fraction × size) samples, fixed for the whole training (as fastssl's data-fraction runs)." range:"(0,1]"`
	Shuffle   bool         `mlp:"shuffle" doc:"Visit the samples in a new seeded order each epoch."`
	Seed      *int64       `mlp:"seed" doc:"Seed of the weight initialisation, the subset, the shuffling and the augmentations; default: derived from the experiment seed and the stage's name." range:"[0,inf)"`
	Save      string       `mlp:"save" doc:"Base name of the weights file of the whole model (encoder and projector) written to the run's output directory, NAME.safetensors; \"\" writes none."`
}

var pretrainDef = interp.Def[PretrainArgs]{
	Name:     "pretrain",
	Category: "stage",
	Doc:      "Self-supervised pretraining without labels: each step draws views independent augmentations of every sample of a batch, passes them through encoder | projector (batch norms keep per-view statistics, as separate forward passes would) and minimises the loss of the projector's outputs. The result's encoder member is the trained encoder, for linear_probe or further training.",
	Example:  "pre = pretrain(linear(out: 32) | batch_norm() | relu() | linear(out: 16), data.train, loss: barlow_twins(), augment: zoom() | hflip() | noise(), views: 2, epochs: 5, batch: 64)",
	Result:   value.PretrainedType(0, 0, 0),
	Defaults: PretrainArgs{Views: 2, Epochs: 10, Batch: 256, Fraction: 1, Shuffle: true, Save: "pretrained"},
	Infer: func(a *PretrainArgs) (lang.Type, error) {
		if a.Save != "" && !plainFileName(a.Save) {
			return nil, interp.ArgErrorf("save", "weights file name %q must be a plain file name", a.Save)
		}
		m, d := interp.ObjectOf(a.Model), interp.ObjectOf(a.Data)
		var in, out int
		if m != nil {
			in, out = m.In, m.Out
		}
		if d != nil {
			if in > 0 && d.In > 0 && in != d.In {
				return nil, interp.ArgErrorf("model", "the model takes %d inputs, but the data set has %d features per sample", in, d.In)
			}
			if in == 0 {
				in = d.In
			}
			if err := checkShape("model", a.Model, a.Data); err != nil {
				return nil, err
			}
			if _, ok := imageShape(d.Shape); len(d.Shape) > 0 && !ok {
				return nil, interp.ArgErrorf("data", "augmentations need images, but the data set's samples have shape %v", d.Shape)
			}
		}
		return value.PretrainedType(in, out, 0), nil
	},
	Build:   pretrain,
	Version: 1,
}

func pretrain(ctx context.Context, env *interp.Env, a *PretrainArgs) (interp.Value, error) {
	model := a.Model.(*value.Model)
	data := a.Data.(*value.Dataset).D
	aug := a.Augment.(*value.Transform)
	if model.Head == 0 || model.Head >= len(model.Layers) {
		return nil, interp.ArgErrorf("model", "pretrain trains encoder | projector: compose the two with | (the last part of the composition is the projector)")
	}
	loss, err := sslLoss(a.Loss.(*value.Loss))
	if err != nil {
		return nil, err
	}
	if _, ok := imageShape(data.Shape); !ok {
		return nil, interp.ArgErrorf("data", "augmentations need images, but the data set's samples have shape %v", data.Shape)
	}
	features := data.Features()
	arch, err := model.ArchFor(sampleShape(data))
	if err != nil {
		return nil, interp.ArgErrorf("model", "%v", err)
	}
	cfg := *loss.SSL
	cfg.Views = a.Views
	if loss.Beta > 0 {
		cfg.Lambda = loss.Beta / float64(arch.OutputWidth())
	}
	if err := cfg.Validate(); err != nil {
		return nil, interp.ArgErrorf("loss", "%v", err)
	}
	opt := backend.Optimizer{Name: "adam", LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	if a.Optimizer != nil {
		opt = a.Optimizer.(*value.Optimizer).Config
	}
	seed := env.Seed()
	if a.Seed != nil {
		seed = *a.Seed
	}
	samples := pretrainSubset(data.N, a.Fraction, seed)
	if len(samples) < a.Batch {
		return nil, interp.ArgErrorf("batch", "the batch of %d samples is larger than the %d pretraining samples (an epoch's incomplete last batch is dropped)", a.Batch, len(samples))
	}
	batch := a.Batch
	tr, resumed, err := startTrainer(ctx, env, model, arch, seed, a.Epochs, func(m *backend.Model) (*backend.Trainer, error) {
		return backend.NewSSLTrainer(m, opt, batch, cfg)
	})
	if err != nil {
		return nil, err
	}
	defer tr.Close()

	steps := len(samples) / batch
	first := 1
	res := &value.Trained{EncoderLayers: len(model.Layers) - model.Head}
	var before float64
	if resumed != nil {
		first, res.History, before = resumed.Epoch+1, resumed.History, resumed.Seconds
		env.Logf("resuming from the checkpoint after epoch %d/%d", resumed.Epoch, a.Epochs)
	}
	env.Logf("pretraining on %d samples, %d views each, %s loss, %d-dimensional embeddings", len(samples), a.Views, cfg.Kind, arch.OutputWidth())
	progress := env.Progress(int64((a.Epochs-first+1)*steps), "step")
	defer progress.Finish()
	rng := rand.New(rand.NewPCG(uint64(seed), 0x7072657472616e))
	shuffle := func() { rng.Shuffle(len(samples), func(i, j int) { samples[i], samples[j] = samples[j], samples[i] }) }
	if a.Shuffle {
		for range first - 1 {
			shuffle()
		}
	}
	views := &viewMaker{data: data, aug: aug, views: a.Views, seed: seed}
	start := time.Now()
	lastCheckpoint := start
	var checkpointCost time.Duration
	for epoch := first; epoch <= a.Epochs; epoch++ {
		epochStart := time.Now()
		if a.Shuffle {
			shuffle()
		}
		var sum float64
		err := views.run(ctx, epoch, samples[:steps*batch], batch, func(s int, x []float32) error {
			loss, err := tr.StepViews(ctx, x, batch)
			if err != nil {
				if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
					return err
				}
				if errors.Is(err, backend.ErrNonFinite) {
					return fmt.Errorf("epoch %d, step %d: the loss diverged (%w); try a smaller learning rate", epoch, s+1, err)
				}
				return fmt.Errorf("epoch %d, step %d: %w", epoch, s+1, err)
			}
			sum += loss
			progress.Add(1, fmt.Sprintf("epoch %d/%d loss %.4f", epoch, a.Epochs, loss))
			return nil
		})
		if err != nil {
			return nil, err
		}
		secs := time.Since(epochStart).Seconds()
		st := value.EpochStats{Epoch: epoch, Loss: sum / float64(steps), Seconds: secs}
		res.History = append(res.History, st)
		if every := (a.Epochs + 9) / 10; epoch%every == 0 || epoch == a.Epochs {
			env.Logf("epoch %d/%d  loss %.4f  %.2fs  %.0f samples/s", epoch, a.Epochs, st.Loss, secs, float64(steps*batch)/secs)
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
	res.Samples = steps * batch * a.Epochs
	res.Model = &value.Model{Layers: model.Layers, In: features, Weights: tr.Model().Clone(), Head: model.Head}
	res.SaveAs = a.Save
	return res, nil
}

// sslLoss returns the self-supervised term of a pretraining loss, with the
// weights of its orthogonality terms added into its Orthogonality.
func sslLoss(l *value.Loss) (value.LossTerm, error) {
	var main *value.LossTerm
	var ortho float64
	ok := true
	for i, t := range l.Terms {
		switch {
		case t.Name == "orthogonality":
			ok = ok && t.Weight >= 0
			ortho += t.Weight
		case t.SSL != nil && main == nil && t.Weight == 1:
			main = &l.Terms[i]
		default:
			ok = false
		}
	}
	if !ok {
		main = nil
	}
	if main == nil {
		return value.LossTerm{}, interp.ArgErrorf("loss", "pretrain optimises one self-supervised loss, barlow_twins() or vicreg() (weight 1), plus any non-negative multiple of orthogonality(); not %s", l)
	}
	out := *main
	cfg := *main.SSL
	cfg.Orthogonality += ortho
	out.SSL = &cfg
	return out, nil
}

// pretrainSubset returns the indices of the samples to pretrain on: all n
// in order, or a seeded uniform random subset of round(fraction·n).
func pretrainSubset(n int, fraction float64, seed int64) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	if fraction >= 1 {
		return idx
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x737562736574))
	rng.Shuffle(n, func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	k := max(int(fraction*float64(n)+0.5), 1)
	return idx[:k]
}

// viewMaker draws the views of batches of samples through a transform.
// The views of sample i in epoch e come from a generator seeded by (seed,
// e, i, view), so they do not depend on the batch, the order of the
// samples or the number of goroutines drawing them: a resumed training
// sees the same views.
type viewMaker struct {
	data  *datasets.Dataset
	aug   *value.Transform
	views int
	seed  int64
}

// run calls step for each batch of batch samples of order in turn (len(order)
// a multiple of batch), with x holding the views of the batch (all the
// rows of view 0, then those of view 1, ...). While a step runs, the views
// of the next batch are drawn on other goroutines.
func (v *viewMaker) run(ctx context.Context, epoch int, order []int, batch int, step func(s int, x []float32) error) error {
	steps := len(order) / batch
	if steps == 0 {
		return nil
	}
	f := v.data.Features()
	bufs := [2][]float32{make([]float32, v.views*batch*f), make([]float32, v.views*batch*f)}
	ready := make(chan struct{}, 1)
	draw := func(s int) {
		v.draw(epoch, order[s*batch:(s+1)*batch], bufs[s%2])
		ready <- struct{}{}
	}
	go draw(0)
	for s := 0; s < steps; s++ {
		<-ready
		if s+1 < steps {
			go draw(s + 1)
		}
		if err := ctx.Err(); err != nil {
			if s+1 < steps {
				<-ready
			}
			return err
		}
		if err := step(s, bufs[s%2]); err != nil {
			if s+1 < steps {
				<-ready
			}
			return err
		}
	}
	return nil
}

// draw writes the views of the samples idx into x, splitting the work over
// the available processors.
func (v *viewMaker) draw(epoch int, idx []int, x []float32) {
	n, f := len(idx), v.data.Features()
	shape, _ := imageShape(v.data.Shape)
	workers := min(runtime.GOMAXPROCS(0), n)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var scratch augment.Scratch
			pcg := rand.NewPCG(0, 0)
			rng := rand.New(pcg)
			for k := w; k < n; k += workers {
				i := idx[k]
				img := augment.Image{C: shape[0], H: shape[1], W: shape[2], Pix: v.data.X[i*f : (i+1)*f]}
				for view := range v.views {
					pcg.Seed(uint64(v.seed)^uint64(epoch)<<40, uint64(i)<<8|uint64(view))
					dst := augment.Image{C: shape[0], H: shape[1], W: shape[2], Pix: x[(view*n+k)*f : (view*n+k+1)*f]}
					v.aug.ApplyInto(rng, dst, img, &scratch)
				}
			}
		}()
	}
	wg.Wait()
}

// imageShape returns the [C, H, W] shape of images of the given per-sample
// shape: [C, H, W] itself, or [H, W] as one channel; ok is false for other
// shapes.
func imageShape(shape []int) (chw [3]int, ok bool) {
	switch len(shape) {
	case 2:
		return [3]int{1, shape[0], shape[1]}, true
	case 3:
		return [3]int{shape[0], shape[1], shape[2]}, true
	}
	return [3]int{}, false
}
