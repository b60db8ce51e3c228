// Package augment holds the image augmentations of self-supervised
// learning as seeded, composable transforms: flips, crops with padding,
// random resized crops, small rotations, brightness and contrast jitter,
// gaussian noise, gaussian blur and cutout, and the zoom and intensity
// scaling of the PyTorch peer recipe. An image is float32 pixels,
// channel-major ([C][H][W], as PyTorch lays them out), normally in [0, 1];
// every random choice comes from the *rand.Rand the caller passes, so the
// same seed gives the same views. The definitions follow torchvision's.
package augment

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Image is a C x H x W image, Pix[(c*H+y)*W+x].
type Image struct {
	C, H, W int
	Pix     []float32
}

// NewImage returns a black image of the given shape.
func NewImage(c, h, w int) Image { return Image{C: c, H: h, W: w, Pix: make([]float32, c*h*w)} }

// At returns the pixel of channel c at (y, x), or 0 outside the image.
func (m Image) At(c, y, x int) float32 {
	if y < 0 || y >= m.H || x < 0 || x >= m.W {
		return 0
	}
	return m.Pix[(c*m.H+y)*m.W+x]
}

// Clone returns a copy of m.
func (m Image) Clone() Image {
	out := m
	out.Pix = append([]float32(nil), m.Pix...)
	return out
}

// bilinear samples channel c at the real position (y, x), with zeros
// outside the image.
func (m Image) bilinear(c int, y, x float64) float32 {
	y0, x0 := math.Floor(y), math.Floor(x)
	fy, fx := float32(y-y0), float32(x-x0)
	iy, ix := int(y0), int(x0)
	top := m.At(c, iy, ix)*(1-fx) + m.At(c, iy, ix+1)*fx
	bottom := m.At(c, iy+1, ix)*(1-fx) + m.At(c, iy+1, ix+1)*fx
	return top*(1-fy) + bottom*fy
}

// Transform is one augmentation: Apply returns the transformed image (of
// the same shape), drawing its random choices from rng. It never changes
// its input.
type Transform interface {
	Apply(rng *rand.Rand, m Image) Image
}

// Compose applies transforms in order.
type Compose []Transform

// Apply applies each transform in turn.
func (c Compose) Apply(rng *rand.Rand, m Image) Image {
	for _, t := range c {
		m = t.Apply(rng, m)
	}
	return m
}

// Into is implemented by transforms that can write their result into an
// image of the caller's (of src's shape, not sharing its pixels) instead
// of allocating one; ApplyInto draws the same random numbers and gives the
// same image as Apply.
type Into interface {
	ApplyInto(rng *rand.Rand, dst, src Image)
}

// InPlace is implemented by transforms that can change an image in
// place; ApplyInPlace draws the same random numbers and gives the same
// image as Apply.
type InPlace interface {
	ApplyInPlace(rng *rand.Rand, m Image)
}

// Scratch holds the two working images of Compose.ApplyInto, so that
// repeated calls on images of one shape allocate nothing for the
// transforms that implement Into or InPlace. The zero value is ready; a
// Scratch must not be used by two goroutines at once.
type Scratch struct{ bufs [2][]float32 }

// ApplyInto writes into dst what Apply returns for src, using s's working
// images where the transforms allow it. dst must have src's shape and not
// share its pixels; src is not changed.
func (c Compose) ApplyInto(rng *rand.Rand, dst, src Image, s *Scratch) {
	n := len(src.Pix)
	for i := range s.bufs {
		if cap(s.bufs[i]) < n {
			s.bufs[i] = make([]float32, n)
		}
	}
	cur, at := src, -1 // at: the scratch buffer holding cur, -1 if none
	owned := false     // whether cur may be changed in place
	for _, t := range c {
		next := 0
		if at == 0 {
			next = 1
		}
		buf := Image{C: src.C, H: src.H, W: src.W, Pix: s.bufs[next][:n]}
		switch t := t.(type) {
		case InPlace:
			if !owned {
				copy(buf.Pix, cur.Pix)
				cur, at, owned = buf, next, true
			}
			t.ApplyInPlace(rng, cur)
		case Into:
			t.ApplyInto(rng, buf, cur)
			cur, at, owned = buf, next, true
		default:
			cur, at, owned = t.Apply(rng, cur), -1, true
		}
	}
	copy(dst.Pix, cur.Pix)
}

// Views returns n independent augmentations of m.
func Views(rng *rand.Rand, t Transform, m Image, n int) []Image {
	out := make([]Image, n)
	for i := range out {
		out[i] = t.Apply(rng, m)
	}
	return out
}

