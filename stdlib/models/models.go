// Package models declares the model components of the standard library:
// mlp, linear, batch_norm, the activations and the image layers conv2d,
// max_pool, global_avg_pool and flatten, and composition of models with |.
// Models are architectures until a train stage gives them weights; an
// input width left out is inferred from the data the model is trained on.
package models

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/backend"
	"github.com/mlpipe/mlpipe/stdlib/safetensors"
	"github.com/mlpipe/mlpipe/stdlib/value"
)

// Register adds the model components and model composition to r.
func Register(r *interp.Registry) {
	interp.Register(r, mlpDef)
	interp.Register(r, linearDef)
	interp.Register(r, batchNormDef)
	interp.Register(r, conv2dDef)
	interp.Register(r, maxPoolDef)
	interp.Register(r, globalAvgPoolDef)
	interp.Register(r, flattenDef)
	interp.Register(r, loadWeightsDef)
	for _, act := range activations {
		interp.Register(r, activationDef(act.name, act.doc))
	}
	r.RegisterPipe(lang.KindModel, func(parts []interp.Value) (interp.Value, error) {
		models := make([]*value.Model, len(parts))
		for i, p := range parts {
			m, ok := p.(*value.Model)
			if !ok {
				return nil, fmt.Errorf("internal error: %T is not a model", p)
			}
			models[i] = m
		}
		return value.Compose(models)
	})
}

var activations = []struct{ name, doc string }{
	{"relu", "Rectified linear unit, max(0, x), element-wise."},
	{"tanh", "Hyperbolic tangent, element-wise."},
	{"sigmoid", "Logistic function 1/(1+exp(-x)), element-wise."},
}

// MLPArgs are the parameters of mlp.
type MLPArgs struct {
	Hidden     []int  `mlp:"hidden" doc:"Widths of the hidden layers, in order." range:"[1,inf)"`
	Out        int    `mlp:"out" doc:"Output width (the number of classes for a classifier)." range:"[1,inf)" required:"true"`
	In         int    `mlp:"in" doc:"Input width; 0 infers it from the data the model is trained on." range:"[0,inf)"`
	Activation string `mlp:"activation" doc:"Nonlinearity after each hidden layer." enum:"relu,tanh,sigmoid"`
	Bias       bool   `mlp:"bias" doc:"Give every dense layer a bias."`
}

var mlpDef = interp.Def[MLPArgs]{
	Name:     "mlp",
	Category: lang.KindModel,
	Doc:      "Fully connected network: dense layers of the hidden widths, each followed by the activation, then a dense output layer. Inputs are flattened. Weights are named like PyTorch's nn.Sequential (0.weight, 0.bias, 2.weight, ...).",
	Example:  "net = mlp(hidden: [256], out: 10)",
	Result:   value.ModelType(0, 0),
	Defaults: MLPArgs{Hidden: []int{128}, Activation: "relu", Bias: true},
	Infer: func(a *MLPArgs) (lang.Type, error) {
		return value.StaticType(mlpLayers(a), a.In), nil
	},
	Build: func(ctx context.Context, env *interp.Env, a *MLPArgs) (interp.Value, error) {
		return &value.Model{In: a.In, Layers: mlpLayers(a)}, nil
	},
}

// mlpLayers are the layers of mlp(a).
func mlpLayers(a *MLPArgs) []value.Layer {
	var layers []value.Layer
	in := a.In
	for _, h := range a.Hidden {
		layers = append(layers,
			value.Layer{Kind: backend.Linear, In: in, Out: h, Bias: a.Bias},
			value.Layer{Kind: backend.Activation, Activation: a.Activation})
		in = h
	}
	return append(layers, value.Layer{Kind: backend.Linear, In: in, Out: a.Out, Bias: a.Bias})
}

// single is the model of one layer l with fixed input width in.
func single(l value.Layer, in int) *value.Model {
	return &value.Model{In: in, Layers: []value.Layer{l}}
}

