//go:build !cgo

package backend

// apply runs the Adam update (applyGo) in a build without cgo.
func (k adamKernel) apply(w, g, m, v []float32) { k.applyGo(w, g, m, v) }

// plain runs the plain SGD update (plainGo) in a build without cgo.
func (k sgdKernel) plain(w, g []float32) { k.plainGo(w, g) }

// momentum runs the momentum SGD update (momentumGo) in a build without cgo.
func (k sgdKernel) momentum(w, g, b []float32, first bool) { k.momentumGo(w, g, b, first) }

// reluForward is reluForwardGo in a build without cgo.
func reluForward(dst, src []float32) { reluForwardGo(dst, src) }

// reluBackward is reluBackwardGo in a build without cgo.
func reluBackward(dst, y, g []float32) { reluBackwardGo(dst, y, g) }
