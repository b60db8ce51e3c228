package augment

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// ramp is a 2-channel 5x6 image with distinct pixels in [0, 1].
func ramp() Image {
	m := NewImage(2, 5, 6)
	for i := range m.Pix {
		m.Pix[i] = float32(i) / float32(len(m.Pix))
	}
	return m
}

func rng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }

func TestIdentities(t *testing.T) {
	m := ramp()
	for name, tr := range map[string]Transform{
		"flip p=0":            HFlip{P: 0},
		"pad-crop 0":          PadCrop{Pad: 0},
		"resized crop, whole": ResizedCrop{Scale: [2]float64{1, 1}, Ratio: [2]float64{1.2, 1.2}}, // 6/5
		"rotate 0":            Rotate{Degrees: 0},
		"jitter 0":            Jitter{},
		"noise 0":             Noise{},
		"cutout 0":            Cutout{Size: 0},
	} {
		got := tr.Apply(rng(1), m)
		for i := range m.Pix {
			if math.Abs(float64(got.Pix[i]-m.Pix[i])) > 1e-6 {
				t.Errorf("%s changed pixel %d: %v -> %v", name, i, m.Pix[i], got.Pix[i])
				break
			}
		}
	}
}

func TestFlip(t *testing.T) {
	m := ramp()
	f := HFlip{P: 1}.Apply(rng(1), m)
	if f.At(1, 2, 0) != m.At(1, 2, 5) || f.At(0, 4, 5) != m.At(0, 4, 0) {
		t.Error("flip does not mirror left to right")
	}
	if back := (HFlip{P: 1}).Apply(rng(1), f); !slices.Equal(back.Pix, m.Pix) {
		t.Error("flipping twice is not the identity")
	}
}

func TestPadCropShifts(t *testing.T) {
	m := ramp()
	for seed := range uint64(20) {
		out := PadCrop{Pad: 2}.Apply(rng(seed), m)
		// The output is the input shifted by at most 2 pixels, zeros
		// where it leaves the image: find the shift.
		found := false
		for dy := -2; dy <= 2 && !found; dy++ {
			for dx := -2; dx <= 2 && !found; dx++ {
				ok := true
				for c := range m.C {
					for y := range m.H {
						for x := range m.W {
							if out.At(c, y, x) != m.At(c, y+dy, x+dx) {
								ok = false
							}
						}
					}
				}
				found = ok
			}
		}
		if !found {
			t.Fatalf("seed %d: the crop is not a shift of the padded image", seed)
		}
	}
}

func TestRotate90(t *testing.T) {
	m := NewImage(1, 4, 4)
	for i := range m.Pix {
		m.Pix[i] = float32(i)
	}
	r := rotate(m, 90)
	// Counter-clockwise: the top-right pixel goes to the top-left.
	for y := range 4 {
		for x := range 4 {
			if got, want := r.At(0, y, x), m.At(0, x, 3-y); math.Abs(float64(got-want)) > 1e-4 {
				t.Fatalf("rotated (%d,%d) = %v, want %v", y, x, got, want)
			}
		}
	}
}

func TestResizedCropWindow(t *testing.T) {
	rc := ResizedCrop{Scale: [2]float64{0.08, 1}, Ratio: [2]float64{3.0 / 4, 4.0 / 3}}
	r := rng(3)
	for range 200 {
		top, left, h, w := rc.window(r, 28, 28)
		if h < 1 || w < 1 || top < 0 || left < 0 || top+h > 28 || left+w > 28 {
			t.Fatalf("window %v %v %v %v outside a 28x28 image", top, left, h, w)
		}
		if area := h * w / (28 * 28); area > 1.0001 {
			t.Fatalf("window covers %v of the image", area)
		}
	}
	// A constant image stays constant.
	m := NewImage(1, 28, 28)
	for i := range m.Pix {
		m.Pix[i] = 0.25
	}
	out := rc.Apply(rng(4), m)
	for _, v := range out.Pix {
		if math.Abs(float64(v)-0.25) > 1e-6 {
			t.Fatalf("a constant image became %v", v)
		}
	}
}

