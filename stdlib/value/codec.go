package value

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/backend"
	"github.com/mlpipe/mlpipe/stdlib/safetensors"
)

// Metadata keys of the safetensors files mlpipe writes.
const (
	metaFormat  = "format"         // "pt", as PyTorch's own files say
	metaArch    = "mlpipe.arch"    // JSON of the backend.Arch
	metaModel   = "mlpipe.model"   // JSON of the value.Model's layers and input width
	metaTrained = "mlpipe.trained" // JSON of a Trained value's other fields
)

// countTensor reports whether a model tensor holds a count that PyTorch
// keeps as int64 (BatchNorm's num_batches_tracked).
func countTensor(t backend.Tensor) bool {
	return len(t.Shape) == 0 && strings.HasSuffix(t.Name, ".num_batches_tracked")
}

// EncodeWeights writes a model's weights as a safetensors file whose
// tensor names, shapes and dtypes are those of the PyTorch state_dict of
// the same nn.Sequential: float32 weights, int64 counts. meta is added to
// the file's metadata, beside the architecture.
func EncodeWeights(m *backend.Model, meta map[string]string) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	arch, err := json.Marshal(m.Arch)
	if err != nil {
		return nil, err
	}
	md := map[string]string{metaFormat: "pt", metaArch: string(arch)}
	for k, v := range meta {
		md[k] = v
	}
	tensors := make([]safetensors.Tensor, len(m.Params))
	for i, p := range m.Params {
		if countTensor(p) {
			tensors[i] = safetensors.I64(p.Name, p.Shape, []int64{int64(p.Data[0])})
			continue
		}
		tensors[i] = safetensors.F32(p.Name, p.Shape, p.Data)
	}
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, tensors, md); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// LoadWeights fills the tensors of architecture arch from a safetensors
// file, as PyTorch's load_state_dict(strict=True) would: every tensor the
// architecture needs must be there with its shape, and no other. Float
// tensors of any width are converted to float32.
func LoadWeights(f *safetensors.File, arch backend.Arch) (*backend.Model, error) {
	return loadWeights(f, arch, true)
}

// LoadWeightsSubset is LoadWeights that allows the file to hold other
// tensors too (a checkpoint's optimizer state, say).
func LoadWeightsSubset(f *safetensors.File, arch backend.Arch) (*backend.Model, error) {
	return loadWeights(f, arch, false)
}

func loadWeights(f *safetensors.File, arch backend.Arch, strict bool) (*backend.Model, error) {
	want, err := backend.Init(arch, 0)
	if err != nil {
		return nil, err
	}
	inFile := map[string]bool{}
	for _, t := range f.Tensors {
		inFile[t.Name] = true
	}
	needed := map[string]bool{}
	for i := range want.Params {
		p := &want.Params[i]
		needed[p.Name] = true
		if !inFile[p.Name] {
			return nil, fmt.Errorf("the weights have no tensor %q (the model needs one of shape %v)", p.Name, p.Shape)
		}
		data, shape, err := f.Float32(p.Name)
		if err != nil {
			return nil, err
		}
		if !slices.Equal(shape, p.Shape) {
			return nil, fmt.Errorf("tensor %q has shape %v, but the model needs %v", p.Name, shape, p.Shape)
		}
		p.Data = data
	}
	for _, t := range f.Tensors {
		if strict && !needed[t.Name] {
			return nil, fmt.Errorf("the weights have a tensor %q that the model does not use (it has %s)", t.Name, tensorNames(want))
		}
	}
	return want, want.Validate()
}

