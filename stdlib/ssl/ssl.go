// Package ssl computes the non-contrastive self-supervised losses of
// Barlow Twins and VICReg over two or more views of a batch, with the
// choices of the reference implementations made explicit (see
// ../shared/spec/ssl.md): the official two-view losses of
// facebookresearch/barlowtwins and facebookresearch/vicreg, the multi-view
// losses of kumarkrishna/fastssl used by "Harnessing small projectors and
// multiple views", and the pairwise multi-view losses of the PyTorch peer
// recipe ../shared/bench/torch_ssl_peer.py. It is plain float64 numerics
// on gonum matrices (one row per sample, one column per feature), the
// reference against which the training engine's versions (stdlib/backend's
// SSLLoss) are tested.
package ssl

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Normalization says how Barlow Twins standardises the embeddings before
// the cross-correlation.
type Normalization string

const (
	// Joint standardises every feature over the rows of all views
	// together, with the unbiased standard deviation plus Eps, as fastssl
	// does with Eps 0 (and so the multi-view paper).
	Joint Normalization = "joint"
	// PerBranch standardises each view on its own, with the biased
	// variance plus Eps under the square root, as the official Barlow
	// Twins' BatchNorm1d does (Eps 1e-5).
	PerBranch Normalization = "per-branch"
	// Std standardises each view on its own, dividing by the unbiased
	// standard deviation plus Eps, as torch_ssl_peer.py's std() does
	// (Eps 1e-6).
	Std Normalization = "std"
)

// MultiView says how a loss combines more than two views.
type MultiView string

const (
	// MeanView is fastssl's loss against the mean view (the zero value ""
	// means MeanView too, as before the other mode existed).
	MeanView MultiView = "mean"
	// Pairs averages a two-view loss over all pairs of views, as
	// torch_ssl_peer.py does.
	Pairs MultiView = "pairs"
)

// BarlowTwins are the settings of the Barlow Twins loss.
type BarlowTwins struct {
	// Lambda weighs the off-diagonal (redundancy reduction) term; the
	// official default is 0.0051, fastssl's 1/D.
	Lambda float64
	// Norm is the standardisation, with Eps (official PerBranch 1e-5,
	// peer Std 1e-6, fastssl Joint 0).
	Norm Normalization
	Eps  float64
	// MultiView combines more than two views: MeanView (or "") is
	// fastssl's, Pairs the mean of the two-view loss over all pairs.
	MultiView MultiView
}

// Loss returns the Barlow Twins loss of the views (each B x D, the same
// shape, B >= 2, at least two views).
//
// With two views it is Σ_d (1 - C_dd)² + λ Σ_{i≠j} C_ij² with
// C = ẑ₀ᵀẑ₁ / B for the standardised views ẑ. With A > 2 views it is
// fastssl's "multipatch v3": with z̄ the mean of the A standardised views,
// (1/A) Σ_a Σ_d ((ẑ_aᵀz̄)_dd / B - 1)² + λ Σ_{i≠j} (z̄ᵀz̄ / B)_ij². (The two
// definitions differ: v3 at A = 2 is not the two-view loss.) With
// MultiView Pairs it is the mean of the two-view loss over all pairs of
// views a < b, as torch_ssl_peer.py's bt().
func (bt BarlowTwins) Loss(views []*mat.Dense) (float64, error) {
	b, d, err := checkViews(views)
	if err != nil {
		return 0, err
	}
	if bt.MultiView != "" && bt.MultiView != MeanView && bt.MultiView != Pairs {
		return 0, fmt.Errorf("ssl: unknown multi-view mode %q (want %q or %q)", bt.MultiView, MeanView, Pairs)
	}
	var std []*mat.Dense
	switch bt.Norm {
	case Joint:
		std, err = standardiseJoint(views, bt.Eps)
	case PerBranch, Std:
		std = make([]*mat.Dense, len(views))
		for i, v := range views {
			if bt.Norm == PerBranch {
				std[i], err = standardiseBiased(v, bt.Eps)
			} else {
				std[i], err = standardiseUnbiased(v, bt.Eps)
			}
			if err != nil {
				break
			}
		}
	default:
		return 0, fmt.Errorf("ssl: unknown normalisation %q (want %q, %q or %q)", bt.Norm, Joint, PerBranch, Std)
	}
	if err != nil {
		return 0, err
	}
	// pairLoss is the two-view loss of standardised views x and y.
	pairLoss := func(x, y *mat.Dense) float64 {
		var c mat.Dense
		c.Mul(x.T(), y)
		c.Scale(1/float64(b), &c)
		on, off := diagOff(&c, d)
		return on + bt.Lambda*off
	}
	if bt.MultiView == Pairs {
		var total float64
		var pairs int
		for i := range std {
			for j := i + 1; j < len(std); j++ {
				total += pairLoss(std[i], std[j])
				pairs++
			}
		}
		return total / float64(pairs), nil
	}
	if len(views) == 2 {
		return pairLoss(std[0], std[1]), nil
	}
	mean := meanOf(std)
	var on float64
	for _, z := range std {
		for j := range d {
			var s float64
			for i := range b {
				s += z.At(i, j) * mean.At(i, j)
			}
			on += sq(s/float64(b) - 1)
		}
	}
	var auto mat.Dense
	auto.Mul(mean.T(), mean)
	auto.Scale(1/float64(b), &auto)
	_, off := diagOff(&auto, d)
	return on/float64(len(views)) + bt.Lambda*off, nil
}

