package interp_test

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
)

func nopBuild[A any](ctx context.Context, env *interp.Env, a *A) (interp.Value, error) {
	return &fakeValue{kind: lang.KindModel}, nil
}

// def returns a valid declaration of a component with arguments A.
func def[A any](name string, defaults A) interp.Def[A] {
	return interp.Def[A]{
		Name: name, Category: lang.KindModel, Doc: "A test component.",
		Result: lang.ObjectOf(lang.KindModel), Defaults: defaults, Build: nopBuild[A],
	}
}

// registerPanic registers d in r and returns the panic message, or "" if
// Register did not panic.
func registerPanic[A any](r *interp.Registry, d interp.Def[A]) (msg string) {
	defer func() {
		if p := recover(); p != nil {
			msg = fmt.Sprint(p)
		}
	}()
	interp.Register(r, d)
	return ""
}

type (
	okArgs struct {
		Model  interp.Value   `mlp:"model,positional" doc:"A model." kind:"model"`
		N      int            `mlp:"n,positional" doc:"A count." range:"[1,inf)" required:"true"`
		Rate   float64        `mlp:"rate" doc:"A rate." range:"(0,1]"`
		Mode   string         `mlp:"mode" doc:"A mode." enum:"a,b"`
		Flag   bool           `mlp:"flag" doc:"A flag."`
		Sizes  []int          `mlp:"sizes" doc:"Sizes." range:"[1,inf)"`
		Names  []string       `mlp:"names" doc:"Names." enum:"x,y"`
		Seed   *int64         `mlp:"seed" doc:"A seed." range:"[0,inf)"`
		Scale  *float64       `mlp:"scale" doc:"A scale."`
		Others []interp.Value `mlp:"others" doc:"More models." kind:"model" optional:"true"`
		Big    int64          `mlp:"big" doc:"A big number."`
		Reals  []float64      `mlp:"reals" doc:"Reals."`
		Skip   int            // no mlp tag: not a parameter
	}
	noDocArgs struct {
		X int `mlp:"x"`
	}
	badNameArgs struct {
		X int `mlp:"Bad-Name" doc:"x"`
	}
	emptyNameArgs struct {
		X int `mlp:"" doc:"x"`
	}
	dupParamArgs struct {
		X int `mlp:"x" doc:"x"`
		Y int `mlp:"x" doc:"y"`
	}
	mapArgs struct {
		M map[string]int `mlp:"m" doc:"m"`
	}
	int32Args struct {
		N int32 `mlp:"n" doc:"n"`
	}
	boolListArgs struct {
		B []bool `mlp:"b" doc:"b"`
	}
	stringPtrArgs struct {
		S *string `mlp:"s" doc:"s"`
	}
	valueNoKindArgs struct {
		V interp.Value `mlp:"v" doc:"v"`
	}
	valuesNoKindArgs struct {
		V []interp.Value `mlp:"v" doc:"v"`
	}
	rangeArgs struct {
		LR float64 `mlp:"lr" doc:"lr" range:"(0,inf)"`
	}
	listRangeArgs struct {
		Sizes []int `mlp:"sizes" doc:"s" range:"[1,inf)"`
	}
	badRangeArgs struct {
		LR float64 `mlp:"lr" doc:"lr" range:"0..1"`
	}
	enumArgs struct {
		Mode string `mlp:"mode" doc:"m" enum:"relu,tanh"`
	}
	enumIntArgs struct {
		N int `mlp:"n" doc:"n" enum:"1,2"`
	}
	rangeStringArgs struct {
		S string `mlp:"s" doc:"s" range:"[0,1]"`
	}
	unexportedArgs struct {
		//lint:ignore U1000 the field exists to be rejected by Register.
		n int `mlp:"n" doc:"n"`
	}
)

