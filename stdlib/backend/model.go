package backend

import (
	"errors"
	"fmt"
	"slices"
)

// Tensor is a named tensor of a model: row-major float32 values with
// PyTorch state_dict naming and shapes ("0.weight", "0.bias",
// "1.running_mean", ...; see Arch). A scalar (num_batches_tracked) has an
// empty Shape and one value.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// Model is an architecture with its weights. Params holds the tensors of
// the layers in order, as a PyTorch state_dict of the same nn.Sequential
// lists them and Init creates them: for each Linear or Conv2d layer its
// weight and then (if the layer has one) its bias; for each BatchNorm2d
// layer i its trained "i.weight" and "i.bias" and then its buffers
// "i.running_mean", "i.running_var" (shape [C]) and "i.num_batches_tracked"
// (a scalar counting the training steps that updated the running
// statistics, stored as a float32, so exact up to 2^24 steps). Buffers are updated by a Trainer's
// steps but are not trained by its optimizer.
type Model struct {
	Arch   Arch
	Params []Tensor
}

// Clone returns a deep copy of m: changing one does not change the other.
// The clone of nil is nil.
func (m *Model) Clone() *Model {
	if m == nil {
		return nil
	}
	c := &Model{Arch: slices.Clone(m.Arch), Params: make([]Tensor, len(m.Params))}
	for i, p := range m.Params {
		c.Params[i] = Tensor{Name: p.Name, Shape: slices.Clone(p.Shape), Data: slices.Clone(p.Data)}
	}
	return c
}

// Validate reports whether m's architecture is valid and its Params are
// exactly the tensors the architecture needs, in order, with the right
// names, shapes and data lengths.
func (m *Model) Validate() error {
	if m == nil {
		return errors.New("backend: nil model")
	}
	if err := m.Arch.Validate(); err != nil {
		return err
	}
	specs := m.Arch.params()
	if len(m.Params) != len(specs) {
		return fmt.Errorf("backend: model has %d tensors, its architecture needs %d", len(m.Params), len(specs))
	}
	for i, s := range specs {
		p := m.Params[i]
		if p.Name != s.name {
			return fmt.Errorf("backend: tensor %d is named %q, want %q", i, p.Name, s.name)
		}
		if !slices.Equal(p.Shape, s.shape) {
			return fmt.Errorf("backend: tensor %q has shape %v, want %v", p.Name, p.Shape, s.shape)
		}
		if n := numel(s.shape); len(p.Data) != n {
			return fmt.Errorf("backend: tensor %q has %d values, its shape %v needs %d", p.Name, len(p.Data), s.shape, n)
		}
	}
	return nil
}

// numel returns the number of elements of a tensor of the given shape.
func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Prefix returns a copy of the model made of the first k layers of m and
// their tensors, named as in m (the state_dict of the first k modules of
// the same nn.Sequential).
func (m *Model) Prefix(k int) (*Model, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if k < 1 || k > len(m.Arch) {
		return nil, fmt.Errorf("backend: prefix of %d layers of a model of %d", k, len(m.Arch))
	}
	specs := m.Arch.params()
	out := &Model{Arch: slices.Clone(m.Arch[:k])}
	for i, s := range specs {
		if s.layer < k {
			p := m.Params[i]
			out.Params = append(out.Params, Tensor{Name: p.Name, Shape: slices.Clone(p.Shape), Data: slices.Clone(p.Data)})
		}
	}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("backend: the first %d layers: %w", k, err)
	}
	return out, nil
}
