// Package certify computes global upper bounds on the Lipschitz constant
// of a backend.Model's logits and turns them into certified robustness
// radii.
//
// # Lipschitz bounds
//
// Bound returns an upper bound L on the l2→l2 Lipschitz constant of the
// map from a model's input to its logits (in eval mode, batch norms using
// their running statistics, as backend.Predict computes it):
//
//	‖f(a) − f(b)‖₂ ≤ L·‖a − b‖₂   for all inputs a and b.
//
// L is the product of one factor per layer, each an upper bound on that
// layer's own Lipschitz constant (biases do not count): the exact largest
// singular value of a linear layer's weight, the supremum of the slope of
// an activation, the largest per-channel scale of a batch norm, and proven
// bounds for convolutions and pooling (see Factor and the comments of
// convBound and poolBound for the derivations). The factors are reported
// too, so that one can see which layer dominates.
//
// The bound is global: it holds for every pair of inputs, not only near
// the data, so the radii derived from it are true certificates. This
// differs from the empirical Lipschitz estimate of the reference code of
// Finlay and Oberman, the maximum of the loss's input-gradient norm over
// a data set, which is only a lower bound on the true constant and so
// certifies nothing. The price is looseness: a product of per-layer
// bounds may be much larger than the true constant of a deep network.
//
// The bounds are of the network in exact real arithmetic with the model's
// float32 weights, computed in float64; the rounding errors of evaluating
// the network in float32 (relative size about 1e-7 per operation) are not
// accounted for.
//
// # Certified radii
//
// For a sample x with label y and logits f(x), every margin f_y − f_i
// (i ≠ y) is √2·L-Lipschitz, because |(e_y − e_i)ᵀ(f(a) − f(b))| ≤
// ‖e_y − e_i‖₂·‖f(a) − f(b)‖₂ = √2·‖f(a) − f(b)‖₂. So if the margin
// m = f_y − max_{i≠y} f_i is positive, no perturbation δ with
// ‖δ‖₂ < r = m/(√2·L) changes the predicted class: every margin stays
// above m − √2·L·‖δ‖₂ > 0. Margins computes m, Radii turns margins into
// radii in the l2, l∞ and l1 norms (r/√n for l∞ with n input values, since
// ‖δ‖₂ ≤ √n·‖δ‖∞, and r for l1, since ‖δ‖₂ ≤ ‖δ‖₁), and CertifiedAccuracy
// counts the samples certified at a budget. A Certifier (NewCertifier)
// does the same from logits in one norm, with the methods the robustness
// battery expects of its certifiers.
//
// # Spectral norms
//
// SpectralNorm returns the largest singular value σ of a weight matrix W
// with its singular vectors u and v; u·vᵀ is the gradient ∂σ/∂W (a
// subgradient if σ is repeated), what a Lipschitz-regularised trainer adds,
// scaled, to a weight's gradient.
//
// # Lipschitz regularisation
//
// LipschitzRegularizer is a backend.Regularizer that adds λ times the
// product bound (with the reshaped-weight bound for convolutions) to a
// trainer's loss, and its gradient to the weights' gradients, estimating
// each spectral norm by a few warm-started power iterations per step.
package certify