// LinearArgs are the parameters of linear.
type LinearArgs struct {
	Out  int  `mlp:"out" doc:"Output width." range:"[1,inf)" required:"true"`
	In   int  `mlp:"in" doc:"Input width; 0 infers it from what comes before." range:"[0,inf)"`
	Bias bool `mlp:"bias" doc:"Add a bias."`
}

var linearDef = interp.Def[LinearArgs]{
	Name:     "linear",
	Category: lang.KindModel,
	Doc:      "One dense layer, y = x Wᵀ + b (a logistic-regression classifier on its own; a layer when composed with |).",
	Example:  "net = linear(out: 10)",
	Result:   value.ModelType(0, 0),
	Defaults: LinearArgs{Bias: true},
	Infer:    func(a *LinearArgs) (lang.Type, error) { return linearModel(a).Type(), nil },
	Build: func(ctx context.Context, env *interp.Env, a *LinearArgs) (interp.Value, error) {
		return linearModel(a), nil
	},
}

func linearModel(a *LinearArgs) *value.Model {
	return single(value.Layer{Kind: backend.Linear, In: a.In, Out: a.Out, Bias: a.Bias}, a.In)
}

// BatchNormArgs are the (no) parameters of batch_norm.
type BatchNormArgs struct{}

var batchNormDef = interp.Def[BatchNormArgs]{
	Name:     "batch_norm",
	Category: lang.KindModel,
	Doc:      "Batch normalisation of each feature of flat rows (PyTorch's nn.BatchNorm1d), or of each channel after a conv2d or max_pool (nn.BatchNorm2d): batch statistics when training, running statistics after, with an affine weight and bias; eps 1e-5, momentum 0.1. A shape-preserving model, composed with |; in a pretraining each view keeps its own batch statistics.",
	Example:  "encoder = linear(out: 512) | batch_norm() | relu()",
	Result:   value.ModelType(0, 0),
	Infer: func(a *BatchNormArgs) (lang.Type, error) {
		return single(value.Layer{Kind: backend.BatchNorm1d}, 0).Type(), nil
	},
	Build: func(ctx context.Context, env *interp.Env, a *BatchNormArgs) (interp.Value, error) {
		return single(value.Layer{Kind: backend.BatchNorm1d}, 0), nil
	},
}

// Conv2dArgs are the parameters of conv2d.
type Conv2dArgs struct {
	Out     int  `mlp:"out" doc:"Output channels." range:"[1,65536]" required:"true"`
	Kernel  int  `mlp:"kernel" doc:"Side of the square kernel." range:"[1,64]"`
	Stride  int  `mlp:"stride" doc:"Step between kernel positions." range:"[1,64]"`
	Padding int  `mlp:"padding" doc:"Zeros added on every side (kernel/2 keeps the size at stride 1)." range:"[0,64]"`
	In      int  `mlp:"in" doc:"Input channels; 0 infers them from the images reaching the layer." range:"[0,65536]"`
	Bias    bool `mlp:"bias" doc:"Add a per-channel bias."`
}

var conv2dDef = interp.Def[Conv2dArgs]{
	Name:     "conv2d",
	Category: lang.KindModel,
	Doc:      "2-D convolution of images [C, H, W] into out channels (PyTorch's nn.Conv2d): output side floor((side + 2 padding - kernel) / stride) + 1. The first image layer of a model reads the data's samples ([H, W] or [C, H, W]) as images; end the image layers with global_avg_pool() or flatten() before a dense layer.",
	Example:  "encoder = conv2d(out: 32, kernel: 3, padding: 1) | batch_norm() | relu() | max_pool(kernel: 2) | global_avg_pool()",
	Result:   value.ModelType(0, 0),
	Defaults: Conv2dArgs{Kernel: 3, Stride: 1, Bias: true},
	Infer:    func(a *Conv2dArgs) (lang.Type, error) { return conv2dModel(a).Type(), nil },
	Build: func(ctx context.Context, env *interp.Env, a *Conv2dArgs) (interp.Value, error) {
		return conv2dModel(a), nil
	},
}

