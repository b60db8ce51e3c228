// Package transforms declares the image augmentations of the standard
// library as transform components (package augment implements them) and
// their composition with |: zoom(scale: [0.6, 1.0]) | hflip() | noise(std:
// 0.05). A pretraining stage draws the views of each sample through one
// such transform, with seeded randomness.
package transforms

import (
	"context"
	"fmt"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/augment"
	"github.com/mlpipe/mlpipe/stdlib/value"
)

// Register adds the transforms and their composition to r.
func Register(r *interp.Registry) {
	interp.Register(r, zoomDef)
	interp.Register(r, resizedCropDef)
	interp.Register(r, padCropDef)
	interp.Register(r, hflipDef)
	interp.Register(r, rotateDef)
	interp.Register(r, jitterDef)
	interp.Register(r, intensityDef)
	interp.Register(r, noiseDef)
	interp.Register(r, blurDef)
	interp.Register(r, cutoutDef)
	r.RegisterPipe(lang.KindTransform, func(parts []interp.Value) (interp.Value, error) {
		ts := make([]*value.Transform, len(parts))
		for i, p := range parts {
			t, ok := p.(*value.Transform)
			if !ok {
				return nil, fmt.Errorf("internal error: %T is not a transform", p)
			}
			ts[i] = t
		}
		return value.ComposeTransforms(ts), nil
	})
}

// transformType is the static type of every transform.
var transformType = lang.ObjectOf(lang.KindTransform)

// one returns the transform of one step.
func one(name string, t augment.Transform) (interp.Value, error) {
	return &value.Transform{Steps: []value.TransformStep{{Name: name, T: t}}}, nil
}

// interval checks that a parameter is a list [lo, hi] with lo <= hi.
func interval(param string, v []float64) ([2]float64, error) {
	if len(v) != 2 {
		return [2]float64{}, interp.ArgErrorf(param, "want a range [low, high], got %d values", len(v))
	}
	if v[0] > v[1] {
		return [2]float64{}, interp.ArgErrorf(param, "the range [%g, %g] is empty: its low end is above its high end", v[0], v[1])
	}
	return [2]float64{v[0], v[1]}, nil
}

// inferInterval returns an Infer function checking one interval parameter.
func inferInterval[A any](param string, field func(*A) []float64) func(*A) (lang.Type, error) {
	return func(a *A) (lang.Type, error) {
		if _, err := interval(param, field(a)); err != nil {
			return nil, err
		}
		return transformType, nil
	}
}

// ZoomArgs are the parameters of zoom.
type ZoomArgs struct {
	Scale []float64 `mlp:"scale" doc:"Range [low, high] of the window's side as a fraction of the image's." range:"(0,1]"`
}

var zoomDef = interp.Def[ZoomArgs]{
	Name:     "zoom",
	Category: lang.KindTransform,
	Doc:      "Random zoom: a square-proportioned window whose side is a fraction of the image's drawn uniformly from scale, anywhere inside the image, resized back bilinearly (PyTorch's affine_grid + grid_sample, align_corners=False, as ../shared/bench/torch_ssl_peer.py does).",
	Example:  "aug = zoom(scale: [0.6, 1.0]) | hflip()",
	Result:   transformType,
	Defaults: ZoomArgs{Scale: []float64{0.6, 1}},
	Infer:    inferInterval[ZoomArgs]("scale", func(a *ZoomArgs) []float64 { return a.Scale }),
	Build: func(ctx context.Context, env *interp.Env, a *ZoomArgs) (interp.Value, error) {
		s, err := interval("scale", a.Scale)
		if err != nil {
			return nil, err
		}
		return one("zoom", augment.Zoom{Scale: s})
	},
}

// ResizedCropArgs are the parameters of random_resized_crop.
type ResizedCropArgs struct {
	Scale []float64 `mlp:"scale" doc:"Range [low, high] of the window's area as a fraction of the image's." range:"(0,1]"`
	Ratio []float64 `mlp:"ratio" doc:"Range [low, high] of the window's aspect ratio (width/height), drawn log-uniformly." range:"(0,inf)"`
}

