//go:build !cgo

package backend

// apply runs the Adam update (applyGo) in a build without cgo.
func (k adamKernel) apply(w, g, m, v []float32) { k.applyGo(w, g, m, v) }
