package value

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/augment"
)

// TransformStep is one named augmentation of a Transform.
type TransformStep struct {
	Name string // the component, e.g. "hflip"
	T    augment.Transform
}

// Transform is a composition of image augmentations, applied in order
// (a | b | c in a pipeline).
type Transform struct {
	Steps []TransformStep
}

// Type returns the transform type.
func (t *Transform) Type() lang.Type { return lang.ObjectOf(lang.KindTransform) }

// Apply applies every step in turn, drawing from rng.
func (t *Transform) Apply(rng *rand.Rand, m augment.Image) augment.Image {
	return t.compose().Apply(rng, m)
}

// ApplyInto writes into dst what Apply returns for src, with the working
// images of s (see augment.Compose.ApplyInto).
func (t *Transform) ApplyInto(rng *rand.Rand, dst, src augment.Image, s *augment.Scratch) {
	t.compose().ApplyInto(rng, dst, src, s)
}

func (t *Transform) compose() augment.Compose {
	c := make(augment.Compose, len(t.Steps))
	for i, s := range t.Steps {
		c[i] = s.T
	}
	return c
}

// String lists the steps, e.g. "zoom | hflip | noise".
func (t *Transform) String() string {
	names := make([]string, len(t.Steps))
	for i, s := range t.Steps {
		names[i] = s.Name
	}
	return strings.Join(names, " | ")
}

// ComposeTransforms returns the transform applying parts in order.
func ComposeTransforms(parts []*Transform) *Transform {
	out := &Transform{}
	for _, p := range parts {
		out.Steps = append(out.Steps, p.Steps...)
	}
	return out
}

// PretrainedType returns the static type of a self-supervised pretraining
// result: a training result whose members also include the encoder, with
// its output width (0 when unknown).
func PretrainedType(in, out, encoderOut int) *lang.Object {
	t := TrainedType(in, out)
	t.Fields = append(t.Fields, lang.Field{Name: "encoder", Type: ModelType(in, encoderOut),
		Doc: "The trained encoder: the layers before the projector, with their weights."})
	return t
}

// encoder returns the trained encoder of a pretraining result.
func (t *Trained) encoder() (*Model, error) {
	if t.EncoderLayers == 0 {
		return nil, fmt.Errorf("a training result has no member %q (only pretrain's results have an encoder)", "encoder")
	}
	return t.Model.Prefix(t.EncoderLayers)
}
