package stages

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/mlpipe/mlpipe/stdlib/backend"
	"github.com/mlpipe/mlpipe/stdlib/safetensors"
	"github.com/mlpipe/mlpipe/stdlib/value"
)

// trainCheckpoint is the state of a training stage at the end of an epoch:
// enough to continue exactly as if it had not stopped.
type trainCheckpoint struct {
	Epoch   int                // epochs done
	Steps   int                // optimizer steps done
	Seconds float64            // training time so far
	History []value.EpochStats // one entry per epoch done
	Model   *backend.Model
	Opt     backend.OptimizerState
}

// checkpointMeta is the metadata of an encoded checkpoint.
type checkpointMeta struct {
	Epoch    int                `json:"epoch"`
	Steps    int                `json:"steps"`
	Seconds  float64            `json:"seconds"`
	History  []value.EpochStats `json:"history"`
	Arch     backend.Arch       `json:"arch"`
	OptName  string             `json:"optimizer"`
	OptStep  int                `json:"optimizer_step"`
	Buffers  int                `json:"buffers"` // buffer sets of the optimizer
	HasSlots [][]bool           `json:"has"`     // which buffers are set
}

// encodeCheckpoint writes c as a safetensors file: the model's tensors
// under their names, the optimizer's buffers as "optimizer.K.I", the rest
// in the metadata.
func encodeCheckpoint(c *trainCheckpoint) ([]byte, error) {
	meta := checkpointMeta{Epoch: c.Epoch, Steps: c.Steps, Seconds: c.Seconds, History: c.History, Arch: c.Model.Arch,
		OptName: c.Opt.Name, OptStep: c.Opt.Step, Buffers: len(c.Opt.Buffers)}
	var tensors []safetensors.Tensor
	for _, p := range c.Model.Params {
		tensors = append(tensors, safetensors.F32(p.Name, p.Shape, p.Data))
	}
	for k, set := range c.Opt.Buffers {
		has := make([]bool, len(set))
		for i, b := range set {
			if b == nil {
				continue
			}
			has[i] = true
			tensors = append(tensors, safetensors.F32(bufferName(k, i), []int{len(b)}, b))
		}
		meta.HasSlots = append(meta.HasSlots, has)
	}
	mj, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, tensors, map[string]string{"mlpipe.checkpoint": string(mj)}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func bufferName(k, i int) string { return "optimizer." + strconv.Itoa(k) + "." + strconv.Itoa(i) }

// decodeCheckpoint reads what encodeCheckpoint wrote.
func decodeCheckpoint(data []byte) (*trainCheckpoint, error) {
	f, err := safetensors.Parse(data)
	if err != nil {
		return nil, err
	}
	var meta checkpointMeta
	if err := json.Unmarshal([]byte(f.Metadata["mlpipe.checkpoint"]), &meta); err != nil {
		return nil, fmt.Errorf("checkpoint metadata: %w", err)
	}
	if err := meta.Arch.Validate(); err != nil {
		return nil, err
	}
	model, err := value.LoadWeightsSubset(f, meta.Arch)
	if err != nil {
		return nil, err
	}
	c := &trainCheckpoint{Epoch: meta.Epoch, Steps: meta.Steps, Seconds: meta.Seconds, History: meta.History, Model: model,
		Opt: backend.OptimizerState{Name: meta.OptName, Step: meta.OptStep}}
	if len(meta.HasSlots) != meta.Buffers {
		return nil, fmt.Errorf("checkpoint: %d buffer sets, %d described", meta.Buffers, len(meta.HasSlots))
	}
	for k, has := range meta.HasSlots {
		set := make([][]float32, len(has))
		for i, ok := range has {
			if !ok {
				continue
			}
			if set[i], _, err = f.Float32(bufferName(k, i)); err != nil {
				return nil, err
			}
		}
		c.Opt.Buffers = append(c.Opt.Buffers, set)
	}
	return c, nil
}
