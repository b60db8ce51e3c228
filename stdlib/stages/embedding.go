package stages

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/augment"
	"github.com/mlpipe/mlpipe/stdlib/backend"
	"github.com/mlpipe/mlpipe/stdlib/repr"
	"github.com/mlpipe/mlpipe/stdlib/value"
)

// EmbeddingStatsArgs are the parameters of embedding_stats.
type EmbeddingStatsArgs struct {
	Model   interp.Value `mlp:"model,positional" doc:"The model whose outputs are the embedding, such as pre.encoder (the representation) or pre.model (the projector's outputs); an architecture without weights is initialised from the seed." kind:"model"`
	Data    interp.Value `mlp:"data,positional" doc:"The split to embed, such as data.test." kind:"dataset"`
	Augment interp.Value `mlp:"augment" doc:"If given, two views of each sample are drawn through it and the cross-correlation of their embeddings is measured as well." kind:"transform" optional:"true"`
	Samples int          `mlp:"samples" doc:"Embed the first this many samples of the split (all if fewer)." range:"[2,inf)"`
	Seed    *int64       `mlp:"seed" doc:"Seed of the views (and of an untrained model's weights); default: derived from the experiment seed and the stage's name." range:"[0,inf)"`
}

// embeddingFields are the members of embedding_stats's result.
var embeddingFields = []lang.Field{
	{Name: "effective_rank", Type: lang.Float, Doc: "Effective rank (Roy & Vetterli; RankMe) of the embedding covariance: exp of the entropy of its normalised eigenvalues, between 1 and the dimension."},
	{Name: "participation_ratio", Type: lang.Float, Doc: "(Σλ)²/Σλ² over the covariance eigenvalues."},
	{Name: "power_law_alpha", Type: lang.Float, Doc: "Slope α of the fit log λ_k ≈ c − α log k of the covariance spectrum."},
	{Name: "xcorr_diagonal", Type: lang.Float, Doc: "With augment: mean of the diagonal of the cross-correlation of two views' embeddings (1 is invariance)."},
	{Name: "xcorr_offdiagonal_rms", Type: lang.Float, Doc: "With augment: root mean square of its off-diagonal entries (0 is no redundancy)."},
}

var embeddingStatsDef = interp.Def[EmbeddingStatsArgs]{
	Name:     "embedding_stats",
	Category: "stage",
	Doc:      "Representation statistics of a model's outputs on a split (eval mode): the effective rank, participation ratio and power-law decay of the embedding covariance's spectrum, and, with augment, the cross-correlation of two views' embeddings (its mean diagonal, off-diagonal RMS and singular values). Writes STAGE_spectrum.csv (the covariance eigenvalues and the cross-correlation's singular values, by rank) and STAGE_spectrum.png to the run's output directory.",
	Example:  "stats = embedding_stats(fit.model, data.test, augment: zoom() | noise())",
	Result:   &lang.Object{Kind: lang.KindMetrics, Fields: embeddingFields},
	Defaults: EmbeddingStatsArgs{Samples: 2000},
	Infer: func(a *EmbeddingStatsArgs) (lang.Type, error) {
		if err := checkShape("model", a.Model, a.Data); err != nil {
			return nil, err
		}
		fields := embeddingFields
		if a.Augment == nil {
			fields = fields[:3] // no cross-correlation without views
		}
		return &lang.Object{Kind: lang.KindMetrics, Fields: fields}, nil
	},
	Build:   embeddingStats,
	Version: 1,
}

