// Package stdlib is mlpipe's standard library of components. Register adds
// all of them to a registry; the command line calls it once at start.
//
// Sub-packages: datasets (file loaders), backend (the only code that drives
// gorgonia), value (the run-time values), and one package per group of
// components: loaders, models, losses, optim, metrics, stages,
// transforms and attacks.
package stdlib

import (
	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/stdlib/attacks"
	"github.com/mlpipe/mlpipe/stdlib/loaders"
	"github.com/mlpipe/mlpipe/stdlib/losses"
	"github.com/mlpipe/mlpipe/stdlib/metrics"
	"github.com/mlpipe/mlpipe/stdlib/models"
	"github.com/mlpipe/mlpipe/stdlib/optim"
	"github.com/mlpipe/mlpipe/stdlib/stages"
	"github.com/mlpipe/mlpipe/stdlib/transforms"
	"github.com/mlpipe/mlpipe/stdlib/value"
)

// Register adds every standard component to r.
func Register(r *interp.Registry) {
	loaders.Register(r)
	models.Register(r)
	losses.Register(r)
	optim.Register(r)
	metrics.Register(r)
	stages.Register(r)
	transforms.Register(r)
	attacks.Register(r)
	value.RegisterCodecs(r)
}

// NewRegistry returns a registry holding every standard component.
func NewRegistry() *interp.Registry {
	r := interp.NewRegistry()
	Register(r)
	return r
}