// VICReg are the settings of the VICReg loss.
type VICReg struct {
	// Sim, Std and Cov weigh the invariance, variance and covariance
	// terms (defaults 25, 25, 1).
	Sim, Std, Cov float64
	// Eps is added to the variance under the square root of the variance
	// term: the official 1e-4; fastssl uses none (0), whose gradient is
	// infinite for a collapsed feature.
	Eps float64
	// Gamma is the target standard deviation of the variance hinge,
	// relu(Gamma - sqrt(var + Eps)); 0 means 1, the official value.
	Gamma float64
	// MultiView combines the views: MeanView (or "") is the official
	// two-view loss and fastssl's for more views, Pairs is
	// torch_ssl_peer.py's.
	MultiView MultiView
}

// Loss returns the VICReg loss of the views (each B x D, B >= 2). With two
// views it is the official loss: Sim·mse(z₀, z₁) + Std·(v(z₀) + v(z₁))/2 +
// Cov·(c(z₀) + c(z₁)), where v(z) = mean_d relu(1 - sqrt(var_d(z) + Eps))
// (unbiased variance) and c(z) = Σ_{i≠j} cov(z)_ij² / D. With A > 2 views
// it is fastssl's: the same terms for each view i against the mean of the
// other views, summed over i and divided by A. (The 1 in v is Gamma.)
//
// With MultiView Pairs it is torch_ssl_peer.py's vicreg():
// Sim·(mean over pairs a < b of mse(z_a, z_b)) + Std·(mean over views of
// v(z_a)) + Cov·(mean over views of c(z_a)); with two views, the official
// loss with Cov halved.
func (v VICReg) Loss(views []*mat.Dense) (float64, error) {
	_, _, err := checkViews(views)
	if err != nil {
		return 0, err
	}
	switch v.MultiView {
	case "", MeanView:
	case Pairs:
		return v.pairsLoss(views), nil
	default:
		return 0, fmt.Errorf("ssl: unknown multi-view mode %q (want %q or %q)", v.MultiView, MeanView, Pairs)
	}
	pairs := len(views)
	if pairs == 2 {
		pairs = 1 // view 1 against view 0 would count the same pair twice
	}
	var total float64
	for i := range pairs {
		others := make([]*mat.Dense, 0, len(views)-1)
		for a, z := range views {
			if a != i {
				others = append(others, z)
			}
		}
		z1, z2 := views[i], meanOf(others)
		repr := mse(z1, z2)
		std := (v.variance(z1) + v.variance(z2)) / 2
		cov := covariance(z1) + covariance(z2)
		total += v.Sim*repr + v.Std*std + v.Cov*cov
	}
	if len(views) > 2 {
		total /= float64(len(views))
	}
	return total, nil
}

// pairsLoss is the Pairs VICReg loss of checked views.
func (v VICReg) pairsLoss(views []*mat.Dense) float64 {
	var inv, std, cov float64
	var pairs int
	for i, x := range views {
		for _, y := range views[i+1:] {
			inv += mse(x, y)
			pairs++
		}
		std += v.variance(x)
		cov += covariance(x)
	}
	n := float64(len(views))
	return v.Sim*inv/float64(pairs) + v.Std*std/n + v.Cov*cov/n
}

// mse is the mean over all entries of (x - y)².
func mse(x, y *mat.Dense) float64 {
	b, d := x.Dims()
	var s float64
	for r := range b {
		for c := range d {
			s += sq(x.At(r, c) - y.At(r, c))
		}
	}
	return s / float64(b*d)
}

// variance is VICReg's variance hinge of z: mean_d relu(γ - sqrt(var + eps)).
func (v VICReg) variance(z *mat.Dense) float64 {
	b, d := z.Dims()
	gamma := v.Gamma
	if gamma == 0 {
		gamma = 1
	}
	var s float64
	for j := range d {
		_, variance := meanVar(z, j, b-1)
		s += math.Max(0, gamma-math.Sqrt(variance+v.Eps))
	}
	return s / float64(d)
}