func TestJitterBrightness(t *testing.T) {
	m := ramp()
	out := Jitter{Brightness: 0.5}.Apply(rng(7), m)
	// One factor for all pixels: the ratios agree where nothing clamps.
	f := out.Pix[10] / m.Pix[10]
	if f < 0.5 || f > 1.5 {
		t.Fatalf("brightness factor %v outside [0.5, 1.5]", f)
	}
	for i := 1; i < len(m.Pix); i++ {
		want := min(m.Pix[i]*f, 1)
		if math.Abs(float64(out.Pix[i]-want)) > 1e-5 {
			t.Fatalf("pixel %d: %v, want %v", i, out.Pix[i], want)
		}
	}
}

func TestNoiseStatistics(t *testing.T) {
	m := NewImage(1, 100, 100)
	out := Noise{Std: 0.1}.Apply(rng(5), m)
	var sum, ss float64
	for _, v := range out.Pix {
		sum += float64(v)
		ss += float64(v) * float64(v)
	}
	n := float64(len(out.Pix))
	if mean, std := sum/n, math.Sqrt(ss/n); math.Abs(mean) > 0.005 || math.Abs(std-0.1) > 0.005 {
		t.Errorf("noise mean %v std %v, want 0 and 0.1", mean, std)
	}
}

func TestBlur(t *testing.T) {
	m := NewImage(1, 9, 9)
	m.Pix[4*9+4] = 1
	out := Blur{Sigma: [2]float64{1, 1}}.Apply(rng(1), m)
	var sum float32
	for _, v := range out.Pix {
		sum += v
	}
	if math.Abs(float64(sum-1)) > 1e-5 {
		t.Errorf("blur does not keep the total: %v", sum)
	}
	if out.At(0, 4, 4) >= 1 || out.At(0, 4, 4) <= out.At(0, 4, 5) || out.At(0, 4, 3) != out.At(0, 4, 5) || out.At(0, 3, 4) != out.At(0, 4, 3) {
		t.Error("the blurred point is not a symmetric peak")
	}
}

func TestCutout(t *testing.T) {
	m := NewImage(3, 10, 10)
	for i := range m.Pix {
		m.Pix[i] = 1
	}
	out := Cutout{Size: 4}.Apply(rng(2), m)
	zeros := 0
	for _, v := range out.Pix {
		if v == 0 {
			zeros++
		}
	}
	if zeros == 0 || zeros > 3*16 || zeros%3 != 0 {
		t.Errorf("cutout zeroed %d pixels, want a square of at most 4x4 in each of 3 channels", zeros)
	}
}

func TestViewsAreSeededAndIndependent(t *testing.T) {
	aug := Compose{ResizedCrop{Scale: [2]float64{0.2, 1}, Ratio: [2]float64{0.75, 1.33}}, HFlip{P: 0.5}, Noise{Std: 0.05}}
	m := ramp()
	a, b := Views(rng(9), aug, m, 4), Views(rng(9), aug, m, 4)
	for i := range a {
		if !slices.Equal(a[i].Pix, b[i].Pix) {
			t.Fatal("the same seed gave different views")
		}
	}
	if slices.Equal(a[0].Pix, a[1].Pix) {
		t.Error("two views of one image are identical")
	}
	if !slices.Equal(m.Pix, ramp().Pix) {
		t.Error("a transform changed its input")
	}
}

