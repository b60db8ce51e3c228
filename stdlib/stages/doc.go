// Package stages declares the stages of the standard library that do the
// work of a pipeline: train, evaluate and report, and the self-supervised
// pretrain, linear_probe and embedding_stats.
package stages

import "github.com/mlpipe/mlpipe/interp"

// Register adds the stages to r.
func Register(r *interp.Registry) {
	interp.Register(r, trainDef)
	interp.Register(r, evaluateDef)
	interp.Register(r, reportDef)
	interp.Register(r, pretrainDef)
	interp.Register(r, linearProbeDef)
	interp.Register(r, embeddingStatsDef)
	interp.Register(r, robustnessDef)
}