// covariance is Σ_{i≠j} cov(z)_ij² / D with the unbiased covariance.
func covariance(z *mat.Dense) float64 {
	b, d := z.Dims()
	centred := mat.DenseCopyOf(z)
	for j := range d {
		m, _ := meanVar(z, j, b)
		for i := range b {
			centred.Set(i, j, z.At(i, j)-m)
		}
	}
	var c mat.Dense
	c.Mul(centred.T(), centred)
	c.Scale(1/float64(b-1), &c)
	_, off := diagOff(&c, d)
	return off / float64(d)
}

// checkViews checks that there are at least two views of one shape with at
// least two rows, and returns the shape.
func checkViews(views []*mat.Dense) (b, d int, err error) {
	if len(views) < 2 {
		return 0, 0, fmt.Errorf("ssl: %d views; the losses need at least 2", len(views))
	}
	b, d = views[0].Dims()
	if b < 2 || d < 1 {
		return 0, 0, fmt.Errorf("ssl: views of %d x %d; the losses need at least 2 samples and 1 feature", b, d)
	}
	for i, v := range views[1:] {
		if r, c := v.Dims(); r != b || c != d {
			return 0, 0, fmt.Errorf("ssl: view %d is %d x %d, view 0 is %d x %d", i+1, r, c, b, d)
		}
	}
	return b, d, nil
}

// ErrConstantFeature reports a feature with no variance across the rows it
// is standardised over, with Eps 0 (as fastssl's Joint standardisation has):
// its loss is 0/0.
var ErrConstantFeature = errors.New("ssl: a feature is constant across the batch, so it cannot be standardised without an epsilon")

// standardiseJoint standardises each feature over the rows of all views
// together: (z - mean) / (unbiased std + eps).
func standardiseJoint(views []*mat.Dense, eps float64) ([]*mat.Dense, error) {
	b, d := views[0].Dims()
	n := b * len(views)
	out := make([]*mat.Dense, len(views))
	for a, v := range views {
		out[a] = mat.DenseCopyOf(v)
	}
	for j := range d {
		var mean float64
		for _, v := range views {
			for i := range b {
				mean += v.At(i, j)
			}
		}
		mean /= float64(n)
		var ss float64
		for _, v := range views {
			for i := range b {
				ss += sq(v.At(i, j) - mean)
			}
		}
		std := math.Sqrt(ss/float64(n-1)) + eps
		if std == 0 {
			return nil, fmt.Errorf("%w (feature %d)", ErrConstantFeature, j)
		}
		for a, v := range views {
			for i := range b {
				out[a].Set(i, j, (v.At(i, j)-mean)/std)
			}
		}
	}
	return out, nil
}

// standardiseBiased standardises each feature of z over its rows with the
// biased variance plus eps, as BatchNorm1d(affine=False) in training does.
func standardiseBiased(z *mat.Dense, eps float64) (*mat.Dense, error) {
	b, d := z.Dims()
	out := mat.DenseCopyOf(z)
	for j := range d {
		m, variance := meanVar(z, j, b)
		s := math.Sqrt(variance + eps)
		if s == 0 {
			return nil, fmt.Errorf("%w (feature %d)", ErrConstantFeature, j)
		}
		for i := range b {
			out.Set(i, j, (z.At(i, j)-m)/s)
		}
	}
	return out, nil
}

// standardiseUnbiased standardises each feature of z over its rows as
// torch_ssl_peer.py's std(): (z - mean) / (unbiased std + eps).
func standardiseUnbiased(z *mat.Dense, eps float64) (*mat.Dense, error) {
	b, d := z.Dims()
	out := mat.DenseCopyOf(z)
	for j := range d {
		m, variance := meanVar(z, j, b-1)
		s := math.Sqrt(variance) + eps
		if s == 0 {
			return nil, fmt.Errorf("%w (feature %d)", ErrConstantFeature, j)
		}
		for i := range b {
			out.Set(i, j, (z.At(i, j)-m)/s)
		}
	}
	return out, nil
}

// meanVar returns the mean of column j of z and its sum of squared
// deviations divided by div.
func meanVar(z *mat.Dense, j, div int) (mean, variance float64) {
	b, _ := z.Dims()
	for i := range b {
		mean += z.At(i, j)
	}
	mean /= float64(b)
	for i := range b {
		variance += sq(z.At(i, j) - mean)
	}
	return mean, variance / float64(div)
}

// meanOf returns the element-wise mean of matrices of one shape.
func meanOf(ms []*mat.Dense) *mat.Dense {
	out := mat.DenseCopyOf(ms[0])
	for _, m := range ms[1:] {
		out.Add(out, m)
	}
	out.Scale(1/float64(len(ms)), out)
	return out
}

// diagOff returns Σ_i (C_ii - 1)² and Σ_{i≠j} C_ij² of a d x d matrix.
func diagOff(c *mat.Dense, d int) (on, off float64) {
	for i := range d {
		for j := range d {
			if i == j {
				on += sq(c.At(i, i) - 1)
			} else {
				off += sq(c.At(i, j))
			}
		}
	}
	return on, off
}

func sq(x float64) float64 { return x * x }
