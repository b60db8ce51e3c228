// Package stages declares the stages of the standard library that do the
// work of a pipeline: train, evaluate and report.
package stages

import "github.com/mlpipe/mlpipe/interp"

// Register adds the stages to r.
func Register(r *interp.Registry) {
	interp.Register(r, trainDef)
	interp.Register(r, evaluateDef)
	interp.Register(r, reportDef)
}