// HFlip mirrors the image left to right with probability P.
type HFlip struct{ P float64 }

// Apply implements Transform.
func (f HFlip) Apply(rng *rand.Rand, m Image) Image {
	out := NewImage(m.C, m.H, m.W)
	f.ApplyInto(rng, out, m)
	return out
}

// ApplyInto implements Into.
func (f HFlip) ApplyInto(rng *rand.Rand, dst, src Image) {
	if rng.Float64() >= f.P {
		copy(dst.Pix, src.Pix)
		return
	}
	for row := 0; row < src.C*src.H; row++ {
		s, d := src.Pix[row*src.W:(row+1)*src.W], dst.Pix[row*src.W:(row+1)*src.W]
		for x, v := range s {
			d[len(d)-1-x] = v
		}
	}
}

// PadCrop pads the image with Pad pixels of zeros on every side and crops
// an H x W window at a random offset (the CIFAR "random crop").
type PadCrop struct{ Pad int }

// Apply implements Transform.
func (p PadCrop) Apply(rng *rand.Rand, m Image) Image {
	dy, dx := rng.IntN(2*p.Pad+1)-p.Pad, rng.IntN(2*p.Pad+1)-p.Pad
	out := NewImage(m.C, m.H, m.W)
	for c := range m.C {
		for y := range m.H {
			for x := range m.W {
				out.Pix[(c*m.H+y)*m.W+x] = m.At(c, y+dy, x+dx)
			}
		}
	}
	return out
}

// ResizedCrop crops a random window whose area is a fraction in Scale of
// the image's and whose aspect ratio (width/height) is in Ratio, log-
// uniformly, and resizes it back to H x W bilinearly, as torchvision's
// RandomResizedCrop (10 tries, then the largest central crop of an allowed
// ratio).
type ResizedCrop struct {
	Scale [2]float64 // e.g. 0.08, 1
	Ratio [2]float64 // e.g. 3/4, 4/3
}

// Apply implements Transform.
func (r ResizedCrop) Apply(rng *rand.Rand, m Image) Image {
	top, left, h, w := r.window(rng, m.H, m.W)
	out := NewImage(m.C, m.H, m.W)
	sy, sx := h/float64(m.H), w/float64(m.W)
	for c := range m.C {
		for y := range m.H {
			for x := range m.W {
				// Pixel centres map to pixel centres (align_corners=False).
				src := top + (float64(y)+0.5)*sy - 0.5
				srx := left + (float64(x)+0.5)*sx - 0.5
				out.Pix[(c*m.H+y)*m.W+x] = m.bilinear(c, clamp(src, 0, float64(m.H-1)), clamp(srx, 0, float64(m.W-1)))
			}
		}
	}
	return out
}

func (r ResizedCrop) window(rng *rand.Rand, H, W int) (top, left, h, w float64) {
	area := float64(H * W)
	logLo, logHi := math.Log(r.Ratio[0]), math.Log(r.Ratio[1])
	for range 10 {
		target := area * (r.Scale[0] + rng.Float64()*(r.Scale[1]-r.Scale[0]))
		ratio := math.Exp(logLo + rng.Float64()*(logHi-logLo))
		cw := math.Round(math.Sqrt(target * ratio))
		ch := math.Round(math.Sqrt(target / ratio))
		if cw > 0 && ch > 0 && cw <= float64(W) && ch <= float64(H) {
			top = float64(rng.IntN(H - int(ch) + 1))
			left = float64(rng.IntN(W - int(cw) + 1))
			return top, left, ch, cw
		}
	}
	h, w = float64(H), float64(W)
	if ratio := w / h; ratio < r.Ratio[0] {
		h = math.Round(w / r.Ratio[0])
	} else if ratio > r.Ratio[1] {
		w = math.Round(h * r.Ratio[1])
	}
	return math.Floor((float64(H) - h) / 2), math.Floor((float64(W) - w) / 2), h, w
}

// Zoom crops a random square-proportioned window whose side is a fraction
// s of the image's, s drawn uniformly from Scale, anywhere inside the
// image, and resizes it back bilinearly: the affine zoom of
// ../shared/bench/torch_ssl_peer.py (F.affine_grid with scale s and a
// translation (1 − s)·U(−1, 1) in normalised coordinates, then
// F.grid_sample with align_corners=False and zeros outside). Unlike
// ResizedCrop the window's side, not its area, is uniform, and its
// position is continuous.
type Zoom struct{ Scale [2]float64 }

// Apply implements Transform.
func (z Zoom) Apply(rng *rand.Rand, m Image) Image {
	out := NewImage(m.C, m.H, m.W)
	z.ApplyInto(rng, out, m)
	return out
}

