package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kballard/go-shellquote"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/interp/store"
)

// sweepSLURM submits the variants todo as one SLURM job array whose task K
// runs variant K, records the job in the store and, with o.wait, waits for
// the array's end and reports.
func (a *app) sweepSLURM(ctx context.Context, st *store.Store, plan *plannedSweep, todo []int, o *sweepOptions) error {
	recCtx := context.WithoutCancel(ctx)
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find the mlpipe executable: %w", err)
	}
	storeDir, err := filepath.Abs(o.storeDir)
	if err != nil {
		return err
	}
	script := filepath.Join(plan.record.OutDir, "sweep.sbatch")
	if err := interp.WriteFileAtomicPerm(script, []byte(a.batchScript(self, plan, storeDir)), 0o755); err != nil {
		fmt.Fprintf(a.stderr, "mlpipe: %v\n", err)
		return &exitError{exitRunFailed}
	}
	extra, err := shellquote.Split(o.sbatch)
	if err != nil {
		return fmt.Errorf("--sbatch %q: %w", o.sbatch, err)
	}
	array := arraySpec(todo)
	if o.jobs > 0 {
		array += "%" + strconv.Itoa(o.jobs)
	}
	args := append([]string{"--parsable", "--array=" + array, "--job-name=mlpipe-" + plan.record.ID,
		"--output=" + filepath.Join(plan.record.OutDir, "variant-%a.log")}, extra...)
	args = append(args, script)
	out, err := runSLURM(ctx, "sbatch", args...)
	if err != nil {
		fmt.Fprintf(a.stderr, "mlpipe: submitting the job array failed: %v\n", err)
		return &exitError{exitRunFailed}
	}
	job, _, _ := strings.Cut(strings.TrimSpace(out), ";") // --parsable: "JOB" or "JOB;CLUSTER"
	plan.record.Executor, plan.record.Job = executorSLURM, job
	if err := st.PutSweep(recCtx, plan.record); err != nil {
		fmt.Fprintf(a.stderr, "mlpipe: the array is submitted as job %s, but the store could not record it: %v\n", job, err)
		return &exitError{exitRunFailed}
	}
	fmt.Fprintf(a.stderr, "submitted job array %s (%d tasks, --array=%s); mlpipe runs --sweep %s shows the runs\n",
		job, len(todo), array, plan.record.ID)
	if !o.wait {
		return nil
	}
	if err := a.waitSLURM(ctx, st, plan, job, todo, o.poll); err != nil {
		return err
	}
	if err := a.sweepReport(recCtx, st, plan.record); err != nil {
		return err
	}
	progress, err := st.SweepProgress(recCtx, plan.record.ID, len(plan.variants))
	if err != nil {
		return err
	}
	var failed []int
	for _, k := range todo {
		if progress[k].Status != store.Done {
			failed = append(failed, k)
		}
	}
	if len(failed) > 0 {
		return a.reportFailed(plan, failed, plan.path)
	}
	return nil
}

// batchScript is the job array's script: task K runs variant K.
func (a *app) batchScript(self string, plan *plannedSweep, storeDir string) string {
	const task = "__TASK__"
	args := a.variantArgs(plan, 0, storeDir, a.backend.threads)
	for i := range args {
		if i > 0 && args[i-1] == "--variant" {
			args[i] = task
		}
		if i > 0 && args[i-1] == "--out" {
			args[i] = filepath.Join(plan.record.OutDir, "variant-"+task)
		}
	}
	cmd := shellquote.Join(append([]string{self}, args...)...)
	cmd = strings.ReplaceAll(cmd, task, `"$SLURM_ARRAY_TASK_ID"`)
	return fmt.Sprintf(`#!/bin/sh
# Written by mlpipe sweep for sweep %s of %s:
# array task K runs variant K of the sweep and records it in the store
# %s.
exec %s
`, plan.record.ID, plan.path, storeDir, cmd)
}

// arraySpec writes variant indices as a SLURM array: "0-5,7,9-11".
func arraySpec(ks []int) string {
	var parts []string
	for i := 0; i < len(ks); {
		j := i
		for j+1 < len(ks) && ks[j+1] == ks[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(ks[i]))
		} else {
			parts = append(parts, strconv.Itoa(ks[i])+"-"+strconv.Itoa(ks[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// waitSLURM polls SLURM until the job has no task left in its queue,
// showing the sweep's progress from the store.
func (a *app) waitSLURM(ctx context.Context, st *store.Store, plan *plannedSweep, job string, todo []int, poll time.Duration) error {
	progress := newProgressFunc(a.stderr)("sweep", int64(len(todo)), "run")
	defer progress.Finish()
	shown := 0
	for {
		queued, err := jobQueued(ctx, job)
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintf(a.stderr, "mlpipe: stopped waiting; job %s goes on: mlpipe runs --sweep %s shows it\n", job, plan.record.ID)
				return &exitError{exitInterrupted}
			}
			fmt.Fprintf(a.stderr, "mlpipe: %v\n", err)
			return &exitError{exitRunFailed}
		}
		states, err := st.SweepProgress(context.WithoutCancel(ctx), plan.record.ID, len(plan.variants))
		if err != nil {
			return err
		}
		ended, failed := 0, 0
		for _, k := range todo {
			switch states[k].Status {
			case store.Done:
				ended++
			case store.Failed, store.Interrupted:
				ended++
				failed++
			}
		}
		if ended > shown {
			progress.Add(int64(ended-shown), fmt.Sprintf("%d/%d runs, %d failed", ended, len(todo), failed))
			shown = ended
		}
		if !queued {
			return nil
		}
		select {
		case <-time.After(poll):
		case <-ctx.Done():
			fmt.Fprintf(a.stderr, "mlpipe: stopped waiting; job %s goes on: mlpipe runs --sweep %s shows it\n", job, plan.record.ID)
			return &exitError{exitInterrupted}
		}
	}
}

// jobQueued reports whether SLURM still lists any task of the job. A job
// that SLURM has forgotten ("Invalid job id") has ended.
func jobQueued(ctx context.Context, job string) (bool, error) {
	out, err := runSLURM(ctx, "squeue", "--noheader", "--jobs="+job, "--format=%i")
	if err != nil {
		if strings.Contains(err.Error(), "Invalid job id") {
			return false, nil
		}
		return false, err
	}
	return strings.TrimSpace(out) != "", nil
}

// runSLURM runs a SLURM client command and returns its standard output;
// its error carries the command's standard error.
func runSLURM(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if errors := strings.TrimSpace(stderr.String()); errors != "" {
			return "", fmt.Errorf("%s: %w: %s", name, err, errors)
		}
		if _, lookErr := exec.LookPath(name); lookErr != nil {
			return "", fmt.Errorf("%s is not installed (SLURM's client commands are needed for --executor slurm): %w", name, lookErr)
		}
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return stdout.String(), nil
}