func TestRegisterPanics(t *testing.T) {
	for _, tc := range []struct {
		name     string
		register func(r *interp.Registry) string
		want     string
	}{
		{"missing doc tag", func(r *interp.Registry) string { return registerPanic(r, def("c", noDocArgs{})) },
			`interp.Register c: parameter "x" has no doc tag`},
		{"bad parameter name", func(r *interp.Registry) string { return registerPanic(r, def("c", badNameArgs{})) },
			`interp.Register c: field X: parameter name "Bad-Name" must match ^[a-z][a-z0-9_]*$`},
		{"empty parameter name", func(r *interp.Registry) string { return registerPanic(r, def("c", emptyNameArgs{})) },
			`parameter name "" must match`},
		{"parameter declared twice", func(r *interp.Registry) string { return registerPanic(r, def("c", dupParamArgs{})) },
			`interp.Register c: parameter "x" declared twice`},
		{"unsupported map field", func(r *interp.Registry) string { return registerPanic(r, def("c", mapArgs{})) },
			`interp.Register c: parameter "m": unsupported field type map[string]int`},
		{"unsupported int32 field", func(r *interp.Registry) string { return registerPanic(r, def("c", int32Args{})) },
			`unsupported field type int32`},
		{"unsupported bool list", func(r *interp.Registry) string { return registerPanic(r, def("c", boolListArgs{})) },
			`unsupported field type []bool`},
		{"unsupported string pointer", func(r *interp.Registry) string { return registerPanic(r, def("c", stringPtrArgs{})) },
			`unsupported pointer field type *string`},
		{"Value without kind", func(r *interp.Registry) string { return registerPanic(r, def("c", valueNoKindArgs{})) },
			`a Value field needs a kind tag`},
		{"[]Value without kind", func(r *interp.Registry) string { return registerPanic(r, def("c", valuesNoKindArgs{})) },
			`a []Value field needs a kind tag`},
		{"unexported field", func(r *interp.Registry) string { return registerPanic(r, def("c", unexportedArgs{})) },
			`interp.Register c: field n: a parameter field must be exported`},
		{"default below its range", func(r *interp.Registry) string { return registerPanic(r, def("c", rangeArgs{LR: 0})) },
			`interp.Register c: default of "lr": must be > 0, got 0.0`},
		{"default NaN", func(r *interp.Registry) string { return registerPanic(r, def("c", rangeArgs{LR: math.NaN()})) },
			`default of "lr": must be > 0, got NaN`},
		{"list default element outside its range", func(r *interp.Registry) string {
			return registerPanic(r, def("c", listRangeArgs{Sizes: []int{4, 0}}))
		}, `default of "sizes": element 2 must be >= 1, got 0`},
		{"malformed range", func(r *interp.Registry) string { return registerPanic(r, def("c", badRangeArgs{LR: 1})) },
			`interp.Register c: parameter "lr": range "0..1"`},
		{"default outside its enum", func(r *interp.Registry) string { return registerPanic(r, def("c", enumArgs{Mode: "gelu"})) },
			`interp.Register c: default of "mode": must be one of "relu", "tanh", got "gelu"`},
		{"empty default with an enum", func(r *interp.Registry) string { return registerPanic(r, def("c", enumArgs{})) },
			`default of "mode": must be one of "relu", "tanh", got ""`},
		{"enum on an int", func(r *interp.Registry) string { return registerPanic(r, def("c", enumIntArgs{N: 1})) },
			`interp.Register c: parameter "n": an enum needs a string parameter, not int`},
		{"range on a string", func(r *interp.Registry) string { return registerPanic(r, def("c", rangeStringArgs{})) },
			`interp.Register c: parameter "s": a range needs a number parameter, not string`},
		{"bad component name", func(r *interp.Registry) string { return registerPanic(r, def("Cross-Entropy", enumArgs{Mode: "relu"})) },
			`interp.Register Cross-Entropy: name must match`},
		{"missing doc", func(r *interp.Registry) string {
			d := def("c", enumArgs{Mode: "relu"})
			d.Doc = ""
			return registerPanic(r, d)
		}, `interp.Register c: Doc, Category, Result and Build are required`},
		{"missing build", func(r *interp.Registry) string {
			d := def("c", enumArgs{Mode: "relu"})
			d.Build = nil
			return registerPanic(r, d)
		}, `Doc, Category, Result and Build are required`},
		{"missing result", func(r *interp.Registry) string {
			d := def("c", enumArgs{Mode: "relu"})
			d.Result = nil
			return registerPanic(r, d)
		}, `Doc, Category, Result and Build are required`},
		{"Args not a struct", func(r *interp.Registry) string { return registerPanic(r, def("c", 3)) },
			`interp.Register c: Args must be a struct, got int`},
		{"duplicate registration", func(r *interp.Registry) string {
			if msg := registerPanic(r, def("c", enumArgs{Mode: "relu"})); msg != "" {
				return "first registration failed: " + msg
			}
			return registerPanic(r, def("c", rangeArgs{LR: 1}))
		}, `interp.Register c: registered twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := interp.NewRegistry()
			got := tc.register(r)
			if got == "" {
				t.Fatalf("Register did not panic, want %q", tc.want)
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("panic %q, want it to contain %q", got, tc.want)
			}
			if !strings.HasPrefix(got, "interp.Register ") {
				t.Errorf("panic %q does not name Register and the component", got)
			}
		})
	}
}

// TestRegisterSpec checks the spec derived from a valid declaration.
func TestRegisterSpec(t *testing.T) {
	r := interp.NewRegistry()
	d := def("ok", okArgs{Rate: 0.5, Mode: "a", Sizes: []int{8, 4}, Names: []string{"x"}, Big: 1 << 40, Reals: []float64{0.5}})
	d.Example = "x = ok(net, 3)"
	interp.Register(r, d)
	c, ok := r.Lookup("ok")
	if !ok {
		t.Fatal("Lookup failed")
	}
	s := c.Spec
	if s.Name != "ok" || s.Category != lang.KindModel || s.Doc != "A test component." || s.Example != "x = ok(net, 3)" {
		t.Errorf("spec header %+v", s)
	}
	var got []string
	for _, p := range s.Params {
		line := fmt.Sprintf("%s %s", p.Name, p.Type)
		if p.Required {
			line += " required"
		}
		if p.Positional {
			line += " positional"
		}
		if p.Default != nil {
			line += " default=" + lang.FormatValue(p.Default)
		}
		if p.Enum != nil {
			line += " enum=" + strings.Join(p.Enum, "|")
		}
		if p.Range != nil {
			line += " range=" + p.Range.String()
		}
		if p.Doc == "" {
			line += " NODOC"
		}
		got = append(got, line)
	}
	want := []string{
		"model model required positional",
		"n int required positional range=[1, inf)",
		"rate float default=0.5 range=(0, 1]",
		"mode string default=\"a\" enum=a|b",
		"flag bool default=false",
		"sizes list of int default=[8, 4] range=[1, inf)",
		"names list of string default=[\"x\"] enum=x|y",
		"seed int range=[0, inf)",
		"scale float",
		"others list of model",
		"big int default=1099511627776",
		"reals list of float default=[0.5]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("params:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if names := s.ParamNames(); len(names) != 12 || names[0] != "model" {
		t.Errorf("ParamNames = %v", names)
	}
	if _, ok := s.Param("skip"); ok {
		t.Errorf("an untagged field became a parameter")
	}
}

// TestComponentInferAndBuild checks that arguments reach the Args struct:
// defaults where absent, ints converted to floats, pointers set only when
// given, and that Build re-checks ranges and enums of run-time values.
func TestComponentInferAndBuild(t *testing.T) {
	r := interp.NewRegistry()
	var seen okArgs
	d := def("ok", okArgs{Rate: 0.5, Mode: "a", Sizes: []int{8, 4}})
	d.Infer = func(a *okArgs) (lang.Type, error) {
		seen = *a
		return &lang.Object{Kind: lang.KindModel, Out: a.N}, nil
	}
	d.Build = func(ctx context.Context, env *interp.Env, a *okArgs) (interp.Value, error) {
		seen = *a
		seen.Sizes = slices.Clone(a.Sizes)
		a.Sizes[0] = 999 // must not alter the declaration's defaults
		return &fakeValue{kind: lang.KindModel}, nil
	}
	interp.Register(r, d)
	c, _ := r.Lookup("ok")

	typ, err := c.Infer(map[string]any{"n": int64(3), "rate": int64(1), "seed": int64(5), "model": interp.Static{T: lang.ObjectOf(lang.KindModel)}})
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := typ.(*lang.Object); !ok || o.Out != 3 {
		t.Errorf("Infer type %v", typ)
	}
	if seen.N != 3 || seen.Rate != 1.0 || seen.Mode != "a" || seen.Seed == nil || *seen.Seed != 5 || seen.Scale != nil {
		t.Errorf("Args %+v", seen)
	}
	if _, ok := seen.Model.(interp.Static); !ok {
		t.Errorf("Model = %#v, want the Static stand-in", seen.Model)
	}

	for i := 0; i < 2; i++ {
		if _, err := c.Build(context.Background(), &interp.Env{}, map[string]any{"n": int64(1), "model": &fakeValue{kind: lang.KindModel}}); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(seen.Sizes, []int{8, 4}) {
			t.Errorf("build %d: Sizes = %v: a previous Build changed the defaults", i, seen.Sizes)
		}
	}

	for _, tc := range []struct {
		vals map[string]any
		want string
	}{
		{map[string]any{"n": int64(0)}, "parameter n of ok must be >= 1, got 0"},
		{map[string]any{"n": int64(1), "mode": "c"}, `parameter mode of ok must be one of "a", "b", got "c"`},
		{map[string]any{"n": int64(1), "sizes": []any{int64(1), int64(-1)}}, "parameter sizes of ok element 2 must be >= 1, got -1"},
		{map[string]any{"n": "three"}, "parameter n of ok: want an int, got string"},
		{map[string]any{"n": int64(1), "reals": []any{"x"}}, "parameter reals of ok: element 1: want a float, got string"},
		{map[string]any{"n": int64(1), "model": 3}, "parameter model of ok: want a pipeline value, got int"},
	} {
		_, err := c.Build(context.Background(), &interp.Env{}, tc.vals)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Build(%v) error %v, want %s", tc.vals, err, tc.want)
			continue
		}
		if _, ok := err.(*interp.ArgError); !ok {
			t.Errorf("Build(%v) error %T, want an *interp.ArgError", tc.vals, err)
		}
	}
}

func TestRegistryLookups(t *testing.T) {
	r := interp.NewRegistry()
	for _, n := range []string{"zeta", "alpha", "mid"} {
		interp.Register(r, def(n, struct{}{}))
	}
	lossDef := def("aloss", struct{}{})
	lossDef.Category = lang.KindLoss
	interp.Register(r, lossDef)
	if got := strings.Join(r.Names(), " "); got != "aloss alpha mid zeta" {
		t.Errorf("Names = %s", got)
	}
	var all []string
	for _, c := range r.All() {
		all = append(all, string(c.Spec.Category)+"/"+c.Spec.Name)
	}
	if got := strings.Join(all, " "); got != "loss/aloss model/alpha model/mid model/zeta" {
		t.Errorf("All = %s", got)
	}
	if _, ok := r.Lookup("nope"); ok {
		t.Errorf("Lookup(nope) found something")
	}
	if r.CanPipe(lang.KindModel) || r.CanSum(lang.KindLoss) {
		t.Errorf("an empty registry composes")
	}
	r.RegisterPipe(lang.KindModel, func([]interp.Value) (interp.Value, error) { return nil, nil })
	r.RegisterSum(lang.KindLoss, func([]interp.Term) (interp.Value, error) { return nil, nil })
	if !r.CanPipe(lang.KindModel) || !r.CanSum(lang.KindLoss) || r.CanPipe(lang.KindLoss) {
		t.Errorf("CanPipe/CanSum wrong after registering")
	}
}

// TestStdlibRegistry sanity-checks the real registry the check tests use.
func TestStdlibRegistry(t *testing.T) {
	r := stdRegistry()
	for _, name := range []string{"digits", "mlp", "linear", "relu", "cross_entropy", "adam", "sgd", "accuracy", "train", "evaluate", "report"} {
		if _, ok := r.Lookup(name); !ok {
			t.Errorf("the standard registry lacks %s", name)
		}
	}
	if !r.CanPipe(lang.KindModel) || !r.CanSum(lang.KindLoss) {
		t.Errorf("models do not pipe or losses do not sum")
	}
}
