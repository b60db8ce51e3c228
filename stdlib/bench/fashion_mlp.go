package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// fashionPipeline is the pipeline fashion_mlp_5ep runs, relative to the
// repository.
const fashionPipeline = "pipelines/fashion_mlp.mlp"

// fashionMLP5ep is the Fashion-MNIST baseline pipeline run end to end,
// against the first measurement of the PyTorch peer.
func fashionMLP5ep() Workload {
	return Workload{
		Name: "fashion_mlp_5ep",
		Doc: "pipelines/fashion_mlp.mlp end to end through the interpreter (MLP 784-256-10, Adam 1e-3, " +
			"batch 128, 5 epochs on the 60,000 Fashion-MNIST training images, then test accuracy on " +
			"10,000), against the same training in PyTorch. Compared: the training time (report.json's " +
			"training.seconds; the twin times its training loop the same way); also shown: test accuracy " +
			"and the whole process's wall time.",
		Kind:  EndToEnd,
		Run:   runFashionMLP,
		Twin:  "fashion_mlp.py",
		Needs: []Need{FashionMNIST, pipelineNeed(fashionPipeline)},
		Show: []Figure{
			{Key: "test_acc", Label: "test acc", Format: "%.4f"},
			{Key: "process_seconds", Label: "whole run s", Format: "%.1f"},
		},
	}
}

func runFashionMLP(ctx context.Context, opts Options) (Result, error) {
	if opts.RunPipeline == nil {
		return Result{}, errors.New("fashion_mlp_5ep: no pipeline runner (Options.RunPipeline)")
	}
	out, err := os.MkdirTemp("", "mlpipe-bench-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(out)
	var sets []string
	if opts.Tiny {
		sets = []string{"limit=500", "epochs=1"}
	}
	start := time.Now()
	if err := opts.RunPipeline(ctx, filepath.Join(opts.Root, fashionPipeline), sets, out); err != nil {
		return Result{}, err
	}
	wall := time.Since(start)
	data, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		return Result{}, err
	}
	var report struct {
		Metrics  map[string]float64 `json:"metrics"`
		Training *struct {
			Seconds float64 `json:"seconds"`
			Steps   int     `json:"steps"`
		} `json:"training"`
	}
	if err := json.Unmarshal(data, &report); err != nil {
		return Result{}, fmt.Errorf("report.json: %w", err)
	}
	acc, ok := report.Metrics["accuracy"]
	if report.Training == nil || report.Training.Steps == 0 || !ok {
		return Result{}, errors.New("report.json lacks the training time, its steps or the accuracy")
	}
	t := report.Training
	return Result{
		MsPerStep: t.Seconds * 1e3 / float64(t.Steps),
		Steps:     t.Steps,
		Seconds:   t.Seconds,
		Extra:     map[string]float64{"test_acc": acc, "pipeline_seconds": wall.Seconds()},
	}, nil
}
