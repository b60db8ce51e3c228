package stages

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/attack"
	"github.com/mlpipe/mlpipe/stdlib/backend"
	"github.com/mlpipe/mlpipe/stdlib/certify"
	"github.com/mlpipe/mlpipe/stdlib/robustness"
	"github.com/mlpipe/mlpipe/stdlib/value"
)

// RobustnessArgs are the parameters of robustness.
type RobustnessArgs struct {
	Model   interp.Value   `mlp:"model,positional" doc:"A trained model, such as fit.model or load_weights(...)." kind:"model"`
	Data    interp.Value   `mlp:"data,positional" doc:"The split to attack, such as data.test." kind:"dataset"`
	Attacks []interp.Value `mlp:"attacks" doc:"The battery: attack components such as fgsm(), pgd(steps: 10)." kind:"attack" required:"true"`
	Linf    []float64      `mlp:"linf" doc:"l∞ budgets at which robust accuracy is reported (and l∞ attacks run); the default suits inputs in [0, 1]." range:"(0,inf)"`
	L2      []float64      `mlp:"l2" doc:"l2 budgets." range:"(0,inf)"`
	L1      []float64      `mlp:"l1" doc:"l1 budgets." range:"(0,inf)"`
	L0      []float64      `mlp:"l0" doc:"l0 budgets: numbers of changed input values." range:"[1,inf)"`
	Samples int            `mlp:"samples" doc:"Attack the first this many samples of the split (all if fewer); 0: all." range:"[0,inf)"`
	Range   []float64      `mlp:"range" doc:"The valid range [low, high] of every input value; attacks stay inside it."`
	Batch   int            `mlp:"batch" doc:"Samples per attack step (affects speed and memory only)." range:"[1,inf)"`
	Certify bool           `mlp:"certify" doc:"Also report certified accuracy at the l2, l∞ and l1 budgets: an input is certified at a budget when its logit margin exceeds √2·L times the budget (in l2; l∞ budgets count √n times, l1 once), L the product of the layers' spectral norms, an upper bound on the model's Lipschitz constant computed with gonum. Models with layers that have no bound are reported without certificates."`
}

// robustnessNorms are the budget parameters, in the order tables show them.
var robustnessNorms = []attack.Norm{attack.Linf, attack.L2, attack.L1, attack.L0}

func (a *RobustnessArgs) budgets() map[attack.Norm][]float64 {
	b := map[attack.Norm][]float64{}
	for _, p := range robustnessNorms {
		var v []float64
		switch p {
		case attack.Linf:
			v = a.Linf
		case attack.L2:
			v = a.L2
		case "l1":
			v = a.L1
		case "l0":
			v = a.L0
		}
		if len(v) > 0 {
			b[p] = v
		}
	}
	return b
}

// robustnessFields are the members of robustness's result for the norms
// with budgets.
func robustnessFields(budgets map[attack.Norm][]float64) []lang.Field {
	fields := []lang.Field{
		{Name: "clean_accuracy", Type: lang.Float, Doc: "Accuracy on the attacked samples before any attack."},
		{Name: "robust_accuracy", Type: lang.Float, Doc: "The headline: the fraction of samples classified correctly that no attack of the battery breaks within the largest budget of any norm (the worst case per input over the battery)."},
	}
	for _, p := range robustnessNorms {
		if _, ok := budgets[p]; !ok {
			continue
		}
		fields = append(fields,
			lang.Field{Name: "robust_" + string(p), Type: lang.Float, Doc: fmt.Sprintf("Worst-case robust accuracy over the battery at the largest %s budget.", p)},
			lang.Field{Name: "median_" + string(p), Type: lang.Float, Doc: fmt.Sprintf("Median over the samples of the smallest verified %s perturbation any attack found (0 for a misclassified sample; +Inf, written null, where more than half were not broken).", p)})
		if p != attack.L0 {
			fields = append(fields, lang.Field{Name: "certified_" + string(p), Type: lang.Float, Doc: fmt.Sprintf("Certified accuracy at the largest %s budget, from the model's Lipschitz bound (NaN, written null, with certify: false or for a model without a bound).", p)})
		}
	}
	fields = append(fields, lang.Field{Name: "lipschitz_bound", Type: lang.Float, Doc: "The upper bound on the l2 Lipschitz constant of the model's logits that the certificates use (NaN, written null, without certificates)."})
	return fields
}