// TestZoom checks the zoom against grid_sample's arithmetic by hand: scale
// 1 (no translation possible) is the identity, and scale 0.5 with the
// window at the top-left corner maps output pixel p to source (p − 0.5)/2.
func TestZoom(t *testing.T) {
	m := NewImage(1, 4, 4)
	for i := range m.Pix {
		m.Pix[i] = float32(i)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	id := Zoom{Scale: [2]float64{1, 1}}.Apply(rng, m)
	for i, v := range id.Pix {
		if math.Abs(float64(v-m.Pix[i])) > 1e-5 {
			t.Fatalf("scale 1: pixel %d = %v, want %v", i, v, m.Pix[i])
		}
	}
	// With s = 0.5 the translation is 0.5·U(−1, 1): output pixel p reads
	// source ((0.5·((2p+1)/4 − 1) + t + 1)·4 − 1)/2. The image is a ramp
	// (value 4y + x), so away from the borders bilinear sampling returns
	// the source position's ramp value exactly: check the affine map with
	// the translation the first two draws give.
	draw := rand.New(rand.NewPCG(5, 6))
	got := Zoom{Scale: [2]float64{0.5, 0.5}}.Apply(rand.New(rand.NewPCG(5, 6)), m)
	draw.Float64() // s: the range is a point
	tx := 0.5 * (2*draw.Float64() - 1)
	ty := 0.5 * (2*draw.Float64() - 1)
	pos := func(p int, tr float64) float64 { return ((0.5*((2*float64(p)+1)/4-1)+tr+1)*4 - 1) / 2 }
	for y := 1; y < 3; y++ {
		for x := 1; x < 3; x++ {
			want := 4*pos(y, ty) + pos(x, tx)
			if v := float64(got.Pix[y*4+x]); math.Abs(v-want) > 1e-4 {
				t.Errorf("pixel (%d,%d) = %v, want %v", y, x, v, want)
			}
		}
	}
}

// TestIntensity checks that one factor in the range scales every pixel,
// without clamping.
func TestIntensity(t *testing.T) {
	m := NewImage(1, 2, 2)
	copy(m.Pix, []float32{0.5, 1, 0.25, 0})
	got := Intensity{Range: [2]float64{1.4, 1.4}}.Apply(rand.New(rand.NewPCG(1, 1)), m)
	for i, v := range got.Pix {
		if want := m.Pix[i] * 1.4; math.Abs(float64(v-want)) > 1e-6 {
			t.Errorf("pixel %d = %v, want %v (unclamped)", i, v, want)
		}
	}
	rng := rand.New(rand.NewPCG(3, 3))
	for range 100 {
		f := Intensity{Range: [2]float64{0.6, 1.4}}.Apply(rng, m).Pix[0] / m.Pix[0]
		if f < 0.6 || f > 1.4 {
			t.Fatalf("factor %v outside [0.6, 1.4]", f)
		}
	}
}

// TestApplyIntoMatchesApply checks that Compose.ApplyInto, which uses the
// Into and InPlace fast paths and two working images, gives exactly what
// Apply gives with the same seed, for chains mixing transforms with and
// without fast paths, and leaves its input unchanged.
func TestApplyIntoMatchesApply(t *testing.T) {
	chains := map[string]Compose{
		"peer":       {Zoom{Scale: [2]float64{0.6, 1}}, HFlip{P: 0.5}, Intensity{Range: [2]float64{0.6, 1.4}}, Noise{Std: 0.05}},
		"in-place":   {Noise{Std: 0.1}, Intensity{Range: [2]float64{0.5, 2}}},
		"into-twice": {HFlip{P: 0.7}, Zoom{Scale: [2]float64{0.3, 0.9}}, HFlip{P: 0.5}},
		"mixed":      {Rotate{Degrees: 20}, Noise{Std: 0.05}, PadCrop{Pad: 2}, HFlip{P: 0.5}, Cutout{Size: 3}, Zoom{Scale: [2]float64{0.5, 1}}},
		"empty":      {},
	}
	for name, c := range chains {
		t.Run(name, func(t *testing.T) {
			m := ramp()
			var s Scratch
			for seed := range uint64(20) {
				want := c.Apply(rng(seed), m)
				got := NewImage(m.C, m.H, m.W)
				c.ApplyInto(rng(seed), got, m, &s)
				if !slices.Equal(got.Pix, want.Pix) {
					t.Fatalf("seed %d: ApplyInto differs from Apply", seed)
				}
			}
			if !slices.Equal(m.Pix, ramp().Pix) {
				t.Error("ApplyInto changed its input")
			}
		})
	}
}