// ApplyInto implements Into. The zoom is separable: every output row
// reads the same two source rows and every output column the same two
// source columns, so the bilinear taps are computed once per row and
// column.
func (z Zoom) ApplyInto(rng *rand.Rand, dst, m Image) {
	s := z.Scale[0] + rng.Float64()*(z.Scale[1]-z.Scale[0])
	tx := (1 - s) * (2*rng.Float64() - 1)
	ty := (1 - s) * (2*rng.Float64() - 1)
	rows, cols := zoomTaps(m.H, s, ty), zoomTaps(m.W, s, tx)
	for c := range m.C {
		plane := m.Pix[c*m.H*m.W : (c+1)*m.H*m.W]
		out := dst.Pix[c*m.H*m.W : (c+1)*m.H*m.W]
		for y, ry := range rows {
			r0, r1 := plane[ry.i0*m.W:(ry.i0+1)*m.W], plane[ry.i1*m.W:(ry.i1+1)*m.W]
			o := out[y*m.W : (y+1)*m.W]
			for x, cx := range cols {
				top := r0[cx.i0]*cx.w0 + r0[cx.i1]*cx.w1
				bottom := r1[cx.i0]*cx.w0 + r1[cx.i1]*cx.w1
				o[x] = top*ry.w0 + bottom*ry.w1
			}
		}
	}
}

// tap is the linear interpolation between source pixels i0 and i1 along
// one axis: weight w0 on i0 and w1 on i1 (0 for a pixel outside the
// image, whose index is then clamped inside).
type tap struct {
	i0, i1 int
	w0, w1 float32
}

// zoomTaps returns the taps of the n output pixels of one axis of a zoom
// by s translated by t (normalised coordinates, align_corners=False):
// output pixel p reads the source position ((s·((2p+1)/n − 1) + t + 1)·n −
// 1)/2, with zeros outside the image.
func zoomTaps(n int, s, t float64) []tap {
	taps := make([]tap, n)
	for p := range taps {
		xn := s*((2*float64(p)+1)/float64(n)-1) + t
		pos := ((xn+1)*float64(n) - 1) / 2
		f := math.Floor(pos)
		i := int(f)
		frac := float32(pos - f)
		tp := tap{i0: i, i1: i + 1, w0: 1 - frac, w1: frac}
		if tp.i0 < 0 || tp.i0 >= n {
			tp.i0, tp.w0 = clampInt(tp.i0, 0, n-1), 0
		}
		if tp.i1 < 0 || tp.i1 >= n {
			tp.i1, tp.w1 = clampInt(tp.i1, 0, n-1), 0
		}
		taps[p] = tp
	}
	return taps
}

// Intensity multiplies every pixel by one factor drawn uniformly from
// Range, without clamping: the contrast jitter of
// ../shared/bench/torch_ssl_peer.py (Jitter clamps to [0, 1] instead).
type Intensity struct{ Range [2]float64 }

// Apply implements Transform.
func (t Intensity) Apply(rng *rand.Rand, m Image) Image {
	out := m.Clone()
	t.ApplyInPlace(rng, out)
	return out
}

// ApplyInPlace implements InPlace.
func (t Intensity) ApplyInPlace(rng *rand.Rand, m Image) {
	f := float32(t.Range[0] + rng.Float64()*(t.Range[1]-t.Range[0]))
	for i, v := range m.Pix {
		m.Pix[i] = v * f
	}
}

// Rotate turns the image about its centre by an angle drawn uniformly from
// [-Degrees, Degrees], bilinearly, filling with zeros.
type Rotate struct{ Degrees float64 }

// Apply implements Transform.
func (r Rotate) Apply(rng *rand.Rand, m Image) Image {
	return rotate(m, (2*rng.Float64()-1)*r.Degrees)
}

// rotate turns m by deg degrees counter-clockwise.
func rotate(m Image, deg float64) Image {
	sin, cos := math.Sincos(deg * math.Pi / 180)
	cy, cx := float64(m.H-1)/2, float64(m.W-1)/2
	out := NewImage(m.C, m.H, m.W)
	for y := range m.H {
		for x := range m.W {
			// The source of (y, x) is it turned back by deg.
			dy, dx := float64(y)-cy, float64(x)-cx
			sx := cos*dx - sin*dy + cx
			sy := sin*dx + cos*dy + cy
			for c := range m.C {
				out.Pix[(c*m.H+y)*m.W+x] = m.bilinear(c, sy, sx)
			}
		}
	}
	return out
}