var robustnessDef = interp.Def[RobustnessArgs]{
	Name:     "robustness",
	Category: "stage",
	Doc: "Runs a battery of adversarial attacks on a trained model and reports, per attack and in the worst case over the battery for each input, the robust accuracy at each budget and the minimal perturbations found. " +
		"Every adversarial point is verified (inside the input range, within its budget, misclassified) and measured in every norm; the worst case counts a point in every norm it is small in. " +
		"Writes STAGE.md (the tables), STAGE.csv (robust accuracy by attack, norm and budget), STAGE_minimal.csv (per attack: inputs broken, median and mean perturbation, seconds) and STAGE_NORM.png (robust accuracy against budget) to the run's output directory.",
	Example:  "rob = robustness(fit.model, data.test, attacks: [fgsm(), pgd(steps: 10)], linf: [0.05, 0.1])",
	Result:   &lang.Object{Kind: lang.KindMetrics, Fields: robustnessFields(nil)},
	Defaults: RobustnessArgs{Linf: []float64{0.05, 0.1}, Range: []float64{0, 1}, Batch: 1000, Certify: true},
	Infer: func(a *RobustnessArgs) (lang.Type, error) {
		if err := checkShape("model", a.Model, a.Data); err != nil {
			return nil, err
		}
		if _, err := a.box(); err != nil {
			return nil, err
		}
		budgets := a.budgets()
		if len(budgets) == 0 {
			return nil, interp.ArgErrorf("linf", "give budgets for at least one norm (linf, l2, l1 or l0)")
		}
		for i, at := range a.Attacks {
			o := interp.ObjectOf(at)
			if o == nil || o.Attrs["budgeted"] != "true" {
				continue
			}
			if p := o.Attrs["norm"]; len(budgets[attack.Norm(p)]) == 0 {
				return nil, interp.ArgErrorf("attacks", "attack %d runs within %s budgets, but the stage gives none: add %s: [...]", i+1, p, p)
			}
		}
		return &lang.Object{Kind: lang.KindMetrics, Fields: robustnessFields(a.budgets())}, nil
	},
	Build:   runRobustness,
	Version: 3,
}

func (a *RobustnessArgs) box() (attack.Box, error) {
	if len(a.Range) != 2 {
		return attack.Box{}, interp.ArgErrorf("range", "want [low, high], got %d values", len(a.Range))
	}
	b := attack.Box{Lo: float32(a.Range[0]), Hi: float32(a.Range[1])}
	if err := b.Check(); err != nil {
		return attack.Box{}, interp.ArgErrorf("range", "%v", err)
	}
	return b, nil
}