func conv2dModel(a *Conv2dArgs) *value.Model {
	return single(value.Layer{Kind: backend.Conv2d, In: a.In, Out: a.Out, Kernel: a.Kernel, Stride: a.Stride, Padding: a.Padding, Bias: a.Bias}, 0)
}

// MaxPoolArgs are the parameters of max_pool.
type MaxPoolArgs struct {
	Kernel  int `mlp:"kernel" doc:"Side of the square window." range:"[1,64]"`
	Stride  int `mlp:"stride" doc:"Step between windows; 0 is the kernel (windows that do not overlap)." range:"[0,64]"`
	Padding int `mlp:"padding" doc:"Positions of -inf added on every side (at most kernel/2)." range:"[0,32]"`
}

var maxPoolDef = interp.Def[MaxPoolArgs]{
	Name:     "max_pool",
	Category: lang.KindModel,
	Doc:      "Maximum over square windows of each channel of images (PyTorch's nn.MaxPool2d); sizes as conv2d's.",
	Example:  "features = conv2d(out: 16, padding: 1) | relu() | max_pool(kernel: 2)",
	Result:   value.ModelType(0, 0),
	Defaults: MaxPoolArgs{Kernel: 2},
	Infer: func(a *MaxPoolArgs) (lang.Type, error) {
		if 2*a.Padding > a.Kernel {
			return nil, interp.ArgErrorf("padding", "padding %d is more than half the kernel %d", a.Padding, a.Kernel)
		}
		return maxPoolModel(a).Type(), nil
	},
	Build: func(ctx context.Context, env *interp.Env, a *MaxPoolArgs) (interp.Value, error) {
		return maxPoolModel(a), nil
	},
}

func maxPoolModel(a *MaxPoolArgs) *value.Model {
	return single(value.Layer{Kind: backend.MaxPool2d, Kernel: a.Kernel, Stride: a.Stride, Padding: a.Padding}, 0)
}

// NoArgs are the (no) parameters of a layer without settings.
type NoArgs struct{}

var globalAvgPoolDef = interp.Def[NoArgs]{
	Name:     "global_avg_pool",
	Category: lang.KindModel,
	Doc:      "The mean of each channel of images [C, H, W], as a flat row of C values (PyTorch's nn.AdaptiveAvgPool2d(1) and flattening): the usual end of a convolutional encoder.",
	Example:  "encoder = conv2d(out: 64, padding: 1) | batch_norm() | relu() | global_avg_pool()",
	Result:   value.ModelType(0, 0),
	Infer: func(a *NoArgs) (lang.Type, error) {
		return single(value.Layer{Kind: backend.GlobalAvgPool2d}, 0).Type(), nil
	},
	Build: func(ctx context.Context, env *interp.Env, a *NoArgs) (interp.Value, error) {
		return single(value.Layer{Kind: backend.GlobalAvgPool2d}, 0), nil
	},
}

var flattenDef = interp.Def[NoArgs]{
	Name:     "flatten",
	Category: lang.KindModel,
	Doc:      "Images [C, H, W] as flat rows of C·H·W values, in PyTorch's order (nn.Flatten); flat rows pass unchanged. It takes a layer index, as in PyTorch, so weight names match an nn.Sequential with the same modules.",
	Example:  "net = conv2d(out: 8, padding: 1) | relu() | max_pool(kernel: 2) | flatten() | linear(out: 10)",
	Result:   value.ModelType(0, 0),
	Infer:    func(a *NoArgs) (lang.Type, error) { return single(value.Layer{Kind: backend.Flatten}, 0).Type(), nil },
	Build: func(ctx context.Context, env *interp.Env, a *NoArgs) (interp.Value, error) {
		return single(value.Layer{Kind: backend.Flatten}, 0), nil
	},
}

// ActivationArgs are the (no) parameters of an activation.
type ActivationArgs struct{}

