package interp

import (
	"math"

	"github.com/mlpipe/mlpipe/lang"
)

// binary checks a | b, a + b, a - b, a * b and a / b.
func (c *checker) binary(e *lang.BinaryExpr) (lang.Type, any, bool) {
	tx, vx, cx := c.expr(e.X)
	ty, vy, cy := c.expr(e.Y)
	if tx == lang.Invalid || ty == lang.Invalid {
		return lang.Invalid, nil, false
	}
	ox, objX := tx.(*lang.Object)
	oy, objY := ty.(*lang.Object)
	if e.Op == "|" {
		return c.pipe(e, tx, ty), nil, false
	}
	if isNumber(tx) && isNumber(ty) {
		return arith(c, e, tx, ty, vx, vy, cx && cy)
	}
	switch {
	case objX && objY && (e.Op == "+" || e.Op == "-"):
		if ox.Kind != oy.Kind {
			c.diags.Errorf(e.OpSpan, "cannot combine %s and %s with %s", lang.Describe(ox), lang.Describe(oy), e.Op)
			return lang.Invalid, nil, false
		}
		if !c.reg.CanSum(ox.Kind) {
			c.diags.Errorf(e.OpSpan, "values of kind %s cannot be added", ox.Kind)
			return lang.Invalid, nil, false
		}
		return lang.ObjectOf(ox.Kind), nil, false
	case e.Op == "*" && (objX && isNumber(ty) || objY && isNumber(tx)):
		o := ox
		if objY {
			o = oy
		}
		if !c.reg.CanSum(o.Kind) {
			c.diags.Errorf(e.OpSpan, "values of kind %s cannot be weighted", o.Kind)
			return lang.Invalid, nil, false
		}
		return lang.ObjectOf(o.Kind), nil, false
	case e.Op == "/" && objX && isNumber(ty):
		if !c.reg.CanSum(ox.Kind) {
			c.diags.Errorf(e.OpSpan, "values of kind %s cannot be weighted", ox.Kind)
			return lang.Invalid, nil, false
		}
		if cy && toFloat(vy) == 0 {
			c.diags.Errorf(e.Y.Span(), "division by zero")
			return lang.Invalid, nil, false
		}
		return lang.ObjectOf(ox.Kind), nil, false
	case objX && objY && e.Op == "*":
		c.diags.Errorf(e.OpSpan, "cannot multiply %s by %s", lang.Describe(ox), lang.Describe(oy)).
			WithNote("weight a term by a number, as in 0.1 * x")
		return lang.Invalid, nil, false
	}
	c.diags.Errorf(e.OpSpan, "cannot apply %s to %s and %s", e.Op, lang.Describe(tx), lang.Describe(ty))
	return lang.Invalid, nil, false
}

// pipe checks a | b: both of one composable kind, and for models the output
// width of a equal to the input width of b when both are known.
func (c *checker) pipe(e *lang.BinaryExpr, tx, ty lang.Type) lang.Type {
	ox, okx := tx.(*lang.Object)
	oy, oky := ty.(*lang.Object)
	if !okx || !oky {
		c.diags.Errorf(e.OpSpan, "| composes transforms and models, not %s and %s", lang.Describe(tx), lang.Describe(ty))
		return lang.Invalid
	}
	if ox.Kind != oy.Kind {
		c.diags.Errorf(e.OpSpan, "cannot compose %s with %s", lang.Describe(ox), lang.Describe(oy)).
			WithNote("| joins values of one kind: transforms with transforms, models with models")
		return lang.Invalid
	}
	if !c.reg.CanPipe(ox.Kind) {
		c.diags.Errorf(e.OpSpan, "values of kind %s do not compose with |", ox.Kind)
		return lang.Invalid
	}
	if ox.Out > 0 && oy.In > 0 && ox.Out != oy.In {
		c.diags.Errorf(e.Y.Span(), "width mismatch: %s takes %d inputs, but the %s before it gives %d", ox.Kind, oy.In, ox.Kind, ox.Out)
		return lang.Invalid
	}
	out := &lang.Object{Kind: ox.Kind, In: ox.In, Out: oy.Out}
	if ox.Layers != nil && oy.Layers != nil {
		out.Layers = append(append([]lang.Layer{}, ox.Layers...), oy.Layers...)
	}
	if out.Out == 0 && oy.In == 0 {
		out.Out = ox.Out // a width-preserving stage, such as an activation
	}
	if out.In == 0 && ox.Out == 0 && oy.In > 0 {
		out.In = oy.In
	}
	return out
}

func isNumber(t lang.Type) bool { return t == lang.Int || t == lang.Float }

func toFloat(v any) float64 {
	switch v := v.(type) {
	case int64:
		return float64(v)
	case float64:
		return v
	}
	return math.NaN()
}

// arith types (and, for constants, folds) arithmetic on numbers. / always
// gives a float.
func arith(c *checker, e *lang.BinaryExpr, tx, ty lang.Type, vx, vy any, isConst bool) (lang.Type, any, bool) {
	t := lang.Float
	if tx == lang.Int && ty == lang.Int && e.Op != "/" {
		t = lang.Int
	}
	if !isConst {
		return t, nil, false
	}
	if e.Op == "/" && toFloat(vy) == 0 {
		c.diags.Errorf(e.Y.Span(), "division by zero")
		return lang.Invalid, nil, false
	}
	if t == lang.Int {
		r, ok := intArith(e.Op, vx.(int64), vy.(int64))
		if !ok {
			c.diags.Errorf(e.At, "arithmetic overflow")
			return lang.Invalid, nil, false
		}
		return t, r, true
	}
	x, y := toFloat(vx), toFloat(vy)
	var r float64
	switch e.Op {
	case "+":
		r = x + y
	case "-":
		r = x - y
	case "*":
		r = x * y
	case "/":
		r = x / y
	}
	if math.IsInf(r, 0) || math.IsNaN(r) {
		c.diags.Errorf(e.At, "arithmetic overflow")
		return lang.Invalid, nil, false
	}
	return t, r, true
}

// intArith computes x op y for op one of + - * and reports whether the
// result fits in an int64.
func intArith(op string, x, y int64) (int64, bool) {
	switch op {
	case "+":
		r := x + y
		return r, (x >= 0) != (y >= 0) || (r >= 0) == (x >= 0)
	case "-":
		r := x - y
		return r, (x >= 0) == (y >= 0) || (r >= 0) == (x >= 0)
	case "*":
		if x == 0 || y == 0 {
			return 0, true
		}
		r := x * y
		return r, r/y == x && !(x == -1 && y == math.MinInt64) && !(y == -1 && x == math.MinInt64)
	}
	return 0, false
}