// Jitter scales brightness by a factor drawn from [1-Brightness,
// 1+Brightness] and then contrast (about the image's mean) by one from
// [1-Contrast, 1+Contrast], clamping to [0, 1], as torchvision's
// ColorJitter does for these two.
type Jitter struct{ Brightness, Contrast float64 }

// Apply implements Transform.
func (j Jitter) Apply(rng *rand.Rand, m Image) Image {
	b := 1 + (2*rng.Float64()-1)*j.Brightness
	c := 1 + (2*rng.Float64()-1)*j.Contrast
	out := m.Clone()
	for i, v := range out.Pix {
		out.Pix[i] = clamp32(v*float32(b), 0, 1)
	}
	var mean float64
	for _, v := range out.Pix {
		mean += float64(v)
	}
	mean /= float64(len(out.Pix))
	for i, v := range out.Pix {
		out.Pix[i] = clamp32(float32((float64(v)-mean)*c+mean), 0, 1)
	}
	return out
}

// Noise adds independent gaussian noise of standard deviation Std to every
// pixel (unclamped).
type Noise struct{ Std float64 }

// Apply implements Transform.
func (n Noise) Apply(rng *rand.Rand, m Image) Image {
	out := m.Clone()
	n.ApplyInPlace(rng, out)
	return out
}

// ApplyInPlace implements InPlace.
func (n Noise) ApplyInPlace(rng *rand.Rand, m Image) {
	for i := range m.Pix {
		m.Pix[i] += float32(rng.NormFloat64() * n.Std)
	}
}

// Blur convolves each channel with a gaussian of standard deviation drawn
// from [Sigma[0], Sigma[1]], truncated at 3 sigma (at least a 3x3 kernel),
// with the border pixels repeated.
type Blur struct{ Sigma [2]float64 }

// Apply implements Transform.
func (b Blur) Apply(rng *rand.Rand, m Image) Image {
	sigma := b.Sigma[0] + rng.Float64()*(b.Sigma[1]-b.Sigma[0])
	k := gaussianKernel(sigma)
	r := len(k) / 2
	tmp := NewImage(m.C, m.H, m.W)
	out := NewImage(m.C, m.H, m.W)
	for c := range m.C {
		for y := range m.H {
			for x := range m.W {
				var s float32
				for i, w := range k {
					s += w * m.Pix[(c*m.H+y)*m.W+clampInt(x+i-r, 0, m.W-1)]
				}
				tmp.Pix[(c*m.H+y)*m.W+x] = s
			}
		}
		for y := range m.H {
			for x := range m.W {
				var s float32
				for i, w := range k {
					s += w * tmp.Pix[(c*m.H+clampInt(y+i-r, 0, m.H-1))*m.W+x]
				}
				out.Pix[(c*m.H+y)*m.W+x] = s
			}
		}
	}
	return out
}

// gaussianKernel returns a normalised 1-D gaussian of radius ceil(3 sigma)
// (at least 1).
func gaussianKernel(sigma float64) []float32 {
	r := max(1, int(math.Ceil(3*sigma)))
	k := make([]float32, 2*r+1)
	var sum float64
	w := make([]float64, len(k))
	for i := range w {
		d := float64(i - r)
		w[i] = math.Exp(-d * d / (2 * sigma * sigma))
		sum += w[i]
	}
	for i := range k {
		k[i] = float32(w[i] / sum)
	}
	return k
}

// Cutout sets a Size x Size square (clipped at the borders) centred at a
// random pixel to zero.
type Cutout struct{ Size int }

// Apply implements Transform.
func (c Cutout) Apply(rng *rand.Rand, m Image) Image {
	out := m.Clone()
	cy, cx := rng.IntN(m.H), rng.IntN(m.W)
	y0, x0 := cy-c.Size/2, cx-c.Size/2
	for ch := range m.C {
		for y := max(0, y0); y < min(m.H, y0+c.Size); y++ {
			for x := max(0, x0); x < min(m.W, x0+c.Size); x++ {
				out.Pix[(ch*m.H+y)*m.W+x] = 0
			}
		}
	}
	return out
}

// Validate checks an image's shape against its pixels.
func (m Image) Validate() error {
	if m.C < 1 || m.H < 1 || m.W < 1 || len(m.Pix) != m.C*m.H*m.W {
		return fmt.Errorf("augment: image of %dx%dx%d with %d pixels", m.C, m.H, m.W, len(m.Pix))
	}
	return nil
}

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }

func clamp32(x, lo, hi float32) float32 { return max(lo, min(hi, x)) }

func clampInt(x, lo, hi int) int { return max(lo, min(hi, x)) }