var resizedCropDef = interp.Def[ResizedCropArgs]{
	Name:     "random_resized_crop",
	Category: lang.KindTransform,
	Doc:      "torchvision's RandomResizedCrop: a random window of an area fraction in scale and an aspect ratio in ratio (10 tries, then the largest central crop of an allowed ratio), resized back to the image's size bilinearly.",
	Example:  "aug = random_resized_crop(scale: [0.08, 1.0])",
	Result:   transformType,
	Defaults: ResizedCropArgs{Scale: []float64{0.08, 1}, Ratio: []float64{3.0 / 4, 4.0 / 3}},
	Infer: func(a *ResizedCropArgs) (lang.Type, error) {
		if _, err := interval("scale", a.Scale); err != nil {
			return nil, err
		}
		if _, err := interval("ratio", a.Ratio); err != nil {
			return nil, err
		}
		return transformType, nil
	},
	Build: func(ctx context.Context, env *interp.Env, a *ResizedCropArgs) (interp.Value, error) {
		s, err := interval("scale", a.Scale)
		if err != nil {
			return nil, err
		}
		r, err := interval("ratio", a.Ratio)
		if err != nil {
			return nil, err
		}
		return one("random_resized_crop", augment.ResizedCrop{Scale: s, Ratio: r})
	},
}

// PadCropArgs are the parameters of pad_crop.
type PadCropArgs struct {
	Pad int `mlp:"pad" doc:"Pixels of zeros added on every side before cropping back to the image's size at a random offset." range:"[1,64]"`
}

var padCropDef = interp.Def[PadCropArgs]{
	Name:     "pad_crop",
	Category: lang.KindTransform,
	Doc:      "Crop with padding (the CIFAR random crop): pad every side with zeros and crop a window of the image's size at a random offset.",
	Example:  "aug = pad_crop(pad: 4) | hflip()",
	Result:   transformType,
	Defaults: PadCropArgs{Pad: 4},
	Build: func(ctx context.Context, env *interp.Env, a *PadCropArgs) (interp.Value, error) {
		return one("pad_crop", augment.PadCrop{Pad: a.Pad})
	},
}

// HFlipArgs are the parameters of hflip.
type HFlipArgs struct {
	P float64 `mlp:"p" doc:"Probability of mirroring the image left to right." range:"[0,1]"`
}

var hflipDef = interp.Def[HFlipArgs]{
	Name:     "hflip",
	Category: lang.KindTransform,
	Doc:      "Horizontal flip with probability p.",
	Example:  "aug = hflip(p: 0.5)",
	Result:   transformType,
	Defaults: HFlipArgs{P: 0.5},
	Build: func(ctx context.Context, env *interp.Env, a *HFlipArgs) (interp.Value, error) {
		return one("hflip", augment.HFlip{P: a.P})
	},
}

// RotateArgs are the parameters of rotate.
type RotateArgs struct {
	Degrees float64 `mlp:"degrees" doc:"The angle is drawn uniformly from [-degrees, degrees]." range:"[0,180]"`
}

var rotateDef = interp.Def[RotateArgs]{
	Name:     "rotate",
	Category: lang.KindTransform,
	Doc:      "Small rotation about the image's centre, bilinear, zeros outside.",
	Example:  "aug = rotate(degrees: 10)",
	Result:   transformType,
	Defaults: RotateArgs{Degrees: 10},
	Build: func(ctx context.Context, env *interp.Env, a *RotateArgs) (interp.Value, error) {
		return one("rotate", augment.Rotate{Degrees: a.Degrees})
	},
}

// JitterArgs are the parameters of jitter.
type JitterArgs struct {
	Brightness float64 `mlp:"brightness" doc:"Brightness factor drawn from [1-brightness, 1+brightness]." range:"[0,1]"`
	Contrast   float64 `mlp:"contrast" doc:"Contrast factor (about the image's mean) drawn from [1-contrast, 1+contrast]." range:"[0,1]"`
}