func tensorNames(m *backend.Model) string {
	names := make([]string, len(m.Params))
	for i, p := range m.Params {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

// decodeWeights reads a file written by EncodeWeights: the architecture
// from its metadata, the tensors from its data.
func decodeWeights(f *safetensors.File) (*backend.Model, error) {
	var arch backend.Arch
	if err := json.Unmarshal([]byte(f.Metadata[metaArch]), &arch); err != nil {
		return nil, fmt.Errorf("the file's %s metadata is not an architecture: %w", metaArch, err)
	}
	if err := arch.Validate(); err != nil {
		return nil, err
	}
	return LoadWeights(f, arch)
}

// modelMeta is the part of a Model that is not its weights.
type modelMeta struct {
	Layers []Layer `json:"layers"`
	In     int     `json:"in"`
}

// trainedMeta is the part of a Trained value that is not its model.
type trainedMeta struct {
	History []EpochStats `json:"history"`
	Seconds float64      `json:"seconds"`
	Steps   int          `json:"steps"`
	Samples int          `json:"samples"`
	SaveAs  string       `json:"save_as"`
	Encoder int          `json:"encoder_layers,omitempty"`
}

// EncodeTrained encodes a training result for the stage cache: the model
// file of Outputs, with the rest of the value in its metadata.
func EncodeTrained(v interp.Value) ([]byte, error) {
	t, ok := v.(*Trained)
	if !ok || t.Model == nil || t.Model.Weights == nil {
		return nil, fmt.Errorf("not a trained model: %T", v)
	}
	model, err := json.Marshal(modelMeta{Layers: t.Model.Layers, In: t.Model.In})
	if err != nil {
		return nil, err
	}
	rest, err := json.Marshal(trainedMeta{History: t.History, Seconds: t.Seconds, Steps: t.Steps, Samples: t.Samples, SaveAs: t.SaveAs, Encoder: t.EncoderLayers})
	if err != nil {
		return nil, err
	}
	return EncodeWeights(t.Model.Weights, map[string]string{metaModel: string(model), metaTrained: string(rest)})
}

// DecodeTrained decodes what EncodeTrained wrote.
func DecodeTrained(data []byte) (interp.Value, error) {
	f, err := safetensors.Parse(data)
	if err != nil {
		return nil, err
	}
	weights, err := decodeWeights(f)
	if err != nil {
		return nil, err
	}
	var mm modelMeta
	if err := json.Unmarshal([]byte(f.Metadata[metaModel]), &mm); err != nil {
		return nil, fmt.Errorf("the %s metadata: %w", metaModel, err)
	}
	var tm trainedMeta
	if err := json.Unmarshal([]byte(f.Metadata[metaTrained]), &tm); err != nil {
		return nil, fmt.Errorf("the %s metadata: %w", metaTrained, err)
	}
	return &Trained{
		Model:   &Model{Layers: mm.Layers, In: mm.In, Weights: weights},
		History: tm.History, Seconds: tm.Seconds, Steps: tm.Steps, Samples: tm.Samples, SaveAs: tm.SaveAs,
		EncoderLayers: tm.Encoder,
	}, nil
}

// metricsDoc is the cached form of a Metrics value. Values are kept as
// strings so that NaN and infinities survive JSON.
type metricsDoc struct {
	Names   []string          `json:"names"`
	Values  map[string]string `json:"values"`
	Samples int               `json:"samples"`
	Docs    map[string]string `json:"docs"`
	Files   []fileDoc         `json:"files,omitempty"`
}

// fileDoc is a cached output file of an evaluation.
type fileDoc struct {
	Name      string `json:"name"`
	MediaType string `json:"media_type"`
	Data      []byte `json:"data"`
}

// EncodeMetrics encodes an evaluation result for the stage cache.
func EncodeMetrics(v interp.Value) ([]byte, error) {
	m, ok := v.(*Metrics)
	if !ok {
		return nil, fmt.Errorf("not an evaluation: %T", v)
	}
	doc := metricsDoc{Names: m.Names, Values: map[string]string{}, Samples: m.Samples, Docs: m.Docs}
	for _, f := range m.Files {
		doc.Files = append(doc.Files, fileDoc{Name: f.Name, MediaType: f.MediaType, Data: f.Data})
	}
	for name, x := range m.Values {
		doc.Values[name] = strconv.FormatFloat(x, 'g', -1, 64)
	}
	return json.Marshal(doc)
}

// DecodeMetrics decodes what EncodeMetrics wrote.
func DecodeMetrics(data []byte) (interp.Value, error) {
	var doc metricsDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("cached evaluation: %w", err)
	}
	m := &Metrics{Names: doc.Names, Values: map[string]float64{}, Samples: doc.Samples, Docs: doc.Docs}
	for _, f := range doc.Files {
		m.Files = append(m.Files, interp.OutputFile{Name: f.Name, MediaType: f.MediaType, Data: f.Data})
	}
	for _, name := range doc.Names {
		s, ok := doc.Values[name]
		if !ok {
			return nil, fmt.Errorf("cached evaluation: no value for %s", name)
		}
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("cached evaluation: %s: %w", name, err)
		}
		m.Values[name] = x
	}
	return m, nil
}

// RegisterCodecs makes training and evaluation stages cacheable.
func RegisterCodecs(r *interp.Registry) {
	r.RegisterCodec(lang.KindTrained, interp.Codec{Version: 1, Encode: EncodeTrained, Decode: DecodeTrained})
	r.RegisterCodec(lang.KindMetrics, interp.Codec{Version: 1, Encode: EncodeMetrics, Decode: DecodeMetrics})
}

// Outputs writes the trained model's weights to SaveAs.safetensors in the
// run's output directory (nothing when SaveAs is empty).
func (t *Trained) Outputs() ([]interp.OutputFile, error) {
	if t.SaveAs == "" || t.Model == nil || t.Model.Weights == nil {
		return nil, nil
	}
	data, err := EncodeWeights(t.Model.Weights, nil)
	if err != nil {
		return nil, err
	}
	return []interp.OutputFile{{Name: t.SaveAs + ".safetensors", MediaType: "application/vnd.safetensors", Data: data}}, nil
}

// Measurements returns the loss of every epoch and the final loss and
// training time.
func (t *Trained) Measurements() []interp.Measurement {
	var ms []interp.Measurement
	for _, h := range t.History {
		ms = append(ms, interp.Measurement{Name: "loss", Step: int64(h.Epoch), Value: h.Loss})
	}
	if n := len(t.History); n > 0 {
		ms = append(ms, interp.Measurement{Name: "loss", Step: -1, Value: t.History[n-1].Loss})
	}
	return append(ms, interp.Measurement{Name: "seconds", Step: -1, Value: t.Seconds})
}

// Outputs returns the evaluation's files.
func (m *Metrics) Outputs() ([]interp.OutputFile, error) { return m.Files, nil }

// Measurements returns every metric as a final figure.
func (m *Metrics) Measurements() []interp.Measurement {
	ms := make([]interp.Measurement, len(m.Names))
	for i, name := range m.Names {
		ms[i] = interp.Measurement{Name: name, Step: -1, Value: m.Values[name]}
	}
	return ms
}

var (
	_ interp.Outputter = (*Trained)(nil)
	_ interp.Measured  = (*Trained)(nil)
	_ interp.Measured  = (*Metrics)(nil)
	_ interp.Outputter = (*Metrics)(nil)
)