func runRobustness(ctx context.Context, env *interp.Env, a *RobustnessArgs) (interp.Value, error) {
	model := a.Model.(*value.Model)
	data := a.Data.(*value.Dataset).D
	if model.Weights == nil {
		return nil, interp.ArgErrorf("model", "the model has no weights yet: attack a trained model, such as the .model of a train stage")
	}
	if in := model.Weights.Arch.InputWidth(); in != data.Features() {
		return nil, interp.ArgErrorf("data", "the model takes %d inputs, but the data set has %d features per sample", in, data.Features())
	}
	n := data.N
	if a.Samples > 0 {
		n = min(n, a.Samples)
	}
	if n == 0 {
		return nil, interp.ArgErrorf("data", "the data set is empty")
	}
	box, err := a.box()
	if err != nil {
		return nil, err
	}
	f := data.Features()
	x, y := data.X[:n*f], data.Y[:n]
	for i, v := range x {
		if !(v >= box.Lo && v <= box.Hi) {
			return nil, interp.ArgErrorf("range", "sample %d has value %v outside the range [%v, %v]: give the data's range", i/f, v, box.Lo, box.Hi)
		}
	}
	ig, err := backend.NewInputGradient(model.Weights, min(a.Batch, n))
	if err != nil {
		return nil, interp.ArgErrorf("model", "%v", err)
	}
	defer ig.Close()
	cfg := robustness.Config{Budgets: a.budgets(), Box: box}
	for _, v := range a.Attacks {
		cfg.Attacks = append(cfg.Attacks, v.(*value.Attack).Attack)
	}
	lip := math.NaN()
	if a.Certify {
		l, err := certify.Bound(model.Weights)
		switch {
		case errors.Is(err, certify.ErrUnsupported):
			env.Logf("no certificates: %v", err)
		case err != nil:
			return nil, fmt.Errorf("lipschitz bound: %w", err)
		case !(l.Bound > 0):
			env.Logf("no certificates: the model's Lipschitz bound is %v", l.Bound)
		default:
			lip = l.Bound
			for _, p := range []attack.Norm{attack.Linf, attack.L2, attack.L1} {
				if len(cfg.Budgets[p]) == 0 {
					continue
				}
				c, err := certify.NewCertifier(l, p, f)
				if err != nil {
					return nil, fmt.Errorf("certificates: %w", err)
				}
				cfg.Certifiers = append(cfg.Certifiers, c)
			}
		}
	}
	progress := env.Progress(int64(cfg.Runs()), "attack run")
	cfg.Progress = progress
	res, err := robustness.Evaluate(ctx, ig, x, y, cfg)
	progress.Finish()
	if err != nil {
		return nil, err
	}
	out := &value.Metrics{Values: map[string]float64{}, Docs: map[string]string{}, Samples: n}
	for _, fd := range robustnessFields(cfg.Budgets) {
		out.Names = append(out.Names, fd.Name)
		out.Docs[fd.Name] = fd.Doc
	}
	out.Values["clean_accuracy"] = res.CleanAccuracy
	out.Values["robust_accuracy"] = headline(res)
	out.Values["lipschitz_bound"] = lip
	for p, bs := range cfg.Budgets {
		out.Values["robust_"+string(p)] = res.Worst[p][len(bs)-1]
		out.Values["median_"+string(p)] = res.Median(p)
		if p != attack.L0 {
			out.Values["certified_"+string(p)] = math.NaN()
			if cs, ok := res.Certified[p]; ok {
				out.Values["certified_"+string(p)] = cs[len(bs)-1]
			}
		}
	}
	md := robustnessMarkdown(res, cfg.Budgets, lip)
	if _, err := env.Stdout().Write([]byte(md)); err != nil {
		return nil, err
	}
	out.Files = append(out.Files,
		interp.OutputFile{Name: env.Stage + ".md", MediaType: "text/markdown", Data: []byte(md)},
		interp.OutputFile{Name: env.Stage + ".csv", MediaType: "text/csv", Data: robustnessCSV(res, cfg.Budgets)},
		interp.OutputFile{Name: env.Stage + "_minimal.csv", MediaType: "text/csv", Data: minimalCSV(res)},
		interp.OutputFile{Name: env.Stage + "_inputs.csv", MediaType: "text/csv", Data: inputsCSV(res, y)})
	for _, p := range robustnessNorms {
		if _, ok := cfg.Budgets[p]; !ok {
			continue
		}
		png, err := robustnessPlot(res, p)
		if err != nil {
			return nil, err
		}
		out.Files = append(out.Files, interp.OutputFile{Name: env.Stage + "_" + string(p) + ".png", MediaType: "image/png", Data: png})
	}
	return out, nil
}

// headline is the fraction of samples that survive every attack at the
// largest budget of every norm.
func headline(res *robustness.Result) float64 {
	n := res.Samples
	robust := 0
	for i := 0; i < n; i++ {
		ok := true
		for p, bs := range res.Budgets {
			b := bs[len(bs)-1]
			if w := res.WorstNearest[p][i]; !(w > b*(1+1e-5)+1e-6) {
				ok = false
			}
		}
		if ok {
			robust++
		}
	}
	return float64(robust) / float64(n)
}

// formatBudget writes a budget compactly (0.05, 1.5, 10).
func formatBudget(b float64) string { return strconv.FormatFloat(b, 'g', 6, 64) }

func formatDist(d float64) string {
	switch {
	case math.IsInf(d, 1):
		return "inf"
	case math.IsNaN(d):
		return "n/a"
	}
	return strconv.FormatFloat(d, 'f', 4, 64)
}