func embeddingStats(ctx context.Context, env *interp.Env, a *EmbeddingStatsArgs) (interp.Value, error) {
	model := a.Model.(*value.Model)
	data := a.Data.(*value.Dataset).D
	n := min(a.Samples, data.N)
	if n < 2 {
		return nil, interp.ArgErrorf("data", "the split has %d samples; the statistics need at least 2", data.N)
	}
	seed := env.Seed()
	if a.Seed != nil {
		seed = *a.Seed
	}
	f := data.Features()
	weights := model.Weights
	if weights == nil {
		arch, err := model.ArchFor(sampleShape(data))
		if err != nil {
			return nil, interp.ArgErrorf("model", "%v", err)
		}
		if weights, err = backend.Init(arch, seed); err != nil {
			return nil, err
		}
	}
	d := weights.Arch.OutputWidth()
	emb, err := backend.Predict(ctx, weights, data.X[:n*f], n, 1000)
	if err != nil {
		return nil, err
	}
	st, err := repr.Embedding(emb, n, d)
	if err != nil {
		return nil, err
	}
	res := &value.Metrics{
		Names:   []string{"effective_rank", "participation_ratio", "power_law_alpha"},
		Values:  map[string]float64{"effective_rank": st.EffectiveRank, "participation_ratio": st.ParticipationRatio, "power_law_alpha": st.PowerLawAlpha},
		Samples: n,
		Docs:    map[string]string{},
	}
	var singular []float64
	if a.Augment != nil {
		sh, ok := imageShape(data.Shape)
		if !ok {
			return nil, interp.ArgErrorf("augment", "augmentations need images, but the data set's samples have shape %v", data.Shape)
		}
		aug := a.Augment.(*value.Transform)
		views := make([]float32, 2*n*f)
		var scratch augment.Scratch
		pcg := rand.NewPCG(0, 0)
		rng := rand.New(pcg)
		for i := 0; i < n; i++ {
			img := augment.Image{C: sh[0], H: sh[1], W: sh[2], Pix: data.X[i*f : (i+1)*f]}
			for v := range 2 {
				pcg.Seed(uint64(seed), uint64(i)<<1|uint64(v))
				dst := augment.Image{C: sh[0], H: sh[1], W: sh[2], Pix: views[(v*n+i)*f : (v*n+i+1)*f]}
				aug.ApplyInto(rng, dst, img, &scratch)
			}
		}
		z, err := backend.Predict(ctx, weights, views, 2*n, 1000)
		if err != nil {
			return nil, err
		}
		c, err := repr.CrossCorrelation(z[:n*d], z[n*d:], n, d)
		if err != nil {
			return nil, err
		}
		singular = c.Singular
		res.Names = append(res.Names, "xcorr_diagonal", "xcorr_offdiagonal_rms")
		res.Values["xcorr_diagonal"] = c.MeanDiagonal
		res.Values["xcorr_offdiagonal_rms"] = c.OffDiagonalRMS
	}
	for _, fd := range embeddingFields {
		if _, ok := res.Values[fd.Name]; ok {
			res.Docs[fd.Name] = fd.Doc
		}
	}
	csv, png, err := spectrumFiles(env.Stage, st.Eigenvalues, singular)
	if err != nil {
		return nil, err
	}
	res.Files = []interp.OutputFile{
		{Name: env.Stage + "_spectrum.csv", MediaType: "text/csv", Data: csv},
		{Name: env.Stage + "_spectrum.png", MediaType: "image/png", Data: png},
	}
	env.Logf("%d-dimensional embedding of %d samples: effective rank %.2f, participation ratio %.2f", d, n, st.EffectiveRank, st.ParticipationRatio)
	return res, nil
}

// spectrumFiles writes the spectra as CSV (rank, covariance eigenvalue,
// cross-correlation singular value; empty where there is none) and as a
// PNG plot on a logarithmic value axis.
func spectrumFiles(title string, eig, singular []float64) (csv, png []byte, err error) {
	var b bytes.Buffer
	b.WriteString("rank,covariance_eigenvalue,xcorr_singular_value\n")
	for k := 0; k < max(len(eig), len(singular)); k++ {
		b.WriteString(strconv.Itoa(k + 1))
		for _, s := range [][]float64{eig, singular} {
			b.WriteByte(',')
			if k < len(s) {
				b.WriteString(strconv.FormatFloat(s[k], 'g', 8, 64))
			}
		}
		b.WriteByte('\n')
	}
	p := plot.New()
	p.Title.Text = title + ": spectra"
	p.X.Label.Text = "rank"
	p.Y.Label.Text = "value (log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())
	for i, s := range []struct {
		name string
		v    []float64
	}{{"covariance eigenvalues", eig}, {"cross-correlation singular values", singular}} {
		var xy plotter.XYs
		for k, v := range s.v {
			if v > 0 && !math.IsInf(v, 0) {
				xy = append(xy, plotter.XY{X: float64(k + 1), Y: v})
			}
		}
		if len(xy) == 0 {
			continue
		}
		line, err := plotter.NewLine(xy)
		if err != nil {
			return nil, nil, err
		}
		line.Color = plotutil.Color(i)
		p.Add(line)
		p.Legend.Add(s.name, line)
	}
	p.Legend.Top = true
	w, err := p.WriterTo(6*vg.Inch, 4*vg.Inch, "png")
	if err != nil {
		return nil, nil, fmt.Errorf("plotting the spectrum: %w", err)
	}
	var img bytes.Buffer
	if _, err := w.WriteTo(&img); err != nil {
		return nil, nil, fmt.Errorf("plotting the spectrum: %w", err)
	}
	return b.Bytes(), img.Bytes(), nil
}