func activationDef(name, doc string) interp.Def[ActivationArgs] {
	return interp.Def[ActivationArgs]{
		Name:     name,
		Category: lang.KindModel,
		Doc:      doc + " A width-preserving model, composed with |.",
		Example:  fmt.Sprintf("net = linear(out: 64) | %s() | linear(out: 10)", name),
		Result:   value.ModelType(0, 0),
		Infer: func(a *ActivationArgs) (lang.Type, error) {
			return single(value.Layer{Kind: backend.Activation, Activation: name}, 0).Type(), nil
		},
		Build: func(ctx context.Context, env *interp.Env, a *ActivationArgs) (interp.Value, error) {
			return single(value.Layer{Kind: backend.Activation, Activation: name}, 0), nil
		},
	}
}

// LoadWeightsArgs are the parameters of load_weights.
type LoadWeightsArgs struct {
	Model interp.Value `mlp:"model,positional" doc:"The architecture the weights are for, such as mlp(hidden: [256], out: 10)." kind:"model"`
	File  string       `mlp:"file,positional" doc:"A safetensors file of the model's state_dict (relative to the pipeline file), as mlpipe's train writes it or PyTorch's nn.Sequential would name it." required:"true"`
}

var loadWeightsDef = interp.Def[LoadWeightsArgs]{
	Name:     "load_weights",
	Category: lang.KindModel,
	Doc:      "The model with its weights read from a safetensors file (trained by mlpipe or by PyTorch; see docs/weights.md): every tensor the architecture needs must be there with its shape, and no other. The input width is taken from the file when the model leaves it open.",
	Example:  `net = load_weights(mlp(hidden: [256], out: 10), "model.safetensors")`,
	Result:   value.ModelType(0, 0),
	Infer: func(a *LoadWeightsArgs) (lang.Type, error) {
		if o := interp.ObjectOf(a.Model); o != nil {
			t := value.ModelType(o.In, o.Out)
			t.Layers = o.Layers
			return t, nil
		}
		return value.ModelType(0, 0), nil
	},
	Build: func(ctx context.Context, env *interp.Env, a *LoadWeightsArgs) (interp.Value, error) {
		path := resolvePath(env.Span, a.File)
		f, err := safetensors.ReadFile(path)
		if err != nil {
			return nil, interp.ArgErrorf("file", "%v", err)
		}
		model := a.Model.(*value.Model)
		in := model.InWidth()
		if in == 0 {
			if in, err = inputWidthFromFile(f, model); err != nil {
				return nil, interp.ArgErrorf("file", "%s: %v", path, err)
			}
		}
		arch, err := model.Arch(in)
		if err != nil {
			return nil, interp.ArgErrorf("model", "%v", err)
		}
		weights, err := value.LoadWeights(f, arch)
		if err != nil {
			return nil, interp.ArgErrorf("file", "%s: %v", path, err)
		}
		return &value.Model{Layers: model.Layers, In: in, Weights: weights}, nil
	},
	Fingerprint: func(ctx context.Context, at lang.Span, a *LoadWeightsArgs) ([]interp.DataFile, error) {
		f, err := interp.HashFile(ctx, resolvePath(at, a.File))
		if err != nil {
			return nil, err
		}
		return []interp.DataFile{f}, nil
	},
}

// inputWidthFromFile reads a model's input width from the weight of its
// first dense layer in f: a matrix of shape [out, in].
func inputWidthFromFile(f *safetensors.File, m *value.Model) (int, error) {
	for i, l := range m.Layers {
		if l.Kind != backend.Linear {
			continue
		}
		name := fmt.Sprintf("%d.weight", i)
		for _, t := range f.Tensors {
			if t.Name == name {
				if len(t.Shape) != 2 {
					return 0, fmt.Errorf("tensor %q has shape %v, but a dense layer's weight is a matrix [out, in]", name, t.Shape)
				}
				return t.Shape[1], nil
			}
		}
		return 0, fmt.Errorf("the weights have no tensor %q (the first dense layer's weight)", name)
	}
	return 0, fmt.Errorf("the model has no dense layer")
}

// resolvePath interprets path relative to the directory of the pipeline
// file of at.
func resolvePath(at lang.Span, path string) string {
	if filepath.IsAbs(path) || at.File == "" {
		return path
	}
	return filepath.Join(filepath.Dir(at.File), path)
}