// robustnessMarkdown lays out the battery's result: per norm, robust
// accuracy by budget for each attack and the worst case; then the minimal
// perturbations.
func robustnessMarkdown(res *robustness.Result, budgets map[attack.Norm][]float64, lip float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Robustness on %d samples, clean accuracy %.4f; worst case over the battery per input.\n", res.Samples, res.CleanAccuracy)
	if !math.IsNaN(lip) {
		fmt.Fprintf(&b, "Certified: no perturbation within the budget can change the class, from the Lipschitz bound L = %.4g of the logits (l2).\n", lip)
	}
	for _, p := range robustnessNorms {
		bs, ok := budgets[p]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "\n| %s budget |", p)
		for _, ar := range res.Attacks {
			fmt.Fprintf(&b, " %s |", ar.Name)
		}
		cs, certified := res.Certified[p]
		b.WriteString(" **worst case** |")
		cols := len(res.Attacks) + 2
		if certified {
			b.WriteString(" certified |")
			cols++
		}
		b.WriteString(" decided by |\n|---|")
		b.WriteString(strings.Repeat("---|", cols) + "\n")
		for k, bud := range bs {
			fmt.Fprintf(&b, "| %s |", formatBudget(bud))
			for _, ar := range res.Attacks {
				fmt.Fprintf(&b, " %.4f |", ar.Robust[p][k])
			}
			fmt.Fprintf(&b, " **%.4f** |", res.Worst[p][k])
			if certified {
				fmt.Fprintf(&b, " %.4f |", cs[k])
			}
			fmt.Fprintf(&b, " %s |\n", decidedBy(res, p, k))
		}
	}
	b.WriteString("\nPerturbation sizes in each attack's own norm. For an attack within a budget they are those of the points it found at the listed budgets: an upper bound on the minimal perturbation, on the budget grid. Broken: the fraction of correctly classified samples with a verified adversarial point; rejected: points that failed verification.\n")
	b.WriteString("\n| attack | norm | broken | median | mean (broken) | rejected | seconds |\n|---|---|---|---|---|---|---|\n")
	for _, ar := range res.Attacks {
		fmt.Fprintf(&b, "| %s | %s | %.4f | %s | %s | %d | %.1f |\n", ar.Name, ar.Norm, ar.Found, formatDist(ar.MedianOf()), formatDist(ar.MeanFound()), ar.Rejected, ar.Seconds)
	}
	for _, p := range robustnessNorms {
		if _, ok := budgets[p]; ok {
			fmt.Fprintf(&b, "| worst case | %s | | %s | | | |\n", p, formatDist(res.Median(p)))
		}
	}
	return b.String()
}

