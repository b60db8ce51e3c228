package bench

import (
	"context"
	"math"
	"testing"
)

// TestPGDFashionTiny runs pgd10_fashion's tiny instance (200 test images)
// in process, at attack batches smaller than, equal to and larger than the
// image count: every batch attacks the same images alike (up to rounding: the
// products may be blocked differently).
func TestPGDFashionTiny(t *testing.T) {
	if err := FashionMNIST.Check(Options{}); err != nil {
		t.Skip(err)
	}
	var want float64
	for i, tc := range []struct {
		rows, wantRows int
	}{
		{rows: pgdRows, wantRows: pgdTinyImages},
		{rows: 64, wantRows: 64},
		{rows: pgdTinyImages, wantRows: pgdTinyImages},
	} {
		res, err := runPGDFashion(context.Background(), Options{Tiny: true, Steps: 2, Warmup: 1}, tc.rows)
		if err != nil {
			t.Fatalf("rows %d: %v", tc.rows, err)
		}
		if res.Steps != 2 || res.MsPerStep <= 0 || res.Extra["images"] != pgdTinyImages || res.Extra["images_per_s"] <= 0 {
			t.Errorf("rows %d: result %+v", tc.rows, res)
		}
		if got := res.Extra["attack_rows"]; got != float64(tc.wantRows) {
			t.Errorf("rows %d: attack batch %v, want %d", tc.rows, got, tc.wantRows)
		}
		// The attack moves pixels by at most eps, and moves most of them.
		p := res.Extra["mean_abs_perturbation"]
		if !(p > pgdEps/4 && p <= pgdEps) {
			t.Errorf("rows %d: mean |perturbation| %v, want in (%v, %v]", tc.rows, p, pgdEps/4, pgdEps)
		}
		if i == 0 {
			want = p
		} else if math.Abs(p-want) > 1e-3*want {
			t.Errorf("rows %d: mean |perturbation| %v, want %v as with %d rows", tc.rows, p, want, pgdRows)
		}
	}
}