var jitterDef = interp.Def[JitterArgs]{
	Name:     "jitter",
	Category: lang.KindTransform,
	Doc:      "Brightness then contrast jitter, clamped to [0, 1], as torchvision's ColorJitter does for these two.",
	Example:  "aug = jitter(brightness: 0.4, contrast: 0.4)",
	Result:   transformType,
	Defaults: JitterArgs{Brightness: 0.4, Contrast: 0.4},
	Build: func(ctx context.Context, env *interp.Env, a *JitterArgs) (interp.Value, error) {
		return one("jitter", augment.Jitter{Brightness: a.Brightness, Contrast: a.Contrast})
	},
}

// IntensityArgs are the parameters of intensity.
type IntensityArgs struct {
	Range []float64 `mlp:"range" doc:"Range [low, high] of the factor every pixel is multiplied by." range:"[0,inf)"`
}

var intensityDef = interp.Def[IntensityArgs]{
	Name:     "intensity",
	Category: lang.KindTransform,
	Doc:      "Multiplies every pixel by one factor drawn uniformly from range, unclamped (the contrast jitter of ../shared/bench/torch_ssl_peer.py).",
	Example:  "aug = intensity(range: [0.6, 1.4])",
	Result:   transformType,
	Defaults: IntensityArgs{Range: []float64{0.6, 1.4}},
	Infer:    inferInterval[IntensityArgs]("range", func(a *IntensityArgs) []float64 { return a.Range }),
	Build: func(ctx context.Context, env *interp.Env, a *IntensityArgs) (interp.Value, error) {
		r, err := interval("range", a.Range)
		if err != nil {
			return nil, err
		}
		return one("intensity", augment.Intensity{Range: r})
	},
}

// NoiseArgs are the parameters of noise.
type NoiseArgs struct {
	Std float64 `mlp:"std" doc:"Standard deviation of the gaussian noise added to every pixel (unclamped)." range:"[0,inf)"`
}

var noiseDef = interp.Def[NoiseArgs]{
	Name:     "noise",
	Category: lang.KindTransform,
	Doc:      "Adds independent gaussian noise to every pixel.",
	Example:  "aug = noise(std: 0.05)",
	Result:   transformType,
	Defaults: NoiseArgs{Std: 0.05},
	Build: func(ctx context.Context, env *interp.Env, a *NoiseArgs) (interp.Value, error) {
		return one("noise", augment.Noise{Std: a.Std})
	},
}

// BlurArgs are the parameters of blur.
type BlurArgs struct {
	Sigma []float64 `mlp:"sigma" doc:"Range [low, high] of the gaussian's standard deviation in pixels." range:"(0,16]"`
}

var blurDef = interp.Def[BlurArgs]{
	Name:     "blur",
	Category: lang.KindTransform,
	Doc:      "Gaussian blur with a standard deviation drawn from sigma, truncated at 3 sigma, border pixels repeated.",
	Example:  "aug = blur(sigma: [0.1, 2.0])",
	Result:   transformType,
	Defaults: BlurArgs{Sigma: []float64{0.1, 2}},
	Infer:    inferInterval[BlurArgs]("sigma", func(a *BlurArgs) []float64 { return a.Sigma }),
	Build: func(ctx context.Context, env *interp.Env, a *BlurArgs) (interp.Value, error) {
		s, err := interval("sigma", a.Sigma)
		if err != nil {
			return nil, err
		}
		return one("blur", augment.Blur{Sigma: s})
	},
}

// CutoutArgs are the parameters of cutout.
type CutoutArgs struct {
	Size int `mlp:"size" doc:"Side in pixels of the square set to zero (clipped at the borders), centred at a random pixel." range:"[1,1024]"`
}

var cutoutDef = interp.Def[CutoutArgs]{
	Name:     "cutout",
	Category: lang.KindTransform,
	Doc:      "Cutout: a square of zeros at a random position.",
	Example:  "aug = cutout(size: 8)",
	Result:   transformType,
	Defaults: CutoutArgs{Size: 8},
	Build: func(ctx context.Context, env *interp.Env, a *CutoutArgs) (interp.Value, error) {
		return one("cutout", augment.Cutout{Size: a.Size})
	},
}