// decidedBy names the attacks the worst case rests on at the k-th budget
// of norm p, with the inputs each was the first to break.
func decidedBy(res *robustness.Result, p attack.Norm, k int) string {
	var parts []string
	for ai, c := range res.Decisive[p][k] {
		if c > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", res.Attacks[ai].Name, c))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// inputsCSV has a row per attacked input: its label, whether the model
// classifies it correctly, the smallest verified perturbation the battery
// found in each norm with budgets (0 for a misclassified input, inf where
// none was found) and its certified radius in each certified norm.
func inputsCSV(res *robustness.Result, y []int32) []byte {
	var b bytes.Buffer
	var nearest, certified []attack.Norm
	b.WriteString("input,label,correct")
	for _, p := range robustnessNorms {
		if _, ok := res.WorstNearest[p]; ok {
			nearest = append(nearest, p)
			b.WriteString(",nearest_" + string(p))
		}
	}
	for _, p := range robustnessNorms {
		if _, ok := res.Radii[p]; ok {
			certified = append(certified, p)
			b.WriteString(",certified_" + string(p))
		}
	}
	b.WriteString("\n")
	for i, label := range y {
		fmt.Fprintf(&b, "%d,%d,%t", i, label, res.Correct[i])
		for _, p := range nearest {
			fmt.Fprintf(&b, ",%s", csvDist(res.WorstNearest[p][i]))
		}
		for _, p := range certified {
			fmt.Fprintf(&b, ",%s", csvDist(res.Radii[p][i]))
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

// csvDist writes a distance for a CSV file: inf, or 6 significant digits.
func csvDist(d float64) string {
	if math.IsInf(d, 1) {
		return "inf"
	}
	return strconv.FormatFloat(d, 'g', 6, 64)
}

// robustnessCSV is robust accuracy in long form: one row per attack (and
// the worst case), norm and budget.
func robustnessCSV(res *robustness.Result, budgets map[attack.Norm][]float64) []byte {
	var b bytes.Buffer
	b.WriteString("attack,norm,budget,robust_accuracy\n")
	for _, p := range robustnessNorms {
		for k, bud := range budgets[p] {
			for _, ar := range res.Attacks {
				fmt.Fprintf(&b, "%s,%s,%s,%.6f\n", csvField(ar.Name), p, formatBudget(bud), ar.Robust[p][k])
			}
			fmt.Fprintf(&b, "worst case,%s,%s,%.6f\n", p, formatBudget(bud), res.Worst[p][k])
			if cs, ok := res.Certified[p]; ok {
				fmt.Fprintf(&b, "certified,%s,%s,%.6f\n", p, formatBudget(bud), cs[k])
			}
		}
	}
	return b.Bytes()
}

// minimalCSV is one row per attack: how many correctly classified inputs
// it broke and the sizes of its perturbations in its own norm.
func minimalCSV(res *robustness.Result) []byte {
	var b bytes.Buffer
	b.WriteString("attack,norm,minimal,broken,median,mean_broken,rejected,seconds\n")
	for _, ar := range res.Attacks {
		fmt.Fprintf(&b, "%s,%s,%t,%.6f,%s,%s,%d,%.3f\n", csvField(ar.Name), ar.Norm, ar.Minimal, ar.Found,
			formatDist(ar.MedianOf()), formatDist(ar.MeanFound()), ar.Rejected, ar.Seconds)
	}
	return b.Bytes()
}

func csvField(s string) string {
	if strings.ContainsAny(s, ",\"\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// robustnessPlot draws robust accuracy against the budget of norm p: one
// line per attack and the worst case.
func robustnessPlot(res *robustness.Result, p attack.Norm) ([]byte, error) {
	pl := plot.New()
	pl.Title.Text = fmt.Sprintf("Robust accuracy, %s (%d samples)", p, res.Samples)
	pl.X.Label.Text = string(p) + " budget"
	pl.Y.Label.Text = "accuracy"
	pl.Y.Min, pl.Y.Max = 0, 1
	bs := res.Budgets[p]
	line := func(acc []float64) plotter.XYs {
		pts := plotter.XYs{{X: 0, Y: res.CleanAccuracy}}
		for k, b := range bs {
			pts = append(pts, plotter.XY{X: b, Y: acc[k]})
		}
		return pts
	}
	var args []any
	for _, ar := range res.Attacks {
		args = append(args, ar.Name, line(ar.Robust[p]))
	}
	if err := plotutil.AddLinePoints(pl, args...); err != nil {
		return nil, err
	}
	worst, points, err := plotter.NewLinePoints(line(res.Worst[p]))
	if err != nil {
		return nil, err
	}
	worst.Width, points.Shape = vg.Points(2.5), draw.BoxGlyph{}
	pl.Add(worst, points)
	pl.Legend.Add("worst case", worst, points)
	if cs, ok := res.Certified[p]; ok {
		cert, err := plotter.NewLine(line(cs))
		if err != nil {
			return nil, err
		}
		cert.Width, cert.Dashes = vg.Points(2), []vg.Length{vg.Points(4), vg.Points(3)}
		pl.Add(cert)
		pl.Legend.Add("certified (lower bound)", cert)
	}
	return withLegendBeside(pl, 6*vg.Inch, 4*vg.Inch)
}

// withLegendBeside renders pl as a PNG of a w × h plot with its legend in
// a column to the right, where it hides no curve.
func withLegendBeside(pl *plot.Plot, w, h vg.Length) ([]byte, error) {
	leg := pl.Legend
	leg.Left, leg.Top = true, true
	dc := draw.Canvas{}
	width := w + leg.Rectangle(dc).Size().X + vg.Points(24)
	img := vgimg.New(width, h)
	c := draw.New(img)
	pl.Legend = plot.NewLegend()
	pl.Draw(draw.Crop(c, 0, w-width, 0, 0))
	leg.Draw(draw.Crop(c, w+vg.Points(12), -vg.Points(12), 0, -vg.Points(24)))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
